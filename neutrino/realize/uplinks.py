"""The safety check before an uplink NIC is put on a physical bridge: a NIC that carries the host's own
address or its default route is refused unless its bridge says ``force_uplinks = true``.

Adding such a NIC to an OVS bridge cuts the host off at once: its address stops working on the NIC and
its default route leaves through nothing (the address belongs on the bridge's internal port instead).
The check reads the root namespace of the host only when the plan adds an uplink that OVS does not hold
yet, so a converged host pays nothing for it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from neutrino.host.runner import Host
from neutrino.model.host_config import HostConfig
from neutrino.plan.host_plan import HostPlan
from neutrino.realize.ovsdb import ObservedOvs


@dataclass(frozen=True)
class NicUse:
    """What the host itself uses of its NICs: global addresses per device, default routes' devices."""

    addresses: tuple[tuple[str, str], ...] = ()  # (device, "192.0.2.5/24")
    default_routes: tuple[tuple[str, str], ...] = ()  # (device, "default via 192.0.2.1")


@dataclass(frozen=True)
class Uplink:
    bridge: str
    port: str  # the OVS port: the NIC, or the bond of several
    nics: tuple[str, ...]
    forced: bool


@dataclass(frozen=True)
class Refusal:
    uplink: Uplink
    nic: str
    uses: tuple[str, ...]  # "address 192.0.2.5/24", "default via 192.0.2.1"

    def message(self) -> str:
        return (f"refusing to add uplink {self.nic} to bridge {self.uplink.bridge}: the host uses it "
                f"({'; '.join(self.uses)}), and a NIC on an OVS bridge loses them; move them to the bridge or "
                f"set [host.bridges.{self.uplink.bridge}] force_uplinks = true to take it over anyway")


def uplinks_of(config: HostConfig) -> tuple[Uplink, ...]:
    return tuple(Uplink(b.name, b.bond or b.uplinks[0], b.uplinks, b.force_uplinks)
                 for b in config.mapped_bridges if b.uplinks)


def refusals(uplinks: tuple[Uplink, ...], use: NicUse) -> tuple[Refusal, ...]:
    """The uplinks' NICs that carry a global address or a default route, unless their bridge forces them."""
    found = []
    for uplink in uplinks:
        if uplink.forced:
            continue
        for nic in uplink.nics:
            uses = [f"address {a}" for device, a in use.addresses if device == nic]
            uses += [route for device, route in use.default_routes if device == nic]
            if uses:
                found.append(Refusal(uplink, nic, tuple(uses)))
    return tuple(found)


def nic_use_from(addr_json: str, route_jsons: list[str]) -> NicUse:
    """NicUse from ``ip -j addr show`` and ``ip -j [-6] route show default``."""
    addresses = tuple((link["ifname"], f"{a['local']}/{a['prefixlen']}") for link in json.loads(addr_json or "[]")
                      for a in link.get("addr_info", ()) if a.get("scope") == "global")
    hops = [hop for text in route_jsons for route in json.loads(text or "[]")
            for hop in (route.get("nexthops") or [route])]  # a multipath default route: each next hop
    routes = tuple((hop["dev"], "default" + (f" via {hop['gateway']}" if hop.get("gateway") else "")
                    + f" dev {hop['dev']}") for hop in hops if hop.get("dev"))
    return NicUse(addresses, routes)


def observe_nic_use(host: Host) -> NicUse:
    addr = host.run(["ip", "-j", "addr", "show"]).stdout
    routes = [host.run(["ip", *family, "-j", "route", "show", "default"]).stdout for family in ([], ["-6"])]
    return nic_use_from(addr, routes)


def guard_uplinks(host: Host, config: HostConfig, plan: HostPlan, observed: ObservedOvs
                  ) -> tuple[HostPlan, list[str]]:
    """The plan without the uplinks it must not add, and an error naming each refused NIC. Uplinks OVS
    already holds are left alone (never removed by this check); the host is read only if one is new."""
    new = tuple(u for u in uplinks_of(config) if u.port not in observed.ports)
    if not any(not u.forced for u in new):
        return plan, []
    refused = refusals(new, observe_nic_use(host))
    if not refused:
        return plan, []
    dropped = {(r.uplink.bridge, r.uplink.port) for r in refused}
    kept = tuple(p for p in plan.ports if (p.bridge, p.name) not in dropped)
    return replace(plan, ports=kept), [r.message() for r in refused]
