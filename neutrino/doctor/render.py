"""The doctor's findings and a live check, for people (rich Text, grouped by severity, coloured on a
terminal) and for machines (JSON: schema ``neutrino.doctor/1``; a live check as the ``live`` member of a
``neutrino.trace/1`` answer)."""

from __future__ import annotations

from rich.text import Text

from neutrino.doctor.evidence import HopCheck
from neutrino.doctor.live import LiveResult
from neutrino.trace.render import finding_json, finding_text
from neutrino.trace.result import SEVERITIES, Finding

SCHEMA = "neutrino.doctor/1"
STYLES = {"error": "bold red", "warning": "bold yellow", "info": "bold cyan"}


def doctor_json(host: str, revision: int, findings: tuple[Finding, ...], seconds: float) -> dict:
    return {"schema": SCHEMA, "host": host, "revision": revision, "clean": not findings,
            "counts": {severity: sum(1 for f in findings if f.severity == severity) for severity in SEVERITIES},
            "seconds": round(seconds, 3), "findings": [finding_json(f) for f in findings]}


def render_doctor(host: str, revision: int, findings: tuple[Finding, ...], seconds: float) -> Text:
    out = Text()
    out.append(f"doctor of host {host} at revision {revision} ({seconds:.2f} s)\n", style="bold")
    if not findings:
        out.append("✓ clean: the host runs what the plan says, and the API reports nothing wrong\n", style="green")
        return out
    for severity in SEVERITIES:
        group = [f for f in findings if f.severity == severity]
        if group:
            out.append(f"\n{len(group)} {severity}{'s' if len(group) > 1 else ''}\n", style=STYLES[severity])
            for finding in group:
                finding_text(out, finding)
    return out


# --- a live check ---

def live_json(live: LiveResult) -> dict:
    outcome = live.outcome
    return {
        "probed": outcome is not None, "namespace": live.namespace, "not_probed": live.not_probed,
        "probe": None if outcome is None else {
            "protocol": outcome.protocol, "destination": outcome.destination, "port": outcome.port,
            "sent": outcome.sent, "answered": outcome.answered, "words": outcome.words},
        "agree": live.agree, "message": live.message,
        "checks": [_check_json(check) for check in live.checks],
        "stopped_at": _check_json(live.stopped_at) if live.stopped_at else None,
        "findings": [finding_json(f) for f in live.findings],
    }


def _check_json(check: HopCheck) -> dict:
    hop = check.step.hop
    return {"path": "reply" if check.step.reply else "request", "hop": check.step.number, "host": hop.host,
            "element": hop.element.value, "name": hop.name, "stage": hop.stage, "counter": check.words,
            "packets": check.packets, "installed": check.installed, "planned": check.planned,
            "passed": check.passed}


def render_live(live: LiveResult) -> Text:
    out = Text()
    out.append("\nlive\n", style="bold")
    if live.outcome is None:
        out.append(f"  · {live.message}\n", style="yellow")
        return out
    outcome = live.outcome
    what = f"{outcome.protocol} to {outcome.destination}" + (f" port {outcome.port}" if outcome.port else "")
    out.append(f"  probe from {live.namespace}: {what}, {outcome.sent} sent: {outcome.words}\n")
    out.append(f"  {'✓' if live.agree else '✗'} {live.message}\n", style="green" if live.agree else "bold red")
    if live.checks:
        out.append("  counters during the probe (✓ passed, ✗ fewer than sent, · not counted here):\n", style="dim")
    for check in live.checks:
        _check_text(out, check, check is live.stopped_at)
    for finding in live.findings:
        finding_text(out, finding)
    return out


def _check_text(out: Text, check: HopCheck, stopped: bool) -> None:
    hop = check.step.hop
    mark = "·" if check.passed is None else "✓" if check.passed else "✗"
    path = "reply " if check.step.reply else ""
    where = " ".join(p for p in (hop.host, hop.element.value, hop.name, hop.stage) if p)
    counted = "" if check.packets is None else f": {check.packets} packets"
    flows = f" ({check.installed} of {check.planned} flows installed)" \
        if check.planned is not None and check.installed != check.planned else ""
    style = "bold red" if stopped else ("dim" if check.passed is None else "")
    out.append(f"  {mark} {path}{check.step.number:>2}. {where} — {check.words}{counted}{flows}\n", style=style)
