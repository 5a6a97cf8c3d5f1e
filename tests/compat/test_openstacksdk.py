"""The real openstacksdk against a real neutrino server, as admin and as a member of project demo:
the resource calls a user's script makes, and errors surfacing as openstacksdk's exceptions carrying
neutrino's (Neutron's) message."""

from __future__ import annotations

import uuid

import pytest
from openstack import exceptions

from tests.compat.conftest import ADMIN, DEMO, unique

# openstacksdk's notes about its own future releases.
pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")


@pytest.fixture(scope="module")
def admin(sdk):
    return sdk(ADMIN)


@pytest.fixture(scope="module")
def demo(sdk):
    return sdk(DEMO)


@pytest.fixture
def network(demo):
    """A network of project demo with one IPv4 subnet, 10.20.0.0/24."""
    network = demo.network.create_network(name=unique("net"))
    subnet = demo.network.create_subnet(network_id=network.id, ip_version=4, cidr="10.20.0.0/24",
                                        name=unique("sub"))
    yield network, subnet
    for port in demo.network.ports(network_id=network.id):
        demo.network.delete_port(port)
    demo.network.delete_network(network)


def names(resources) -> list[str]:
    return sorted(r.name for r in resources)


# networks


def test_member_creates_shows_finds_updates_and_deletes_a_network(demo):
    name = unique("net")
    created = demo.network.create_network(name=name, description="made by sdk", admin_state_up=False, mtu=1400)
    assert (created.name, created.description, created.is_admin_state_up, created.mtu) == (
        name, "made by sdk", False, 1400)
    assert created.status == "ACTIVE" and created.project_id == demo.current_project_id
    assert created.is_shared is False and created.is_router_external is False and created.revision_number == 0

    assert demo.network.find_network(name).id == created.id
    assert demo.network.get_network(created.id).to_dict() == created.to_dict()
    assert [n.id for n in demo.network.networks(name=name)] == [created.id]

    updated = demo.network.update_network(created, name=name + "-b", description="", admin_state_up=True)
    assert (updated.name, updated.description, updated.is_admin_state_up) == (name + "-b", "", True)
    assert updated.revision_number == 1
    with pytest.raises(exceptions.PreconditionFailedException, match="current revision is 1"):
        demo.network.update_network(created, name="stale", if_revision=0)
    assert demo.network.update_network(created, description="fresh", if_revision=1).revision_number == 2

    demo.network.delete_network(created)
    with pytest.raises(exceptions.NotFoundException, match=f"Network {created.id} could not be found"):
        demo.network.get_network(created.id)
    assert demo.network.find_network(name + "-b") is None


def test_admin_creates_a_provider_vlan_network_and_filters_on_it(admin):
    created = admin.network.create_network(name=unique("provider"), provider_network_type="vlan",
                                           provider_physical_network="physnet1", provider_segmentation_id=151)
    assert (created.provider_network_type, created.provider_physical_network,
            created.provider_segmentation_id) == ("vlan", "physnet1", 151)
    found = admin.network.networks(provider_network_type="vlan", provider_segmentation_id=151)
    assert [n.id for n in found] == [created.id]

    with pytest.raises(exceptions.ConflictException, match="VLAN 151 on physical network physnet1"):
        admin.network.create_network(name=unique("again"), provider_network_type="vlan",
                                     provider_physical_network="physnet1", provider_segmentation_id=151)
    admin.network.delete_network(created)


def test_a_tenant_network_gets_a_vlan_the_member_cannot_see(admin, demo):
    created = demo.network.create_network(name=unique("tenant"))
    assert created.provider_network_type is None and created.provider_segmentation_id is None
    seen_by_admin = admin.network.get_network(created.id)
    assert seen_by_admin.provider_network_type == "vlan"
    assert 1000 <= seen_by_admin.provider_segmentation_id <= 1999
    demo.network.delete_network(created)


def test_member_may_not_set_provider_attributes_or_share(demo):
    with pytest.raises(exceptions.ForbiddenException, match="disallowed by policy"):
        demo.network.create_network(name=unique("nope"), provider_network_type="vlan",
                                    provider_physical_network="physnet1", provider_segmentation_id=152)
    with pytest.raises(exceptions.ForbiddenException, match="disallowed by policy"):
        demo.network.create_network(name=unique("nope"), shared=True)
    assert demo.network.find_network("nope") is None


def test_member_cannot_see_the_admins_private_network_but_sees_a_shared_one(admin, demo):
    private = admin.network.create_network(name=unique("private"))
    shared = admin.network.create_network(name=unique("shared"), shared=True)

    visible = {n.id for n in demo.network.networks()}
    assert shared.id in visible and private.id not in visible
    assert [n.id for n in demo.network.networks(shared=True, name=shared.name)] == [shared.id]
    assert [n.id for n in demo.network.networks(is_shared=False, name=shared.name)] == []
    assert [n.id for n in admin.network.networks(is_shared=False, name=private.name)] == [private.id]
    assert demo.network.find_network(private.name) is None
    with pytest.raises(exceptions.NotFoundException, match=f"Network {private.id} could not be found"):
        demo.network.get_network(private.id)
    with pytest.raises(exceptions.NotFoundException):
        demo.network.update_network(private.id, name="taken")
    with pytest.raises(exceptions.NotFoundException):
        demo.network.delete_network(private.id, ignore_missing=False)
    # A member reads another project's shared network but may not change it: what the caller can see,
    # Neutron refuses with a 403 (what it cannot see is a 404, as above).
    with pytest.raises(exceptions.ForbiddenException, match="update_network"):
        demo.network.update_network(shared.id, name="mine")

    assert admin.network.get_network(private.id).name == private.name
    admin.network.delete_network(private)
    admin.network.delete_network(shared)


def test_tags_are_set_replaced_and_filtered_on(demo):
    first = demo.network.create_network(name=unique("tagged"))
    second = demo.network.create_network(name=unique("tagged"))
    tag, other = unique("red"), unique("blue")
    demo.network.set_tags(first, [tag, other])
    demo.network.set_tags(second, [tag])

    assert sorted(demo.network.get_network(first.id).tags) == sorted([tag, other])
    assert {n.id for n in demo.network.networks(tags=tag)} == {first.id, second.id}
    assert [n.id for n in demo.network.networks(tags=f"{tag},{other}")] == [first.id]
    assert {n.id for n in demo.network.networks(any_tags=f"{other},{tag}")} == {first.id, second.id}
    assert [n.id for n in demo.network.networks(tags=tag, not_tags=other)] == [second.id]

    demo.network.set_tags(first, [])
    assert demo.network.get_network(first.id).tags == []
    assert [n.id for n in demo.network.networks(tags=other)] == []
    demo.network.delete_network(first)
    demo.network.delete_network(second)


def test_paging_with_a_limit_yields_every_network_exactly_once(demo):
    tag = unique("page")
    made = []
    for _ in range(7):
        network = demo.network.create_network(name=unique("paged"))
        demo.network.set_tags(network, [tag])
        made.append(network.id)

    paged = [n.id for n in demo.network.networks(limit=2, tags=tag)]
    assert sorted(paged) == sorted(made)
    everything = [n.id for n in demo.network.networks(limit=2)]
    assert len(everything) == len(set(everything)) and set(made) <= set(everything)
    by_name = [n.name for n in demo.network.networks(limit=3, tags=tag, sort_key="name", sort_dir="desc")]
    assert by_name == sorted(by_name, reverse=True) and len(by_name) == 7
    for network_id in made:
        demo.network.delete_network(network_id)


# subnets


def test_ipv4_and_ipv6_subnets_are_created_listed_updated_and_deleted(demo):
    network = demo.network.create_network(name=unique("dual"))
    v4 = demo.network.create_subnet(
        network_id=network.id, ip_version=4, cidr="10.30.0.0/24", name=unique("v4"),
        allocation_pools=[{"start": "10.30.0.100", "end": "10.30.0.150"}], dns_nameservers=["8.8.8.8", "1.1.1.1"],
        host_routes=[{"destination": "192.168.0.0/16", "nexthop": "10.30.0.254"}])
    assert (v4.cidr, v4.gateway_ip, v4.ip_version, v4.is_dhcp_enabled) == ("10.30.0.0/24", "10.30.0.1", 4, True)
    assert v4.allocation_pools == [{"start": "10.30.0.100", "end": "10.30.0.150"}]
    assert v4.dns_nameservers == ["8.8.8.8", "1.1.1.1"]
    assert v4.host_routes == [{"destination": "192.168.0.0/16", "nexthop": "10.30.0.254"}]

    v6 = demo.network.create_subnet(network_id=network.id, ip_version=6, cidr="fd00:30::/64", name=unique("v6"),
                                    gateway_ip=None, enable_dhcp=False)
    assert (v6.cidr, v6.gateway_ip, v6.ip_version, v6.is_dhcp_enabled) == ("fd00:30::/64", None, 6, False)
    assert v6.allocation_pools == [{"start": "fd00:30::1", "end": "fd00:30::ffff:ffff:ffff:ffff"}]

    assert {s.id for s in demo.network.subnets(network_id=network.id)} == {v4.id, v6.id}
    assert [s.id for s in demo.network.subnets(network_id=network.id, ip_version=6)] == [v6.id]
    assert sorted(demo.network.get_network(network.id).subnet_ids) == sorted([v4.id, v6.id])

    updated = demo.network.update_subnet(v4, name="renamed", dns_nameservers=[], gateway_ip=None,
                                         host_routes=[])
    assert (updated.name, updated.dns_nameservers, updated.gateway_ip, updated.host_routes) == (
        "renamed", [], None, [])
    assert demo.network.update_subnet(v4, gateway_ip="10.30.0.1").gateway_ip == "10.30.0.1"

    demo.network.delete_subnet(v6)
    assert [s.id for s in demo.network.subnets(network_id=network.id)] == [v4.id]
    demo.network.delete_network(network)
    assert list(demo.network.subnets(network_id=network.id)) == []


def test_subnet_errors_are_bad_requests_with_neutrons_message(network, demo):
    net, _ = network
    with pytest.raises(exceptions.BadRequestException, match="overlaps with another subnet"):
        demo.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.20.0.128/25")
    with pytest.raises(exceptions.BadRequestException, match="not-a-cidr"):
        demo.network.create_subnet(network_id=net.id, ip_version=4, cidr="not-a-cidr")
    with pytest.raises(exceptions.BadRequestException, match="spans beyond the subnet cidr"):
        demo.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.21.0.0/24",
                                   allocation_pools=[{"start": "10.21.0.10", "end": "10.21.1.10"}])
    assert len(list(demo.network.subnets(network_id=net.id))) == 1
    # Without a gateway the pool starts at .1; a gateway set later may not land inside it.
    gateless = demo.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.22.0.0/24", gateway_ip=None)
    assert gateless.allocation_pools == [{"start": "10.22.0.1", "end": "10.22.0.254"}]
    with pytest.raises(exceptions.ConflictException,
                       match="Gateway ip 10.22.0.1 conflicts with allocation pool 10.22.0.1-10.22.0.254"):
        demo.network.update_subnet(gateless, gateway_ip="10.22.0.1")


# ports


def test_ports_are_created_with_fixed_ips_filtered_updated_and_deleted(network, demo):
    net, subnet = network
    device = str(uuid.uuid4())
    port = demo.network.create_port(network_id=net.id, name=unique("port"), device_id=device,
                                    fixed_ips=[{"subnet_id": subnet.id, "ip_address": "10.20.0.10"}])
    assert port.fixed_ips == [{"subnet_id": subnet.id, "ip_address": "10.20.0.10"}]
    assert port.mac_address.startswith("fa:16:3e:") and port.status == "DOWN"
    assert port.is_port_security_enabled is True and len(port.security_group_ids) == 1
    other = demo.network.create_port(network_id=net.id)
    assert other.fixed_ips[0]["subnet_id"] == subnet.id and other.fixed_ips[0]["ip_address"] != "10.20.0.10"

    assert {p.id for p in demo.network.ports(network_id=net.id)} == {port.id, other.id}
    assert [p.id for p in demo.network.ports(device_id=device)] == [port.id]
    assert [p.id for p in demo.network.ports(fixed_ips=["ip_address=10.20.0.10"])] == [port.id]
    assert [p.id for p in demo.network.ports(fixed_ips=[f"subnet_id={subnet.id}", "ip_address=10.20.0.10"])] \
        == [port.id]

    group = demo.network.create_security_group(name=unique("sg"))
    updated = demo.network.update_port(port, name="renamed", security_group_ids=[group.id],
                                       allowed_address_pairs=[{"ip_address": "10.20.0.200"}])
    assert (updated.name, updated.security_group_ids) == ("renamed", [group.id])
    assert updated.allowed_address_pairs == [{"ip_address": "10.20.0.200", "mac_address": port.mac_address}]
    assert [p.id for p in demo.network.ports(security_group_ids=[group.id])] == [port.id]
    with pytest.raises(exceptions.ConflictException, match=f"Security Group {group.id} in use"):
        demo.network.delete_security_group(group)

    with pytest.raises(exceptions.ConflictException, match="Port has security group associated"):
        demo.network.update_port(other, port_security_enabled=False)
    unsecured = demo.network.update_port(other, port_security_enabled=False, security_group_ids=[])
    assert (unsecured.is_port_security_enabled, unsecured.security_group_ids) == (False, [])

    demo.network.delete_port(port)
    demo.network.delete_port(other)
    demo.network.delete_security_group(group)
    assert list(demo.network.ports(network_id=net.id)) == []


def test_ports_are_created_in_bulk(network, demo):
    net, subnet = network
    made = list(demo.network.create_ports([
        {"network_id": net.id, "name": "bulk-a", "fixed_ips": [{"ip_address": "10.20.0.30"}]},
        {"network_id": net.id, "name": "bulk-b", "fixed_ips": [{"ip_address": "10.20.0.31"}]}]))
    assert [(p.name, p.fixed_ips) for p in made] == [
        ("bulk-a", [{"subnet_id": subnet.id, "ip_address": "10.20.0.30"}]),
        ("bulk-b", [{"subnet_id": subnet.id, "ip_address": "10.20.0.31"}])]
    assert {p.id for p in demo.network.ports(network_id=net.id)} == {p.id for p in made}


def test_port_conflicts_surface_as_conflict_exceptions(network, demo):
    net, subnet = network
    demo.network.create_port(network_id=net.id, fixed_ips=[{"subnet_id": subnet.id, "ip_address": "10.20.0.20"}])
    with pytest.raises(exceptions.ConflictException, match="The IP address 10.20.0.20 is in use"):
        demo.network.create_port(network_id=net.id, fixed_ips=[{"ip_address": "10.20.0.20"}])
    with pytest.raises(exceptions.BadRequestException, match="10.99.0.1 is not a valid IP"):
        demo.network.create_port(network_id=net.id, fixed_ips=[{"subnet_id": subnet.id, "ip_address": "10.99.0.1"}])
    with pytest.raises(exceptions.ConflictException, match="There are one or more ports still in use"):
        demo.network.delete_network(net)
    assert len(list(demo.network.ports(network_id=net.id))) == 1


# security groups and rules


def test_security_groups_and_rules_are_created_listed_and_deleted(demo):
    group = demo.network.create_security_group(name=unique("web"), description="web servers")
    peers = demo.network.create_security_group(name=unique("peers"))
    assert group.description == "web servers" and group.is_default is False
    assert sorted((r["direction"], r["ethertype"]) for r in group.security_group_rules) == [
        ("egress", "IPv4"), ("egress", "IPv6")]

    ssh = demo.network.create_security_group_rule(
        security_group_id=group.id, direction="ingress", protocol="tcp", port_range_min=22, port_range_max=22,
        remote_ip_prefix="192.0.2.0/24")
    dns = demo.network.create_security_group_rule(
        security_group_id=group.id, direction="ingress", ether_type="IPv6", protocol="udp",
        port_range_min=53, port_range_max=53, remote_ip_prefix="::/0")
    ping = demo.network.create_security_group_rule(
        security_group_id=group.id, direction="ingress", protocol="icmp", port_range_min=8, port_range_max=0,
        remote_group_id=peers.id)
    assert (ssh.protocol, ssh.port_range_min, ssh.port_range_max, ssh.remote_ip_prefix, ssh.ether_type) == (
        "tcp", 22, 22, "192.0.2.0/24", "IPv4")
    assert (dns.ether_type, dns.protocol, dns.remote_ip_prefix) == ("IPv6", "udp", "::/0")
    assert (ping.remote_group_id, ping.remote_ip_prefix, ping.port_range_min, ping.port_range_max) == (
        peers.id, None, 8, 0)

    listed = {r.id for r in demo.network.security_group_rules(security_group_id=group.id)}
    assert {ssh.id, dns.id, ping.id} <= listed and len(listed) == 5
    assert [r.id for r in demo.network.security_group_rules(security_group_id=group.id, protocol="udp")] == [dns.id]
    assert {r.id for r in demo.network.security_group_rules(security_group_id=group.id, ether_type="IPv6",
                                                            direction="ingress")} == {dns.id}
    assert demo.network.get_security_group_rule(ssh.id).to_dict() == ssh.to_dict()
    assert {r["id"] for r in demo.network.get_security_group(group.id).security_group_rules} == listed
    assert demo.network.find_security_group(group.name).id == group.id

    with pytest.raises(exceptions.ConflictException, match=f"Security group rule already exists. Rule id is {ssh.id}"):
        demo.network.create_security_group_rule(
            security_group_id=group.id, direction="ingress", protocol="tcp", port_range_min=22, port_range_max=22,
            remote_ip_prefix="192.0.2.0/24")
    with pytest.raises(exceptions.BadRequestException, match="port_range_min must be <= port_range_max"):
        demo.network.create_security_group_rule(
            security_group_id=group.id, direction="ingress", protocol="tcp", port_range_min=90, port_range_max=80)

    demo.network.delete_security_group_rule(ssh)
    with pytest.raises(exceptions.NotFoundException):
        demo.network.get_security_group_rule(ssh.id)
    # As in Neutron, rules naming a deleted group as their remote group go with it.
    demo.network.delete_security_group(peers)
    assert {r.id for r in demo.network.security_group_rules(security_group_id=group.id)} == listed - {
        ssh.id, ping.id}
    demo.network.delete_security_group(group)
    assert demo.network.find_security_group(group.name) is None


def test_every_project_has_its_default_group_and_a_member_sees_only_its_own(admin, demo):
    mine = {g.id for g in demo.network.security_groups()}
    defaults = list(demo.network.security_groups(name="default"))
    assert len(defaults) == 1 and defaults[0].project_id == demo.current_project_id and defaults[0].id in mine
    admin_group = admin.network.create_security_group(name=unique("admin-only"))
    assert admin_group.id not in {g.id for g in demo.network.security_groups()}
    with pytest.raises(exceptions.NotFoundException):
        demo.network.get_security_group(admin_group.id)
    admin.network.delete_security_group(admin_group)


# quotas, extensions, and a project of our own


@pytest.fixture(scope="module")
def newcomer(admin, server):
    """A fresh project with one member user, made through the identity API by the admin."""
    from openstack.connection import Connection

    project = admin.identity.create_project(name=unique("project"), domain_id="default")
    user = admin.identity.create_user(name=unique("user"), password="newcomer-secret", domain_id="default",
                                      default_project_id=project.id)
    member = admin.identity.find_role("member")
    admin.identity.assign_project_role_to_user(project, user, member)
    connection = Connection(auth_url=server.url + "/identity", username=user.name, password="newcomer-secret",
                            project_name=project.name, user_domain_name="Default", project_domain_name="Default",
                            identity_api_version="3", region_name="RegionOne")
    yield project, connection
    connection.close()


def test_admin_reads_and_sets_quotas_and_the_project_runs_into_them(admin, demo, newcomer):
    project, member = newcomer
    quota = admin.network.get_quota(project.id)
    assert (quota.networks, quota.subnets, quota.ports, quota.security_groups, quota.security_group_rules) == (
        100, 100, 500, 10, 100)
    assert admin.network.get_quota_default(project.id).networks == 100
    updated = admin.network.update_quota(project.id, networks=1, ports=5)
    assert (updated.networks, updated.ports) == (1, 5)
    assert (member.network.get_quota(project.id).networks, member.network.get_quota(project.id).ports) == (1, 5)

    member.network.create_network(name=unique("only"))
    with pytest.raises(exceptions.ConflictException, match="Quota exceeded for resources: \\['network'\\]"):
        member.network.create_network(name=unique("one-too-many"))
    details = admin.network.get_quota(project.id, details=True)
    assert details.networks == {"limit": 1, "used": 1, "reserved": 0}

    with pytest.raises(exceptions.ForbiddenException):
        demo.network.update_quota(demo.current_project_id, networks=1000)
    with pytest.raises(exceptions.ForbiddenException):
        demo.network.get_quota(project.id)


def test_the_new_project_sees_its_own_network_only(newcomer, demo):
    project, member = newcomer
    own = [n for n in member.network.networks() if not n.is_shared and not n.is_router_external]
    assert own and all(n.project_id == project.id for n in own)
    assert not {n.id for n in own} & {n.id for n in demo.network.networks()}


def test_the_cloud_layer_ansible_uses_works_unchanged(admin, demo):
    name, subnet_name, port_name = unique("cloud"), unique("cloud-sub"), unique("cloud-port")
    network = admin.create_network(name, shared=True, mtu_size=1450, provider={
        "network_type": "vlan", "physical_network": "physnet1", "segmentation_id": 170})
    assert (network.provider_segmentation_id, network.mtu, network.is_shared) == (170, 1450, True)
    subnet = admin.create_subnet(name, cidr="10.77.0.0/24", disable_gateway_ip=True, dns_nameservers=["9.9.9.9"],
                                 subnet_name=subnet_name)
    assert (subnet.gateway_ip, subnet.network_id) == (None, network.id)
    assert [n.id for n in demo.search_networks(name)] == [network.id]

    group = demo.create_security_group(unique("cloud-sg"), "from the cloud layer")
    rule = demo.create_security_group_rule(group.id, port_range_min=80, port_range_max=80, protocol="tcp",
                                           remote_ip_prefix="0.0.0.0/0")
    assert (rule.port_range_min, rule.ether_type, rule.direction) == (80, "IPv4", "ingress")
    port = demo.create_port(network.id, name=port_name, fixed_ips=[{"ip_address": "10.77.0.5"}],
                            security_groups=[group.id])
    assert port.fixed_ips == [{"subnet_id": subnet.id, "ip_address": "10.77.0.5"}]
    assert [p.id for p in demo.list_ports(filters={"network_id": network.id})] == [port.id]
    assert demo.get_port(port_name).id == port.id and demo.get_subnet(subnet_name).id == subnet.id

    admin.update_subnet(subnet_name, gateway_ip="10.77.0.1",
                        allocation_pools=[{"start": "10.77.0.10", "end": "10.77.0.20"}])
    assert admin.get_subnet(subnet.id).gateway_ip == "10.77.0.1"
    assert demo.delete_port(port_name) and demo.delete_security_group(group.id)
    assert admin.delete_network(name) and admin.get_network(name) is None


def test_extensions_name_the_features_clients_look_for(admin, demo):
    assert list(admin.network.agents()) == []
    aliases = {e.alias for e in demo.network.extensions()}
    assert {"agent", "allowed-address-pairs", "binding", "external-net", "port-security", "provider", "quotas",
            "security-group", "standard-attr-tag", "pagination", "sorting", "standard-attr-revisions"} <= aliases
    assert demo.network.find_extension("security-group").name
