"""``neutrino show port``: literal API state, the plan built from it and what the host holds in, the
port's view and its printed text out."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from neutrino.cli.port_view import (
    Installed,
    Mark,
    PortView,
    filter_rules_from,
    find_port_id,
    flows_from_dump,
    port_json,
    port_view_for,
    render_port,
)
from neutrino.plan.build import build_plan
from neutrino.realize.iptables import Chain, Jump
from neutrino.realize.openflow import desired_flow
from tests.unit.plan.groups import (
    HYBRID,
    NOOP,
    OVS,
    default_group,
    group,
    instance,
    pair,
    plugged_here,
    rule,
    state_of,
)

WEB = group("sg-web", rule("r-ssh", protocol="tcp", port_min=22, port_max=22, prefix="10.0.0.0/24"),
            rule("r-db6", "egress", "IPv6", remote_group="sg-default"), name="web")
VM1 = instance("vm1port", "10.0.0.5", groups=("sg-default", "sg-web"), mac="fa:16:3e:aa:bb:cc", name="web1",
               allowed_address_pairs=(pair("10.0.0.100"),))
VM2 = instance("vm2-port", "10.0.0.6", groups=("sg-default",))
STATE = state_of([VM1, VM2], [default_group(), WEB])
SSH_NEW = ("table=82, priority=77,ct_state=+new-est,tcp,reg5=0x7,nw_src=10.0.0.0/24,tp_dst=22 "
           "actions=ct(commit,zone=NXM_NX_REG6[0..15]),output:tapvm1port,resubmit(,92)")
SSH_ESTABLISHED = "table=82, priority=77,ct_state=+est-rel-rpl,tcp,reg5=0x7,nw_src=10.0.0.0/24,tp_dst=22 " \
                  "actions=output:tapvm1port"


def _everything_installed(plan, packets: int | None = 3) -> dict:
    return {desired_flow(flow).key: (flow.actions, packets) for flow in plan.flows}


def _view(state=STATE, config=OVS, facts=None, installed=None, port_id="vm1port") -> PortView:
    plan = build_plan(state, config, facts if facts is not None else plugged_here(VM1, VM2))
    installed = installed if installed is not None else Installed(_everything_installed(plan))
    return port_view_for(state, plan, config.firewall_driver, "br-int", port_id, installed)


def _rule(view: PortView, rule_id: str):
    [found] = [r for r in view.rules if r.rule_id == rule_id]
    return found


def test_each_rule_is_said_in_words_with_its_resolved_remote_and_its_flows():
    view = _view()
    assert [(r.rule_id, r.words, r.remote, r.cidrs) for r in view.rules] == [
        ("d-eg4", "egress IPv4 any protocol", "to anywhere", ()),
        ("d-eg6", "egress IPv6 any protocol", "to anywhere", ()),
        ("d-in4", "ingress IPv4 any protocol", "from members of default (sg-default)",
         ("10.0.0.5/32", "10.0.0.6/32", "10.0.0.100/32")),
        ("d-in6", "ingress IPv6 any protocol", "from members of default (sg-default)", ()),
        ("r-db6", "egress IPv6 any protocol", "to members of default (sg-default)", ()),
        ("r-ssh", "ingress IPv4 tcp 22", "from 10.0.0.0/24", ()),
    ]
    ssh = _rule(view, "r-ssh")
    assert [(e.text, e.mark, e.packets) for e in ssh.entries] == [
        (SSH_ESTABLISHED, Mark.INSTALLED, 3), (SSH_NEW, Mark.INSTALLED, 3)]
    # a conjunction: the port's clause and the rule's accept flows, new and established; and the members'
    # clauses it shares, two for each of three member addresses
    in4 = _rule(view, "d-in4")
    actions = [e.text.split(" actions=")[1] for e in in4.entries]
    assert [a.startswith("conjunction(") for a in actions] == [True, True, False, False]
    assert all(e.packets == 3 for e in in4.entries)
    assert len(in4.members) == 6 and all("nw_src=10.0.0." in e.text for e in in4.members)


def test_a_remote_group_without_members_of_the_ethertype_admits_nothing_and_says_so():
    view = _view()
    assert _rule(view, "r-db6").note == "the group has no IPv6 member: the rule admits nothing"
    assert _rule(view, "r-db6").members == ()  # its port clause and accept flows wait for a member


def test_missing_and_different_flows_are_marked():
    plan = build_plan(STATE, OVS, plugged_here(VM1, VM2))
    flows = _everything_installed(plan)
    [established, new] = sorted((f for f in plan.flows if f.source == "r-ssh"), key=lambda f: f.match)
    del flows[desired_flow(new).key]
    flows[desired_flow(established).key] = ("drop", 0)
    view = _view(installed=Installed(flows))
    assert [(e.mark, e.installed_actions) for e in _rule(view, "r-ssh").entries] == [
        (Mark.DIFFERENT, "drop"), (Mark.MISSING, "")]
    port_entries = _view().counts["installed"]
    assert view.counts == {"installed": port_entries - 2, "different": 1, "missing": 1}


def test_anti_spoofing_lists_the_pairs_and_the_entries_enforcing_them():
    view = _view()
    assert [(p.mac, p.cidr) for p in view.pairs] == [
        ("fa:16:3e:aa:bb:cc", "10.0.0.5/32"), ("fa:16:3e:aa:bb:cc", "10.0.0.100/32"),
        ("fa:16:3e:aa:bb:cc", "fe80::f816:3eff:feaa:bbcc/128")]
    texts = [e.text for e in view.spoofing]
    assert "table=71, priority=65,ip,reg5=0x7,in_port=tapvm1port,dl_src=fa:16:3e:aa:bb:cc,nw_src=10.0.0.100 " \
           "actions=ct(table=72,zone=NXM_NX_REG6[0..15])" in texts
    assert all(e.mark is Mark.INSTALLED for e in view.spoofing + view.fixed)


def test_the_text_for_people_names_binding_groups_rules_flows_and_pairs():
    plan = build_plan(STATE, OVS, plugged_here(VM1, VM2))
    flows = _everything_installed(plan)
    del flows[desired_flow(next(f for f in plan.flows if f.source == "r-ssh" and "+new" in f.match)).key]
    text = render_port(_view(installed=Installed(flows))).plain
    for line in (
        'port vm1port "web1"  network net-a (net-a)',
        "  mac fa:16:3e:aa:bb:cc  addresses 10.0.0.5",
        "binding   ACTIVE on compute1: tapvm1port (ofport 7), local VLAN 5",
        "firewall  openvswitch: filtered by default (sg-default), web (sg-web)",
        "groups    default (sg-default), web (sg-web)",
        "  ingress IPv4 tcp 22 from 10.0.0.0/24   rule r-ssh · web (sg-web)",
        f"    ✓ {SSH_ESTABLISHED}  n_packets=3",
        f"    ✗ missing: {SSH_NEW}",
        "  ingress IPv4 any protocol from members of default (sg-default): 10.0.0.5/32, 10.0.0.6/32, 10.0.0.100/32"
        "   rule d-in4 · default (sg-default)",
        "    the group has no IPv6 member: the rule admits nothing",
        "    members' clauses, shared on this local VLAN: 6 of 6 installed",
        "  fa:16:3e:aa:bb:cc 10.0.0.100/32  (allowed address pair 10.0.0.100)",
    ):
        assert line in text.splitlines(), line
    assert "entries   " in text and ", 1 missing" in text


def test_a_parked_port_shows_the_dead_vlan_and_why():
    down = replace(VM1, admin_state_up=False)
    view = _view(state_of([down, VM2], [default_group(), WEB]))
    assert (view.binding.status, view.binding.device, view.binding.local_vlan) == ("DOWN", "tapvm1port", 4095)
    assert "binding   DOWN tapvm1port parked on dead VLAN 4095: port vm1port has admin_state_up false" in \
        render_port(view).plain
    assert view.filtering == "not here" and all(not r.entries for r in view.rules)


def test_a_port_bound_elsewhere_and_not_plugged_here_says_where_to_look():
    elsewhere = replace(VM2, host_id="compute2")
    view = _view(state_of([VM1, elsewhere], [default_group(), WEB]), facts=plugged_here(VM1), port_id="vm2-port")
    assert view.binding.status == "" and "bound to host 'compute2'" in view.binding.reason
    assert view.rules and all(not r.entries for r in view.rules)  # the rules are known, nothing is here


def test_port_security_off_shows_the_rules_unenforced_and_no_pairs():
    open_port = replace(VM1, security_groups=(), port_security_enabled=False)
    view = _view(state_of([open_port, VM2], [default_group(), WEB]))
    assert (view.filtering, view.pairs, view.rules) == ("port-security-disabled", (), ())
    assert "firewall  openvswitch: port_security_enabled is false" in render_port(view).plain


def test_with_driver_noop_nothing_is_filtered():
    view = _view(config=NOOP)
    assert view.filtering == "off" and all(not r.entries for r in view.rules) and view.spoofing == ()


def test_the_hybrid_driver_shows_iptables_rules_marked_by_what_iptables_holds():
    facts = plugged_here(VM1, VM2, hybrid=True)
    plan = build_plan(STATE, HYBRID, facts)
    held = [r for r in plan.filter_rules if r.source != "r-ssh"]
    chains = {}
    for r in held:
        chains.setdefault((r.family, r.table, r.chain), []).append(r.rule)
    installed = Installed(_everything_installed(plan), filter_rules_from(
        [Chain(f, t, c, tuple(rules)) for (f, t, c), rules in chains.items()], [Jump(4, "filter", "X", "y")]))
    view = port_view_for(STATE, plan, "iptables_hybrid", "br-int", "vm1port", installed)
    assert [(e.kind, e.text, e.mark) for e in _rule(view, "r-ssh").entries] == [
        ("iptables", "iptables -t filter -A neutron-openvswi-ivm1port -s 10.0.0.0/24 -p tcp -m tcp --dport 22 "
                     "-m comment --comment r-ssh -j RETURN", Mark.MISSING)]
    assert all(e.mark is Mark.INSTALLED for e in _rule(view, "d-in4").entries)
    assert any(e.kind == "iptables" for e in view.spoofing) and any(e.kind == "flow" for e in view.spoofing)


def test_nothing_read_from_the_host_is_marked_unknown_not_missing():
    view = _view(installed=Installed(None, None))
    assert {e.mark for r in view.rules for e in r.entries} == {Mark.UNKNOWN}
    assert "? table=82" in render_port(view).plain


def test_json_carries_every_entry_with_its_mark():
    data = json.loads(json.dumps(port_json(_view())))
    ssh = next(r for r in data["rules"] if r["rule_id"] == "r-ssh")
    assert ssh["entries"][1] == {"kind": "flow", "text": SSH_NEW, "mark": "installed", "packets": 3,
                                 "installed_actions": "", "note": ""}
    assert data["binding"]["local_vlan"] == 5 and data["pairs"][0]["cidr"] == "10.0.0.5/32"


def test_flows_are_read_from_a_dump_with_their_packet_counts():
    dump = (" cookie=0x6e657574, duration=12.5s, table=82, n_packets=42, n_bytes=4200, idle_age=1, "
            "priority=77,ct_state=+new-est,tcp,reg5=0x7,nw_src=10.0.0.0/24,tp_dst=22 "
            "actions=ct(commit,zone=NXM_NX_REG6[0..15]),output:tapvm1port,resubmit(,92)\n"
            "NXST_FLOW reply (xid=0x4):\n")
    [(key, held)] = flows_from_dump(dump).items()
    assert key[:2] == (82, 77) and held == ("ct(commit,zone=NXM_NX_REG6[0..15]),output:tapvm1port,resubmit(,92)", 42)


@pytest.mark.parametrize(("given", "found"), [("vm1port", "vm1port"), ("web1", "vm1port"), ("vm2", "vm2-port")])
def test_a_port_is_found_by_id_name_or_id_prefix(given, found):
    assert find_port_id(STATE, given) == found


@pytest.mark.parametrize(("given", "message"), [("vm", "2 ports match 'vm'"), ("nope", "no port with id or name")])
def test_an_unknown_or_ambiguous_port_is_refused_with_the_reason(given, message):
    with pytest.raises(LookupError, match=message):
        find_port_id(STATE, given)


def test_the_command_is_registered_under_neutrino_show():
    from click.testing import CliRunner

    from neutrino.cli.main import main

    result = CliRunner().invoke(main, ["show", "port", "--help"])
    assert result.exit_code == 0 and "--json" in result.output and "PORT" in result.output
