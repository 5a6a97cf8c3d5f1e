"""L2 on one host, on real OVS: bridges and patch links, the translation flows Neutron installs,
binding and the dead VLAN, drift repair and cleanup."""

from __future__ import annotations

import uuid

from neutrino.model.names import tap_name
from tests.host.simhost import eventually

COOKIE = "0x6e657574"
DEAD_VLAN = 4095


def test_bridges_and_patches(make_host, cloud):
    host = make_host()
    network = cloud.create_network("bridges")
    provider = network["provider:segmentation_id"]
    port = cloud.create_port(network, "10.9.0.5")
    host.plug(port["id"], "vm1")
    local = host.tag(tap_name(port["id"]))
    assert local is not None and 1 <= local <= 4094

    show = host.show()
    for name in ("br-int", "br-phys"):
        assert (show[name]["fail_mode"], show[name]["datapath_type"]) == ("secure", "netdev")
    assert show["br-int"]["ports"]["int-br-phys"]["interfaces"] == {
        "int-br-phys": {"type": "patch", "options": "{peer=phy-br-phys}"}}
    assert show["br-phys"]["ports"]["phy-br-phys"]["interfaces"] == {
        "phy-br-phys": {"type": "patch", "options": "{peer=int-br-phys}"}}
    assert show["br-phys"]["ports"]["eth1"]["interfaces"] == {"eth1": {}}
    assert show["br-int"]["ports"][tap_name(port["id"])]["tag"] == str(local)

    int_flows, phys_flows = host.flows("br-int"), host.flows("br-phys")
    assert _one(int_flows, f"priority=3,in_port=int-br-phys,dl_vlan={provider} ").endswith(
        f"actions=mod_vlan_vid:{local},resubmit(,60)")
    assert _one(int_flows, "priority=2,in_port=int-br-phys ").endswith("actions=drop")
    assert _one(int_flows, f"priority=65535,dl_vlan={DEAD_VLAN} ").endswith("actions=drop")
    assert _one(phys_flows, f"priority=4,in_port=phy-br-phys,dl_vlan={local} ").endswith(
        f"actions=mod_vlan_vid:{provider},NORMAL")
    assert _one(phys_flows, "priority=2,in_port=phy-br-phys ").endswith("actions=drop")
    assert all(f"cookie={COOKIE}," in flow for flow in int_flows + phys_flows)

    agents = {a["agent_type"]: a for a in cloud.agents(host.name)}
    assert set(agents) == {"Open vSwitch agent", "L3 agent", "DHCP agent"}
    agent = agents["Open vSwitch agent"]
    assert agent["alive"] is True
    assert agent["configurations"]["bridge_mappings"] == {"physnet1": "br-phys"}


def test_seed_layout_has_bond_and_access_patch(make_host):
    """The seed's node: physnet1 on br-bond0 whose uplink is bond0 of two NICs, and br-ex patched
    into br-bond0 as an access port on VLAN 201."""
    host = make_host("""\
[host]
bridge_mappings = { physnet1 = "br-bond0" }
extra_bridges = ["br-ex"]

[host.bridges.br-bond0]
uplinks = ["eth1", "eth2"]
bond = "bond0"

[[host.patch_links]]
bridge = "br-ex"
port = "patch-bond0"
peer_bridge = "br-bond0"
peer_port = "patch-ex"
peer_tag = 201
""", uplinks=("eth1", "eth2"), attach=False)
    show = host.show()
    assert set(show) == {"br-int", "br-bond0", "br-ex"}
    bond_bridge = show["br-bond0"]["ports"]
    assert set(bond_bridge) == {"br-bond0", "bond0", "patch-ex", "phy-br-bond0"}
    assert set(bond_bridge["bond0"]["interfaces"]) == {"eth1", "eth2"}
    assert bond_bridge["patch-ex"]["tag"] == "201"
    assert bond_bridge["patch-ex"]["interfaces"] == {"patch-ex": {"type": "patch", "options": "{peer=patch-bond0}"}}
    assert "tag" not in show["br-ex"]["ports"]["patch-bond0"]
    assert show["br-ex"]["ports"]["patch-bond0"]["interfaces"] == {
        "patch-bond0": {"type": "patch", "options": "{peer=patch-ex}"}}
    assert set(show["br-int"]["ports"]) == {"br-int", "int-br-bond0"}
    assert host.vsctl("get", "Port", "bond0", "bond_mode") == "balance-slb"
    assert _one(host.flows("br-bond0"), "priority=2,in_port=phy-br-bond0 ").endswith("actions=drop")
    assert _one(host.flows("br-ex"), "priority=0 ").endswith("actions=NORMAL")


def test_port_binding(make_host, cloud):
    host = make_host()
    network = cloud.create_network("binding")
    port = cloud.create_port(network, "10.9.0.5")
    device = tap_name(port["id"])
    host.plug(port["id"], "vm1")  # returns once the API says ACTIVE
    bound = cloud.port(port["id"])
    assert (bound["status"], bound["binding:vif_type"], bound["binding:host_id"]) == ("ACTIVE", "ovs", host.name)
    assert bound["binding:vif_details"]["bridge_name"] == "br-int"
    local = host.tag(device)
    assert 1 <= local <= 4094
    assert host.vsctl("get", "Port", device, "other_config:net_uuid").strip('"') == network["id"]
    assert host.vsctl("get", "Port", device, "vlan_mode") == "[]"

    host.neutrino("unplug", "vm1")
    eventually(lambda: cloud.status_is(port["id"], "DOWN"), what="unplugged port DOWN")

    unmapped = cloud.create_network("binding-physnet2", physnet="physnet2")
    elsewhere = cloud.create_port(network, "10.9.0.6", host="elsewhere")
    on_physnet2 = cloud.create_port(unmapped, "10.9.0.7")
    disabled = cloud.create_port(network, "10.9.0.8", admin_state_up=False)
    # Plugged by hand, as a hypervisor would: an iface-id the API does not know, and a port the API
    # binds to another host.
    for name, iface_id in (("stray", str(uuid.uuid4())), (tap_name(elsewhere["id"]), elsewhere["id"])):
        host.vsctl("add-port", "br-int", name, "--", "set", "Interface", name, "type=internal",
                   f"external_ids:iface-id={iface_id}", "external_ids:iface-status=active")
    host.plug(on_physnet2["id"], "vm2", wait=False)
    host.plug(disabled["id"], "vm3", wait=False)
    reasons = {
        "stray": "unknown iface-id",
        tap_name(elsewhere["id"]): "bound to host 'elsewhere'",
        tap_name(on_physnet2["id"]): "physnet 'physnet2', which has no bridge mapping",
        tap_name(disabled["id"]): "admin_state_up false",
    }
    eventually(lambda: all(host.tag(name) == DEAD_VLAN for name in reasons), what="parked on the dead VLAN")
    host.wait_for_pass()
    flows = host.flows("br-int")
    for name, reason in reasons.items():
        assert (host.vsctl("get", "Port", name, "vlan_mode"), host.vsctl("get", "Port", name, "trunks")) == \
            ("trunk", f"[{DEAD_VLAN}]")
        assert reason in host.vsctl("get", "Port", name, "other_config:neutrino-dead-reason")
        assert _one(flows, f"priority=2,in_port={name} ").endswith("actions=drop")
    for parked in (elsewhere, on_physnet2, disabled):
        assert cloud.port(parked["id"])["status"] == "DOWN"

    cloud.update_port(disabled["id"], admin_state_up=True)
    eventually(lambda: cloud.status_is(disabled["id"], "ACTIVE"), what="enabled port ACTIVE")
    device = tap_name(disabled["id"])
    assert 1 <= host.tag(device) <= 4094
    assert host.vsctl("get", "Port", device, "vlan_mode") == "[]"
    assert "neutrino-dead-reason" not in host.vsctl("get", "Port", device, "other_config")
    assert not [flow for flow in host.flows("br-int") if f"priority=2,in_port={device} " in flow]


def test_drift_is_repaired(make_host, cloud):
    host = make_host()
    network = cloud.create_network("drift")
    port = cloud.create_port(network, "10.9.0.5")
    host.plug(port["id"], "vm1")
    device = tap_name(port["id"])
    local = host.tag(device)
    translation = f"priority=4,in_port=phy-br-phys,dl_vlan={local}"
    _one(host.flows("br-phys"), translation + " ")
    host.vsctl("add-br", "br-user", "--", "set", "Bridge", "br-user", "datapath_type=netdev")
    user_flow = f"cookie={COOKIE},priority=5,dl_src=02:00:00:00:00:98,actions=drop"
    host.run(["ovs-ofctl", "add-flow", "br-user", user_flow])

    host.run(["ovs-ofctl", "--strict", "del-flows", "br-phys", translation])
    host.vsctl("set", "Port", device, "tag=99")
    host.run(["ovs-ofctl", "add-flow", "br-int",
              f"cookie={COOKIE},table=0,priority=7,dl_src=02:00:00:00:00:99,actions=drop"])

    def repaired() -> bool:
        return host.tag(device) == local and \
            [f for f in host.flows("br-phys") if translation + " " in f] and \
            not [f for f in host.flows("br-int") if "dl_src=02:00:00:00:00:99" in f]

    eventually(repaired, timeout=3.0, what="drift repaired at the next resync (resync_seconds = 1)")
    host.wait_for_pass()
    assert [f for f in host.flows("br-user") if "dl_src=02:00:00:00:00:98" in f]
    assert host.vsctl("list-br").split() == ["br-int", "br-phys", "br-user"]


def test_cleanup(make_host, cloud):
    host = make_host()
    network = cloud.create_network("cleanup")
    port = cloud.create_port(network, "10.9.0.5")
    host.plug(port["id"], "vm1")
    host.vsctl("add-br", "br-user", "--", "set", "Bridge", "br-user", "datapath_type=netdev")
    host.stop_agent()

    out = host.neutrino("agent", "--cleanup").stdout
    assert "instance vm1" in out and "bridge br-int" in out and "bridge br-phys" in out
    assert host.vsctl("list-br").split() == ["br-user"]
    assert host.run(["ip", "netns", "list"]).stdout.split() == []
    assert host.run(["ip", "link", "show", tap_name(port["id"])], check=False).returncode != 0
    assert host.run(["ip", "link", "show", "eth1"]).returncode == 0  # the uplink NIC is the host's own
    assert "nothing of ours" in host.neutrino("agent", "--cleanup").stdout


def _one(flows: list[str], needle: str) -> str:
    """The single flow whose text contains ``needle`` (match fields end with a space before actions)."""
    found = [flow for flow in flows if needle in flow.replace(" actions=", "  actions=") + " "]
    assert len(found) == 1, f"{needle!r} in {len(found)} flows:\n" + "\n".join(flows)
    return found[0]
