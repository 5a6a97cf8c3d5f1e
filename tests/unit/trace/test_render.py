"""A Trace as text for people, one line per hop (--summary), and JSON that reads back to the same Trace."""

from __future__ import annotations

import json

from rich.console import Console

from neutrino.trace.render import SCHEMA, render_summary, render_text, trace_from_json, trace_json
from neutrino.trace.resolve import resolve_probe
from neutrino.trace.walk import trace
from tests.unit.trace.topology import HOSTS, cloud


def plain(text) -> str:
    console = Console(width=400, no_color=True, highlight=False, soft_wrap=True, record=True, file=open("/dev/null", "w"))
    console.print(text, end="")
    return console.export_text()


def traced(source="198.51.100.7", destination="203.0.113.10"):
    state = cloud()
    return trace(state, HOSTS, resolve_probe(state, source, destination))


def test_json_has_a_stable_schema_and_reads_back_to_the_same_trace():
    for result in (traced(), traced("web2", "db1")):
        data = json.loads(json.dumps(trace_json(result)))
        assert data["schema"] == SCHEMA
        assert set(data) == {"schema", "probe", "packet", "verdict", "hops", "reply", "findings"}
        assert set(data["verdict"]) == {"reason", "delivered", "message", "objects", "fixes", "admitted"}
        assert set(data["hops"][0]) == {"host", "element", "name", "stage", "matched", "changed", "rewrites", "source"}
        assert trace_from_json(data) == result


def test_text_tells_the_hops_the_verdict_its_objects_and_the_fix():
    text = plain(render_text(traced()))
    assert text.startswith("trace icmp from 198.51.100.7 to 203.0.113.10\npacket icmp 198.51.100.7 > 203.0.113.10")
    assert "changed: DNAT 203.0.113.10 -> 10.0.0.5" in text
    assert "✗ dropped-by-security-group: security group web in project demo-project" in text
    assert "  security_group web (id sg-web, project demo-project)" in text
    assert "  fix: openstack security group rule create --ingress --protocol icmp --remote-ip 198.51.100.7/32 web" in text


def test_summary_is_one_line_per_hop_then_the_verdict_and_the_reply():
    result = traced("web2", "db1")
    lines = plain(render_summary(result)).splitlines()
    assert len(lines) == len(result.hops) + 1 + len(result.reply) + len(result.findings)
    assert lines[0] == "compute2 port tapweb2-port sent: icmp 10.0.0.6 > 10.0.1.7 echo-request from fa:16:3e:00:62:09"
    assert lines[len(result.hops)].startswith("✓ delivered: delivered to port db1")
    assert lines[len(result.hops) + 1].startswith("reply compute2 port tapdb1-port sent: icmp 10.0.1.7 > 10.0.0.6")
    assert lines[-1].startswith("! mtu-mismatch:")
