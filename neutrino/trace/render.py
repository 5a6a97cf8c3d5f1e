"""A Trace for people (rich Text: coloured on a terminal, plain otherwise), one line per hop (``--summary``, as
ovn-trace's), and as JSON (schema ``neutrino.trace/1``: the API's answer; ``trace_from_json`` reads it back).
"""

from __future__ import annotations

from rich.text import Text

from neutrino.trace.packet import Endpoint, EndpointKind, Packet, Probe, Protocol
from neutrino.trace.result import Admitted, Element, Finding, Hop, ObjectRef, Reason, Rewrite, Trace, Verdict

SCHEMA = "neutrino.trace/1"


# --- JSON ---

def trace_json(trace: Trace) -> dict:
    return {
        "schema": SCHEMA,
        "probe": {"source": _endpoint_json(trace.probe.source), "destination": _endpoint_json(trace.probe.destination),
                  "protocol": trace.probe.protocol.value, "port": trace.probe.port},
        "packet": _packet_json(trace.packet),
        "verdict": _verdict_json(trace.verdict),
        "hops": [_hop_json(hop) for hop in trace.hops],
        "reply": [_hop_json(hop) for hop in trace.reply],
        "findings": [finding_json(f) for f in trace.findings],
    }


def finding_json(finding: Finding) -> dict:
    return {"code": finding.code, "severity": finding.severity, "message": finding.message,
            "objects": [_ref_json(o) for o in finding.objects], "host": finding.host, "element": finding.element,
            "planned": finding.planned, "found": finding.found, "cause": finding.cause, "fix": finding.fix}


def finding_from_json(data: dict) -> Finding:
    return Finding(data["code"], data["message"], tuple(_ref(o) for o in data["objects"]),
                   data.get("severity", "warning"), data.get("host", ""), data.get("element", ""),
                   data.get("planned", ""), data.get("found", ""), data.get("cause", ""), data.get("fix", ""))


def trace_from_json(data: dict) -> Trace:
    """The Trace a ``trace_json`` answer describes (what the CLI renders from the server's answer)."""
    if data.get("schema") != SCHEMA:
        raise ValueError(f"not a {SCHEMA} answer: schema {data.get('schema')!r}")
    probe = data["probe"]
    verdict = data["verdict"]
    return Trace(
        probe=Probe(_endpoint(probe["source"]), _endpoint(probe["destination"]), Protocol(probe["protocol"]),
                    probe["port"]),
        packet=Packet(data["packet"]["source"], data["packet"]["destination"], Protocol(data["packet"]["protocol"]),
                      data["packet"]["port"]),
        hops=tuple(_hop(h) for h in data["hops"]),
        verdict=Verdict(Reason(verdict["reason"]), verdict["message"], tuple(_ref(o) for o in verdict["objects"]),
                        tuple(verdict["fixes"]), tuple(_admitted(a) for a in verdict["admitted"])),
        reply=tuple(_hop(h) for h in data["reply"]),
        findings=tuple(finding_from_json(f) for f in data["findings"]),
    )


def _endpoint_json(endpoint: Endpoint) -> dict:
    return {"kind": endpoint.kind.value, "address": endpoint.address, "port_id": endpoint.port_id,
            "floating_ip_id": endpoint.floating_ip_id, "given": endpoint.given}


def _endpoint(data: dict) -> Endpoint:
    return Endpoint(EndpointKind(data["kind"]), data["address"], data["port_id"], data["floating_ip_id"], data["given"])


def _packet_json(packet: Packet) -> dict:
    return {"source": packet.source, "destination": packet.destination, "protocol": packet.protocol.value,
            "port": packet.port}


def _hop_json(hop: Hop) -> dict:
    return {"host": hop.host, "element": hop.element.value, "name": hop.name, "stage": hop.stage,
            "matched": hop.matched, "changed": hop.changed,
            "rewrites": [{"field": r.field, "old": r.old, "new": r.new, "undone": r.undone} for r in hop.rewrites],
            "source": hop.source}


def _hop(data: dict) -> Hop:
    return Hop(data["host"], Element(data["element"]), data["name"], data["stage"], data["matched"],
               tuple(Rewrite(r["field"], r["old"], r["new"], r["undone"]) for r in data["rewrites"]), data["source"])


def _ref_json(ref: ObjectRef) -> dict:
    return {"type": ref.type, "id": ref.id, "name": ref.name, "project_id": ref.project_id}


def _ref(data: dict) -> ObjectRef:
    return ObjectRef(data["type"], data["id"], data["name"], data["project_id"])


def _verdict_json(verdict: Verdict) -> dict:
    return {"reason": verdict.reason.value, "delivered": verdict.delivered, "message": verdict.message,
            "objects": [_ref_json(o) for o in verdict.objects], "fixes": list(verdict.fixes),
            "admitted": [{"port_id": a.port_id, "direction": a.direction, "rule_id": a.rule_id,
                          "security_group": _ref_json(a.group) if a.group else None, "words": a.words}
                         for a in verdict.admitted]}


def _admitted(data: dict) -> Admitted:
    group = data["security_group"]
    return Admitted(data["port_id"], data["direction"], data["rule_id"], _ref(group) if group else None, data["words"])


# --- text ---

def render_text(trace: Trace) -> Text:
    out = Text()
    out.append(f"trace {trace.probe.text()}\n", style="bold")
    out.append(f"packet {trace.packet.text()}\n\n")
    for number, hop in enumerate(trace.hops, 1):
        _hop_text(out, number, hop)
    _verdict_text(out, trace.verdict)
    if trace.reply:
        out.append("\nreply\n", style="bold")
        for number, hop in enumerate(trace.reply, 1):
            _hop_text(out, number, hop)
    _findings_text(out, trace.findings)
    return out


def render_summary(trace: Trace) -> Text:
    """One line per hop, then the verdict (and the reply's hops, marked ``reply``)."""
    out = Text()
    for hop in trace.hops:
        out.append(_summary_line(hop) + "\n")
    out.append(f"{_mark(trace.verdict)} {trace.verdict.reason}: {trace.verdict.message}\n",
               style=_verdict_style(trace.verdict))
    for fix in trace.verdict.fixes:
        out.append(f"fix: {fix}\n")
    for hop in trace.reply:
        out.append("reply " + _summary_line(hop) + "\n", style="dim")
    for finding in trace.findings:
        out.append(f"! {finding.code}: {finding.message}\n", style="yellow")
    return out


def _summary_line(hop: Hop) -> str:
    where = " ".join(part for part in (hop.host, hop.element.value, hop.name) if part)
    changed = f" [{hop.changed}]" if hop.changed else ""
    return f"{where} {hop.stage}: {hop.matched}{changed}"


def _hop_text(out: Text, number: int, hop: Hop) -> None:
    out.append(f"{number:3}. ", style="dim")
    if hop.host:
        out.append(f"{hop.host} ", style="bold")
    out.append(f"{hop.element.value} {hop.name} ")
    out.append(f"{hop.stage}\n", style="cyan")
    out.append(f"     {hop.matched}\n")
    if hop.rewrites:
        out.append(f"     changed: {hop.changed}\n", style="yellow")
    if hop.source:
        out.append(f"     from {hop.source}\n", style="dim")


def _verdict_text(out: Text, verdict: Verdict) -> None:
    out.append(f"\n{_mark(verdict)} {verdict.reason}", style="bold " + _verdict_style(verdict))
    out.append(f": {verdict.message}\n")
    for ref in verdict.objects:
        project = f", project {ref.project_id}" if ref.project_id else ""
        out.append(f"  {ref.type} {ref.name or ref.id} (id {ref.id}{project})\n")
    for admitted in verdict.admitted:
        rule = f"rule {admitted.rule_id}" if admitted.rule_id else "no rule needed"
        group = f" of {admitted.group.name or admitted.group.id}" if admitted.group else ""
        out.append(f"  {admitted.direction} of port {admitted.port_id}: {rule}{group} ({admitted.words})\n")
    for fix in verdict.fixes:
        out.append("  fix: ", style="bold")
        out.append(f"{fix}\n", style="green")


def _findings_text(out: Text, findings: tuple[Finding, ...]) -> None:
    if findings:
        out.append("\nfindings\n", style="bold")
    for finding in findings:
        finding_text(out, finding)


def finding_text(out: Text, finding: Finding, indent: str = "  ") -> None:
    """A finding's line, then where, planned against found, the cause and the fix when it has them."""
    style = {"error": "red", "info": "cyan"}.get(finding.severity, "yellow")
    out.append(f"{indent}! {finding.code}: ", style=style)
    out.append(f"{finding.message}\n")
    for label, value in (("where", " ".join(p for p in (finding.host, finding.element) if p)),
                         ("planned", finding.planned), ("found", finding.found), ("cause", finding.cause)):
        if value:
            out.append(f"{indent}    {label}: ", style="dim")
            out.append(f"{value}\n")
    if finding.fix:
        out.append(f"{indent}    fix: ", style="bold")
        out.append(f"{finding.fix}\n", style="green")


def _mark(verdict: Verdict) -> str:
    return "✓" if verdict.delivered else "✗"


def _verdict_style(verdict: Verdict) -> str:
    return "green" if verdict.delivered else "red"
