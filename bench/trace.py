"""Trace and doctor benchmark (issue 6): prints a table, asserts nothing.

    .venv/bin/python bench/trace.py [--sizes 100,1000,10000] [--samples 50] [--doctor-ports 1000]
        [--real-doctor /path/to/agent.toml]

1. trace latency, model only (``resolve_probe`` + ``trace``: what POST /neutrino/v1/trace does after its
   snapshot): p50/p95 on generated topologies of 100, 1,000 and 10,000 ports, 1,000 security groups of 10
   rules each (7 tcp from prefixes, icmp from the group's own members, udp/53 from a prefix, egress anywhere),
   a VLAN network per 200 ports, 20 hosts. Half the probes are admitted (tcp/1000), half dropped (tcp/4444),
   between ports of one network on different hosts (so the walk crosses the provider VLAN).
2. the doctor's pure part over one host holding 1,000 ports (all plugged, OVS firewall): ``build_plan`` and
   then ``findings_for`` + ``deployment_findings_for`` against a synthetic observation of the host as the
   agent leaves it (tests/unit/doctor/deployment.healthy), and once more with 10 ports' flows gone.
3. optional (``--real-doctor CONFIG``): ``neutrino doctor --config CONFIG`` run for real, timed.

Targets (issue 6): trace p50 <= 50 ms at 10,000 ports; doctor over 1,000 ports <= 5 s.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from neutrino.doctor.deployment import deployment_findings_for  # noqa: E402
from neutrino.doctor.findings import Context, findings_for  # noqa: E402
from neutrino.model import names  # noqa: E402
from neutrino.model.resources import (  # noqa: E402
    Agent,
    FixedIp,
    Network,
    Port,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
)
from neutrino.model.state import ApiState  # noqa: E402
from neutrino.plan.build import build_plan  # noqa: E402
from neutrino.plan.facts import HostFacts, PluggedPort  # noqa: E402
from neutrino.trace.resolve import resolve_probe  # noqa: E402
from neutrino.trace.walk import trace  # noqa: E402
from tests.unit.doctor.deployment import healthy  # noqa: E402
from tests.unit.seed import SEED  # noqa: E402

GROUPS = 1000
PORTS_PER_NETWORK = 200
HOSTS = 20
AGENT_TYPES = ("Open vSwitch agent", "L3 agent", "DHCP agent")


def group(index: int) -> SecurityGroup:
    gid = f"sg-{index}"
    rules = tuple(SecurityGroupRule(f"r-{index}-{i}", gid, "ingress", "IPv4", "tcp", 1000 + i, 1000 + i,
                                    f"10.{i}.0.0/16") for i in range(7))
    rules += (SecurityGroupRule(f"r-{index}-icmp", gid, "ingress", "IPv4", "icmp", remote_group_id=gid),
              SecurityGroupRule(f"r-{index}-dns", gid, "ingress", "IPv4", "udp", 53, 53, "10.0.0.0/8"),
              SecurityGroupRule(f"r-{index}-out", gid, "egress"))
    return SecurityGroup(gid, f"g{index}", "bench", rules=rules)


def topology(n_ports: int, hosts: int = HOSTS, seed: int = 1) -> ApiState:
    """``n_ports`` instance ports on ``hosts`` hosts, a VLAN network per 200 ports, 1,000 groups."""
    pick = random.Random(seed)
    n_nets = max(1, n_ports // PORTS_PER_NETWORK)
    networks = {f"net-{k}": Network(f"net-{k}", f"n{k}", "bench", network_type="vlan", physical_network="physnet1",
                                    segmentation_id=100 + k % 3000) for k in range(n_nets)}
    subnets = {f"sub-{k}": Subnet(f"sub-{k}", f"net-{k}", f"10.{k // 250}.{k % 250}.0/24", gateway_ip=None,
                                 enable_dhcp=False)
               for k in range(n_nets)}
    ports = {}
    for i in range(n_ports):
        k = i % n_nets
        ports[f"port-{i}"] = Port(
            f"port-{i}", f"net-{k}", f"fa:16:3e:{i >> 16:02x}:{(i >> 8) & 255:02x}:{i & 255:02x}", name=f"vm{i}",
            project_id="bench", status="ACTIVE", vif_type="ovs", host_id=f"h{i % hosts}",
            fixed_ips=(FixedIp(f"sub-{k}", f"10.{k // 250}.{k % 250}.{2 + i // n_nets}"),),
            security_groups=(f"sg-{pick.randrange(GROUPS)}",))
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    agents = {f"a-{h}-{t}": Agent(f"a-{h}-{t}", f"h{h}", t, True, now) for h in range(hosts) for t in AGENT_TYPES}
    return ApiState(1, networks, subnets, ports, {f"sg-{g}": group(g) for g in range(GROUPS)},
                    agents)


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000


def bench_trace(n_ports: int, samples: int) -> tuple[float, float, dict[str, int]]:
    state = topology(n_ports)
    hosts = {f"h{h}": replace(SEED, host=f"h{h}") for h in range(HOSTS)}
    n_nets = max(1, n_ports // PORTS_PER_NETWORK)
    pick = random.Random(2)
    times, verdicts = [], {}
    for sample in range(samples):
        a = pick.randrange(n_ports)
        b = a + n_nets if a + n_nets < n_ports else a - n_nets  # same network, the next host
        port = 1000 if sample % 2 == 0 else 4444  # tcp/1000 from 10.0.0.0/16: every source
        started = time.perf_counter()
        result = trace(state, hosts, resolve_probe(state, f"port-{a}", f"port-{b}", "tcp", port))
        times.append(time.perf_counter() - started)
        verdicts[str(result.verdict.reason)] = verdicts.get(str(result.verdict.reason), 0) + 1
    p50, p95 = percentiles(times)
    return p50, p95, verdicts


def bench_doctor(n_ports: int, repeat: int = 3) -> list[tuple[str, float, int]]:
    """build_plan, and findings over a healthy and a spoiled observation, on a host holding every port."""
    state = topology(n_ports, hosts=1)
    config = replace(SEED, host="h0")
    facts = HostFacts(plugged=tuple(PluggedPort(names.tap_name(p.id), "br-int", p.id, p.mac_address, 10 + i)
                                    for i, p in enumerate(state.ports.values())))
    context = Context(state, config, datetime.now(UTC), heartbeat_seconds=10.0)
    rows = []
    plan_times, healthy_times, spoiled_times = [], [], []
    for _ in range(repeat):
        started = time.perf_counter()
        plan = build_plan(state, config, facts)
        plan_times.append(time.perf_counter() - started)
        observed = healthy(plan)
        started = time.perf_counter()
        found = findings_for(plan, observed, context) + deployment_findings_for(state)
        healthy_times.append(time.perf_counter() - started)
        healthy_count = len(found)
        gone = {f"reg5={10 + i:#x}" for i in range(10)}
        flows = {bridge: [f for f in have if not any(g in f.flow.match for g in gone)] if have else have
                 for bridge, have in observed.flows.items()}
        spoiled = replace(observed, flows=flows)
        started = time.perf_counter()
        spoiled_found = findings_for(plan, spoiled, context) + deployment_findings_for(state)
        spoiled_times.append(time.perf_counter() - started)
    n_flows = sum(len(plan.flows_of(b.name)) for b in plan.bridges)
    rows.append((f"build_plan ({n_flows} flows)", statistics.median(plan_times), 0))
    rows.append(("findings, healthy host", statistics.median(healthy_times), healthy_count))
    rows.append(("findings, 10 ports' flows gone", statistics.median(spoiled_times), len(spoiled_found)))
    rows.append(("doctor's pure part (plan + findings)", statistics.median(plan_times) +
                 statistics.median(spoiled_times), len(spoiled_found)))
    return rows


def real_doctor(config: str) -> tuple[float, int]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "neutrino.cli.main", "doctor", "--config", config, "--json"],
                          cwd=ROOT, capture_output=True, text=True)
    return time.perf_counter() - started, done.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--doctor-ports", type=int, default=1000)
    parser.add_argument("--real-doctor", metavar="CONFIG")
    args = parser.parse_args()

    print(f"trace latency, model only ({GROUPS} groups x 10 rules, {HOSTS} hosts, {args.samples} probes each)")
    print(f"{'ports':>8}  {'p50 ms':>8}  {'p95 ms':>8}  verdicts")
    for size in (int(s) for s in args.sizes.split(",")):
        p50, p95, verdicts = bench_trace(size, args.samples)
        print(f"{size:>8}  {p50:>8.2f}  {p95:>8.2f}  {verdicts}", flush=True)
    print(f"\ndoctor, pure part, one host with {args.doctor_ports} ports (median of 3)")
    print(f"{'step':<42}  {'seconds':>8}  findings")
    for what, seconds, count in bench_doctor(args.doctor_ports):
        print(f"{what:<42}  {seconds:>8.3f}  {count}", flush=True)
    if args.real_doctor:
        seconds, status = real_doctor(args.real_doctor)
        print(f"\nneutrino doctor (real host): {seconds:.2f} s, exit status {status}")


if __name__ == "__main__":
    main()
