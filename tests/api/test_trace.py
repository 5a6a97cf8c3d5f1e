"""POST /neutrino/v1/trace: the server traces over its current state and its agents' reported configurations.
The memo's case end to end through the API: a floating IP to an instance whose group admits no ICMP, then the
rule the answer suggests, then delivered with that rule's id."""

from __future__ import annotations

import pytest

from neutrino.model.host_config import configurations_for
from tests.api.cloud import module_cloud
from tests.api.expect import error, ok
from tests.api.l3 import L3_AGENT, external_network, heartbeat, private_subnet, router_on
from tests.unit.seed import SEED

cloud, admin, demo, other = module_cloud("trace", with_other=False)
HOST = SEED.host


@pytest.fixture(scope="module")
def instance(admin, demo) -> dict:
    """demo's instance web1 on compute1, in group web (Neutron's default egress rules only), with a floating IP
    through router r1."""
    heartbeat(admin, HOST, configurations={**configurations_for(SEED), "tunnel_types": []})
    heartbeat(admin, HOST, L3_AGENT, {"agent_mode": "legacy"})
    public, _ = external_network(admin, "203.0.113.0/24", gateway_ip="203.0.113.1")
    subnet = private_subnet(demo, "10.20.0.0/24", name="app")
    router_on(demo, public, subnet, name="r1")
    web = demo.create("security-groups", "security_group", name="web-trace")
    port = demo.create("ports", "port", network_id=subnet["network_id"], name="web1",
                       security_groups=[web["id"]])
    ok(admin.put(f"/v2.0/ports/{port['id']}", json={"port": {"binding:host_id": HOST}}))
    ok(admin.put(f"/neutrino/v1/hosts/{HOST}/ports/status", json={"ports": {port["id"]: "ACTIVE"}}))
    fip = demo.create("floatingips", "floatingip", floating_network_id=public["id"], port_id=port["id"])
    return {"port": port, "group": web, "fip": fip}


def traced(api, status: int = 200, **asked):
    return api.post("/neutrino/v1/trace", json={"trace": asked}), status


def test_the_memos_floating_ip_is_dropped_by_the_group_then_delivered_by_the_rule_it_suggests(admin, demo, instance):
    address = instance["fip"]["floating_ip_address"]
    answer = ok(admin.post("/neutrino/v1/trace", json={"trace": {"source": "198.51.100.7",
                                                                  "destination": address}}))["trace"]
    assert answer["schema"] == "neutrino.trace/1"
    verdict = answer["verdict"]
    assert verdict["reason"] == "dropped-by-security-group"
    assert verdict["objects"][0] == {"type": "security_group", "id": instance["group"]["id"], "name": "web-trace",
                                     "project_id": demo.project_id}
    assert verdict["fixes"] == ["openstack security group rule create --ingress --protocol icmp "
                                "--remote-ip 198.51.100.7/32 web-trace"]
    assert [h["stage"] for h in answer["hops"] if h["element"] == "namespace"][:2] == ["in", "nat prerouting"]
    rule = demo.create("security-group-rules", "security_group_rule", security_group_id=instance["group"]["id"],
                       direction="ingress", protocol="icmp", remote_ip_prefix="198.51.100.7/32")
    answer = ok(admin.post("/neutrino/v1/trace", json={"trace": {"source": "198.51.100.7",
                                                                  "destination": "web1"}}))["trace"]
    assert answer["verdict"]["reason"] == "delivered"
    assert [(a["direction"], a["rule_id"]) for a in answer["verdict"]["admitted"]] == [("ingress", rule["id"])]
    assert answer["reply"][-1]["element"] == "outside"


def test_tracing_is_for_admins(demo, instance):
    error(demo.post("/neutrino/v1/trace", json={"trace": {"source": "web1", "destination": "198.51.100.7"}}),
          403, "PolicyNotAuthorized")


@pytest.mark.parametrize(("asked", "status", "kind"), [
    ({"source": "nosuch", "destination": "web1"}, 404, "TraceEndpointNotFound"),
    ({"source": "web1", "destination": "198.51.100.7", "protocol": "tcp"}, 400, "TraceProbeInvalid"),
    ({"source": "web1"}, 400, "HTTPBadRequest"),
    ({"source": "web1", "destination": "198.51.100.7", "port": "22"}, 400, "HTTPBadRequest"),
    ({"source": "web1", "destination": "198.51.100.7", "colour": "red"}, 400, "HTTPBadRequest"),
])
def test_bad_probes_are_refused_with_neutron_error_bodies(admin, instance, asked, status, kind):
    error(admin.post("/neutrino/v1/trace", json={"trace": asked}), status, kind)
