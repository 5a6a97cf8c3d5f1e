"""What the caller types -> Endpoints (trace/resolve.py): ports by id, name, instance or device name, fixed and
floating IPs, the outside; clear errors for what is unknown or ambiguous."""

from __future__ import annotations

from dataclasses import replace

import pytest

from neutrino.model.resources import Network, Subnet
from neutrino.trace.errors import EndpointAmbiguous, EndpointNotFound, ProbeInvalid
from neutrino.trace.packet import Endpoint, EndpointKind, Protocol
from neutrino.trace.resolve import resolve_endpoint, resolve_probe
from tests.unit.trace.topology import APP, C2, SUBNETS, WEB1, WEB2, cloud, instance, with_ports

PORT, FIP, OUTSIDE = EndpointKind.PORT, EndpointKind.FLOATING_IP, EndpointKind.OUTSIDE


@pytest.mark.parametrize(("text", "expected"), [
    ("web1-port", Endpoint(PORT, "10.0.0.5", "web1-port", given="web1-port")),  # id
    ("web1", Endpoint(PORT, "10.0.0.5", "web1-port", given="web1")),  # name
    ("tapweb1-port", Endpoint(PORT, "10.0.0.5", "web1-port", given="tapweb1-port")),  # its device
    ("inst-web1-por", Endpoint(PORT, "10.0.0.5", "web1-port", given="inst-web1-por")),  # plug's namespace
    ("10.0.0.5", Endpoint(PORT, "10.0.0.5", "web1-port", given="10.0.0.5")),  # fixed IP
    ("10.0.0.5@app", Endpoint(PORT, "10.0.0.5", "web1-port", given="10.0.0.5@app")),
    ("203.0.113.10", Endpoint(FIP, "203.0.113.10", "web1-port", "fip-1", given="203.0.113.10")),
    ("203.0.113.11", Endpoint(FIP, "203.0.113.11", None, "fip-2", given="203.0.113.11")),
    ("198.51.100.7", Endpoint(OUTSIDE, "198.51.100.7", given="198.51.100.7")),
])
def test_endpoints_by_every_name(text, expected):
    assert resolve_endpoint(cloud(), text) == expected


def test_an_instance_by_the_device_id_plug_or_nova_gave_its_port():
    state = with_ports(cloud(), replace(WEB2, device_id="inst-demo-7"))
    assert resolve_endpoint(state, "inst-demo-7").port_id == WEB2.id


def test_unknown_and_shared_names_are_errors_that_say_so():
    with pytest.raises(EndpointNotFound, match="no port id or name"):
        resolve_endpoint(cloud(), "nosuch")
    twin = replace(WEB2, id="web2-twin", name="web1")
    with pytest.raises(EndpointAmbiguous) as error:
        resolve_endpoint(with_ports(cloud(), twin), "web1")
    assert len(error.value.candidates) == 2


def overlapping():
    other = Network("net-other", name="other", network_type="vlan", physical_network="physnet1", segmentation_id=300)
    twin = instance("twin-port", other, "sub-other", "10.0.0.5", C2)
    state = cloud(networks=(*cloud().networks.values(), other), subnets=(*SUBNETS, Subnet("sub-other", other.id,
                                                                                          "10.0.0.0/24")))
    return with_ports(state, twin)


def test_an_overlapping_address_is_taken_as_the_source_sees_it_else_refused():
    state = overlapping()
    seen_from_app = resolve_endpoint(state, "10.0.0.5", resolve_endpoint(state, "web2"))
    assert seen_from_app.port_id == WEB1.id
    with pytest.raises(EndpointAmbiguous, match="overlapping addresses") as error:
        resolve_endpoint(state, "10.0.0.5")
    assert {c.split()[1] for c in error.value.candidates} == {"twin-port", "web1-port"}
    assert resolve_endpoint(state, "10.0.0.5@other").port_id == "twin-port"


def test_probes_check_protocol_port_and_ends():
    state = cloud()
    probe = resolve_probe(state, "web2", "web1", "tcp", 22)
    assert (probe.protocol, probe.port, probe.packet().text()) == (Protocol.TCP, 22, "tcp 10.0.0.6 > 10.0.0.5:22")
    for arguments, message in [(("web2", "web1", "tcp"), "needs a destination port"),
                               (("web2", "web1", "icmp", 22), "icmp has no port"),
                               (("web2", "web1", "sctp"), "protocol must be one of"),
                               (("198.51.100.7", "192.0.2.9"), "neither"),
                               (("203.0.113.11", "web1"), "associated with no port")]:
        with pytest.raises(ProbeInvalid, match=message):
            resolve_probe(state, *arguments)
    with pytest.raises(EndpointNotFound, match="no port holds 10.0.0.99"):
        resolve_probe(state, "10.0.0.99", "web1")


def test_a_port_named_sends_from_its_address_of_the_other_ends_version():
    web1 = replace(WEB1, fixed_ips=(*WEB1.fixed_ips, replace(WEB1.fixed_ips[0], ip_address="2001:db8::5")))
    probe = resolve_probe(with_ports(cloud(), web1), "web1", "2001:db8::99")
    assert probe.source.address == "2001:db8::5"
    assert APP.id == web1.network_id
