"""The real ``openstack`` CLI against a real neutrino server, as admin and as a member of project demo,
through the clouds.yaml neutrino writes. Each command costs about a second of client start-up, so
each test walks one resource's whole life in as few commands as tell the story."""

from __future__ import annotations

import yaml

from tests.compat.conftest import ADMIN, DEMO, Cli, unique


def test_member_creates_lists_sets_unsets_and_deletes_a_network(cli):
    name, renamed = unique("net"), unique("renamed")
    created = cli(DEMO, "network", "create", "--description", "made by cli", "--mtu", "1400", name)
    assert (created["name"], created["description"], created["mtu"], created["admin_state_up"]) == (
        name, "made by cli", 1400, True)
    assert created["status"] == "ACTIVE" and created["shared"] is False and created["subnets"] == []

    [row] = cli(DEMO, "network", "list", "--long", "--name", name)
    assert (row["ID"], row["Status"], row["State"], row["Shared"], row["Subnets"]) == (
        created["id"], "ACTIVE", True, False, [])

    cli(DEMO, "network", "set", "--name", renamed, "--description", "changed", "--disable", "--mtu", "1300",
        "--tag", "blue", "--tag", "green", name)
    cli(DEMO, "network", "unset", "--tag", "blue", renamed)
    shown = cli(DEMO, "network", "show", renamed)
    assert (shown["id"], shown["description"], shown["admin_state_up"], shown["mtu"], shown["tags"]) == (
        created["id"], "changed", False, 1300, ["green"])
    assert shown["revision_number"] > created["revision_number"]

    cli(DEMO, "network", "delete", renamed)
    assert f"No Network found for {renamed}" in cli.fails(DEMO, "network", "show", renamed)


def test_admin_creates_a_provider_network_a_member_may_neither_make_nor_see(cli):
    name = unique("provider")
    created = cli(ADMIN, "network", "create", "--provider-network-type", "vlan",
                  "--provider-physical-network", "physnet1", "--provider-segment", "150", name)
    assert (created["provider:network_type"], created["provider:physical_network"],
            created["provider:segmentation_id"]) == ("vlan", "physnet1", 150)
    [row] = cli(ADMIN, "network", "list", "--long", "--name", name)
    assert row["Network Type"] == "vlan"

    assert "disallowed by policy" in cli.fails(
        DEMO, "network", "create", "--provider-network-type", "vlan", "--provider-physical-network", "physnet1",
        "--provider-segment", "160", unique("nope"))
    assert f"No Network found for {created['id']}" in cli.fails(DEMO, "network", "show", created["id"])
    assert "VLAN 150 on physical network physnet1" in cli.fails(
        ADMIN, "network", "create", "--provider-network-type", "vlan", "--provider-physical-network", "physnet1",
        "--provider-segment", "150", unique("again"))
    cli(ADMIN, "network", "delete", name)


def test_member_runs_subnets_and_ports_on_a_network(cli):
    network, subnet, port = unique("net"), unique("sub"), unique("port")
    network_id = cli(DEMO, "network", "create", network)["id"]
    created = cli(DEMO, "subnet", "create", "--network", network, "--subnet-range", "10.0.0.0/24",
                  "--dns-nameserver", "8.8.8.8", "--allocation-pool", "start=10.0.0.10,end=10.0.0.100", subnet)
    assert (created["cidr"], created["gateway_ip"], created["network_id"], created["ip_version"]) == (
        "10.0.0.0/24", "10.0.0.1", network_id, 4)
    assert created["dns_nameservers"] == ["8.8.8.8"]
    assert created["allocation_pools"] == [{"start": "10.0.0.10", "end": "10.0.0.100"}]
    assert [r["ID"] for r in cli(DEMO, "subnet", "list", "--network", network)] == [created["id"]]

    cli(DEMO, "subnet", "set", "--gateway", "none", subnet)
    assert cli(DEMO, "subnet", "show", subnet)["gateway_ip"] is None

    made = cli(DEMO, "port", "create", "--network", network, "--fixed-ip", f"subnet={subnet},ip-address=10.0.0.10",
               port)
    assert made["fixed_ips"] == [{"subnet_id": created["id"], "ip_address": "10.0.0.10"}]
    assert made["status"] == "DOWN" and len(made["security_group_ids"]) == 1
    [row] = cli(DEMO, "port", "list", "--network", network)
    assert (row["ID"], row["Name"], row["MAC Address"]) == (made["id"], port, made["mac_address"])
    cli(DEMO, "port", "set", "--name", port + "-b", port)
    assert cli(DEMO, "port", "show", made["id"])["name"] == port + "-b"
    assert "There are one or more ports still in use" in cli.fails(DEMO, "network", "delete", network)

    cli(DEMO, "port", "delete", port + "-b")
    cli(DEMO, "subnet", "delete", subnet)
    cli(DEMO, "network", "delete", network)
    assert f"No Network found for {network}" in cli.fails(DEMO, "subnet", "list", "--network", network)


def test_member_runs_security_groups_and_rules(cli):
    group, peers, renamed = unique("web"), unique("peers"), unique("renamed")
    created = cli(DEMO, "security", "group", "create", "--description", "web servers", group)
    assert created["description"] == "web servers" and len(created["rules"]) == 2
    peers_id = cli(DEMO, "security", "group", "create", peers)["id"]
    listed = {r["Name"] for r in cli(DEMO, "security", "group", "list")}
    assert {"default", group, peers} <= listed

    cli(DEMO, "security", "group", "set", "--name", renamed, "--description", "changed", group)
    shown = cli(DEMO, "security", "group", "show", renamed)
    assert (shown["id"], shown["description"]) == (created["id"], "changed")

    ssh = cli(DEMO, "security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "22",
              "--remote-ip", "0.0.0.0/0", renamed)
    assert (ssh["direction"], ssh["ether_type"], ssh["protocol"], ssh["port_range_min"], ssh["port_range_max"],
            ssh["remote_ip_prefix"]) == ("ingress", "IPv4", "tcp", 22, 22, "0.0.0.0/0")
    ping = cli(DEMO, "security", "group", "rule", "create", "--protocol", "icmp", "--remote-group", peers, renamed)
    assert (ping["protocol"], ping["remote_group_id"], ping["remote_ip_prefix"]) == ("icmp", peers_id, None)
    assert "Security group rule already exists" in cli.fails(
        DEMO, "security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "22",
        "--remote-ip", "0.0.0.0/0", renamed)

    rules = {r["ID"]: r for r in cli(DEMO, "security", "group", "rule", "list", renamed)}
    assert len(rules) == 4 and {ssh["id"], ping["id"]} <= set(rules)
    assert (rules[ssh["id"]]["IP Protocol"], rules[ssh["id"]]["Port Range"]) == ("tcp", "22:22")
    assert rules[ping["id"]]["Remote Security Group"] == peers_id

    cli(DEMO, "security", "group", "rule", "delete", ssh["id"])
    assert cli(DEMO, "security", "group", "rule", "list", "--protocol", "tcp", renamed) == []
    cli(DEMO, "security", "group", "delete", renamed, peers)
    assert f"No SecurityGroup found for {renamed}" in cli.fails(DEMO, "security", "group", "show", renamed)


def test_admin_shows_and_sets_a_projects_quota_and_a_member_may_not(cli):
    shown = {row["Resource"]: row["Limit"] for row in cli(ADMIN, "quota", "show", "demo")}
    assert (shown["networks"], shown["subnets"], shown["security_groups"], shown["security_group_rules"]) == (
        100, 100, 10, 100)
    ports = shown["ports"]
    try:
        cli(ADMIN, "quota", "set", "--ports", "10", "demo")
        # A member names its project by id: as with Keystone, it may read its own project but not
        # list projects, which finding one by name needs. Without a name, it is the token's project.
        assert {row["Resource"]: row["Limit"] for row in cli(DEMO, "quota", "show")}["ports"] == 10
        demo_project = cli(DEMO, "token", "issue")["project_id"]
        refused = cli.fails(DEMO, "quota", "set", "--ports", "1000", demo_project)
        assert "ForbiddenException" in refused and "update_quota" in refused
    finally:
        cli(ADMIN, "quota", "set", "--ports", str(ports), "demo")


def test_agents_are_empty_and_extensions_are_neutrons(cli):
    assert cli(ADMIN, "network", "agent", "list") == []
    aliases = {row["Alias"] for row in cli(DEMO, "extension", "list", "--network")}
    assert {"agent", "allowed-address-pairs", "binding", "external-net", "port-security", "provider", "quotas",
            "security-group", "standard-attr-tag"} <= aliases


def test_a_user_the_admin_makes_works_in_a_project_of_its_own(cli, server, tmp_path):
    project, user = unique("project"), unique("user")
    project_id = cli(ADMIN, "project", "create", "--description", "made by cli", project)["id"]
    cli(ADMIN, "user", "create", "--project", project, "--password", "newcomer-secret", user)
    cli(ADMIN, "role", "add", "--project", project, "--user", user, "member")
    clouds = yaml.safe_load(server.clouds_yaml.read_text())
    cloud = clouds["clouds"][DEMO]
    cloud["auth"].update(username=user, password="newcomer-secret", project_name=project)
    own_yaml = tmp_path / "clouds.yaml"
    own_yaml.write_text(yaml.safe_dump({"clouds": {"newcomer": cloud}}))
    newcomer = Cli(own_yaml)

    name = unique("own")
    created = newcomer("newcomer", "network", "create", name)
    assert created["project_id"] == project_id
    visible = newcomer("newcomer", "network", "list", "--long")
    assert name in {row["Name"] for row in visible}
    # Neutron shows every project the shared and the external networks (policy rule:shared / rule:external).
    assert all(row["Project"] == project_id or row["Shared"] or row["Router Type"] for row in visible)
    assert cli(DEMO, "network", "list", "--name", name) == []
    newcomer("newcomer", "network", "delete", name)
