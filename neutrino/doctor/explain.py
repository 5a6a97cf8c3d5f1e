"""What a live probe's counters say (PURE): the model and the probe disagree, or where the packets stopped and
what that points at, within neutrino (flows missing, a firewall or router that did not pass them) or
beyond it (they left by the uplink and nothing came back; a FORWARD rule that is not neutrino's).

Codes (stable): live-model-disagrees, live-flows-missing, live-stopped, live-outside-neutrino,
live-not-localized, live-foreign-forward-rule, live-path-mtu (live.py).
"""

from __future__ import annotations

from neutrino.doctor.evidence import Counters, FlowCounter, HopCheck
from neutrino.doctor.objects import AGENT_FIX
from neutrino.trace.result import Element, Finding, Trace

DRIFT = "the host does not run what the plan says: the agent is stopped or its passes fail, and something " \
        "removed them behind its back (neutrino doctor lists every difference)"


def explanations_for(model: Trace, outcome, checks, stop: HopCheck | None, before: Counters, after: Counters,
                     host: str) -> list[Finding]:
    verdict = model.verdict
    if outcome.answered and not verdict.delivered:
        message = f"the probe got an answer ({outcome.words}) though the model says {verdict.reason.value}: " \
                  f"{verdict.message}"
        cause = "the host does not run what the plan says (a change the agent has not applied yet, or drift behind " \
                "its back: neutrino doctor lists the differences), or the model misses a path"
        return [Finding("live-model-disagrees", message, (), "error", host, "", verdict.reason.value, outcome.words,
                        cause, AGENT_FIX)]
    if outcome.answered or not model.verdict.delivered:
        return []
    found = _forward_findings(before, after, host)
    if stop is not None:
        return [_stop_finding(stop, checks, outcome, host)] + found
    return [_unlocalized(checks, outcome, host)] + found


def _stop_finding(stop: HopCheck, checks: list[HopCheck], outcome, host: str) -> Finding:
    hop, step = stop.step.hop, stop.step
    path = "reply" if step.reply else "request"
    where = f"{path} hop {step.number}: {' '.join(p for p in (hop.element.value, hop.name, hop.stage) if p)}"
    passed = _last_passed(checks, stop)
    before = f"; it passed {path if passed and passed.step.reply == step.reply else 'the request'} hop " \
             f"{passed.step.number} ({passed.words})" if passed else ""
    counted = f"{stop.packets} of the {outcome.sent} packets sent"
    planned, installed = stop.planned or 0, stop.installed
    if isinstance(step.counter, FlowCounter) and installed is not None and installed < planned:
        message = f"the packets stop at {where}: {planned - installed} of the {planned} flows the plan puts " \
                  f"there are not installed{before}"
        return Finding("live-flows-missing", message, (), "error", host, where, f"{planned} flows ({stop.words})",
                       f"{installed} installed; {counted} counted", DRIFT, AGENT_FIX)
    if hop.element is Element.FABRIC:
        return _outside(stop, host, where, counted, coming_back=True)
    return Finding("live-stopped", f"the packets stop at {where} ({stop.words}: {counted}){before}", (), "error",
                   host, where, f"{outcome.sent} packets pass", counted, _cause_at(stop), "")


def _cause_at(stop: HopCheck) -> str:
    hop = stop.step.hop
    if hop.element is Element.FIREWALL:
        return ("its flows are installed as planned but did not pass them: conntrack may hold an older state of "
                "the connection (marked no longer allowed), or the packet is not the one modelled (another "
                "source MAC or address)")
    if hop.element is Element.NAMESPACE:
        return ("the router did not take or forward them: a leg without its address or down, a route or the NAT "
                "table not as planned (see the doctor's findings on the namespace), or the kernel's own "
                "filtering in the namespace")
    if hop.element is Element.PORT and hop.stage == "sent":
        return ("the instance did not send them: its own configuration (address, route), or nothing answered "
                "its ARP for the next hop")
    if hop.element is Element.PORT:
        return "they were not handed to the instance's device: its tag, or the flows before it (see the doctor)"
    return "the flow before it did not pass them on (a tag or a flow not as planned: see the doctor's findings)"


def _unlocalized(checks: list[HopCheck], outcome, host: str) -> Finding:
    passed = [check for check in checks if check.passed]
    last = passed[-1] if passed else None
    if last is not None and last.step.hop.element is Element.FABRIC and last.step.counter is not None \
            and last.step.counter.direction == "tx" and not last.step.reply:
        return _outside(last, host, f"request hop {last.step.number}", f"{last.packets} frames left", False)
    message = f"every hop this host can count passed the packets, yet no answer came back ({outcome.words}): the " \
              "loss is where this host cannot see"
    cause = "a hop on another host (run neutrino doctor and trace --live there), or the instances themselves (a " \
            "firewall inside them, nothing listening)"
    return Finding("live-not-localized", message, (), "error", host, "", "", f"{len(passed)} counted hops passed",
                   cause, "")


def _outside(check: HopCheck, host: str, where: str, counted: str, coming_back: bool) -> Finding:
    hop = check.step.hop
    segment = hop.stage
    devices = ", ".join(check.step.counter.devices) if check.step.counter else "its uplink"
    origin, _, target = hop.matched.partition(" -> ")
    beyond = "the outside (its route back to the sender's address)" if "outside" in (origin, target) else \
        f"host {target if origin == host else origin} (run neutrino doctor and trace --live there)"
    what = f"no reply came back in by {devices}" if coming_back else \
        f"the packets left {host} by {devices}, and nothing came back"
    return Finding("live-outside-neutrino", f"the evidence points outside neutrino: {what} ({segment})",
                   (), "error", host, where, f"frames on {segment} both ways", counted,
                   f"beyond this host: the fabric (does the upstream switch carry {segment}?), or {beyond}", "")


def _last_passed(checks: list[HopCheck], stop: HopCheck) -> HopCheck | None:
    before = checks[:checks.index(stop)]
    return next((check for check in reversed(before) if check.passed), None)


def _forward_findings(before: Counters, after: Counters, host: str) -> list[Finding]:
    found = []
    for rule, packets in sorted(after.forward.items()):
        counted = packets - before.forward.get(rule, packets)
        if counted <= 0:
            continue
        policy = rule.startswith("policy")
        fix = "iptables -P FORWARD ACCEPT" if policy else "iptables " + rule.replace("-A ", "-D ", 1)
        cause = "a host firewall that is not neutrino's drops forwarded traffic (bridged frames cross FORWARD " \
                "when br_netfilter is on, as iptables_hybrid needs)"
        found.append(Finding("live-foreign-forward-rule", f"a FORWARD {rule} that is not neutrino's counted "
                                                          f"{counted} packets during the probe",
                             (), "warning", host, "iptables filter FORWARD",
                             "no rule of others drops what neutrino forwards", f"{rule}: {counted} packets", cause,
                             fix))
    return found
