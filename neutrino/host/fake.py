"""FakeHost: the Host protocol in memory, so realizer tests need neither root nor mocks.

It answers ``ovs-vsctl`` (host/fake_vsctl.py) on an in-memory OVSDB (host/fake_ovsdb.py) and
``ovs-ofctl`` on flow tables kept as ovs-vswitchd keeps them (host/fake_vswitchd.py; ``cat`` of its pid
file gives a number that a restart changes; ``ip netns list`` finds no namespace), ``iptables-save``
and ``-restore`` (and ip6tables'), ``sysctl``, ``modprobe`` and ``conntrack`` on netfilter state
(host/fake_netfilter.py), and logs every argv it is asked to run in ``commands``. A command outside that
vocabulary raises CommandFailed (rc 127) even with check=False, so a realizer that starts using something
new fails in unit tests until the fake learns it (and tests/host/test_fake_parity.py and
test_iptables_parity.py check what it learnt against the real OVS and iptables). The helpers
do what other actors do to a host: ``plug``/``unplug`` (a hypervisor), ``restart_vswitchd`` (an
upgrade or a crash).
"""

from __future__ import annotations

import json

from neutrino.host.errors import CommandFailed
from neutrino.host.fake_netfilter import (
    BRIDGE_NETFILTER,
    Netfilter,
    ToolFailed,
    run_conntrack,
    run_modprobe,
    run_restore,
    run_save,
    run_sysctl,
)
from neutrino.host.fake_ovsdb import NotModelled, Ovsdb, OvsError
from neutrino.host.fake_vsctl import run_vsctl
from neutrino.host.fake_vswitchd import Decision, Vswitchd, classify, run_ofctl
from neutrino.host.runner import Result

VSWITCHD_PIDFILE = "/run/openvswitch/ovs-vswitchd.pid"  # as realize/openflow.py reads it

NOT_MODELLED = 127  # the shell's "command not found"


class FakeHost:
    def __init__(self):
        self.ovsdb = Ovsdb()
        self.vswitchd = Vswitchd()
        self.commands: list[list[str]] = []
        self.netfilter = {4: Netfilter(4), 6: Netfilter(6)}
        # br_netfilter is in (as on this machine's kernel) with its defaults; clear it to take it out
        self.sysctls = {key: "1" for key in BRIDGE_NETFILTER}
        self.kernel_modules = {"br_netfilter"}  # what modprobe can load
        self.connections: dict[tuple[str, int], int] = {}  # (conntrack family, zone) -> entries
        # The root namespace's own use of its NICs, as ``ip -j addr show`` / ``ip -j [-6] route show default``
        # print it: device -> global addresses ("192.0.2.5/24"), and the default routes (device, gateway).
        self.nic_addresses: dict[str, list[str]] = {}
        self.default_routes: list[tuple[str, str]] = []

    def run(self, argv: list[str], netns: str | None = None, input: str | None = None,
            check: bool = True) -> Result:
        argv = list(argv)
        self.commands.append(argv)
        try:
            if netns is not None:
                raise NotModelled(f"commands inside network namespaces (netns {netns})")
            stdout = self._execute(argv, input)
        except NotModelled as error:
            raise CommandFailed(argv, NOT_MODELLED, f"the fake host does not model {error}") from error
        except OvsError as error:
            stderr = f"{argv[0]}: {error}\n"
            if check:
                raise CommandFailed(argv, 1, stderr) from error
            return Result(1, "", stderr)
        except ToolFailed as error:
            if check:
                raise CommandFailed(argv, error.rc, error.stderr) from error
            return Result(error.rc, "", error.stderr)
        return Result(0, stdout, "")

    def _execute(self, argv: list[str], input: str | None) -> str:
        program, args = argv[0], argv[1:]
        if program == "ovs-vsctl":
            self.ovsdb, stdout = run_vsctl(self.ovsdb, args)
            self.vswitchd.reconfigure(self.ovsdb)
            return stdout
        if program == "ovs-ofctl":
            return run_ofctl(self.vswitchd, self.ovsdb, args, input)
        if program in ("iptables-save", "ip6tables-save"):
            return run_save(self.netfilter[6 if program.startswith("ip6") else 4], args)
        if program in ("iptables-restore", "ip6tables-restore"):
            return run_restore(self.netfilter[6 if program.startswith("ip6") else 4], args, input)
        if program == "sysctl":
            return run_sysctl(self.sysctls, args)
        if program == "modprobe":
            return run_modprobe(self.sysctls, self.kernel_modules, args)
        if program == "conntrack":
            return run_conntrack(self.connections, args)
        if argv == ["cat", VSWITCHD_PIDFILE]:
            return f"{self.vswitchd.pid}\n"
        if argv == ["ip", "netns", "list"]:
            return ""  # a host without network namespaces: routers and DHCP servers are tested on real ones
        if argv == ["ip", "-j", "addr", "show"]:
            return json.dumps([{"ifname": device, "addr_info": [
                {"local": a.split("/")[0], "prefixlen": int(a.split("/")[1]), "scope": "global"} for a in addresses]}
                for device, addresses in self.nic_addresses.items()])
        if argv in (["ip", "-j", "route", "show", "default"], ["ip", "-6", "-j", "route", "show", "default"]):
            version = 6 if "-6" in argv else 4
            return json.dumps([{"dst": "default", "gateway": gateway, "dev": device}
                               for device, gateway in self.default_routes if (":" in gateway) == (version == 6)])
        raise NotModelled(f"the program {program!r}")

    # --- what others do to the host ------------------------------------------------------------------

    def plug(self, bridge: str, name: str, iface_id: str, mac: str) -> None:
        """Plug a VM's tap as Nova/os-vif does: a device, and an OVS port whose Interface names the API port."""
        self.vswitchd.devices.add(name)
        self._execute(["ovs-vsctl", "--", "add-port", bridge, name,
                       "--", "set", "Interface", name, f"external_ids:iface-id={iface_id}",
                       f"external_ids:attached-mac={mac}", "external_ids:iface-status=active"], None)

    def unplug(self, name: str) -> None:
        """The VM is gone: its device disappears and the hypervisor removes the OVS port."""
        self.vswitchd.devices.discard(name)
        self._execute(["ovs-vsctl", "--", "--if-exists", "del-port", name], None)

    def restart_vswitchd(self) -> None:
        """ovs-vswitchd restarts: all flows are lost; bridges and ports come back from OVSDB."""
        self.vswitchd.restart(self.ovsdb)

    def classify(self, bridge: str, table: int, packet: str) -> Decision | None:
        """The flow of ``table`` that the switch applies to ``packet``, written as ``ovs-appctl
        ofproto/trace`` reads one (``ct_state=new|trk,tcp,reg5=7,nw_src=10.0.0.6,tp_dst=22``); not logged."""
        return classify(self.vswitchd, self.ovsdb, bridge, table, packet)

    def flow_lines(self, bridge: str) -> list[str]:
        """The bridge's flows as ``ovs-ofctl dump-flows BR --no-stats --names`` prints them (not logged)."""
        return self._execute(["ovs-ofctl", "dump-flows", bridge, "--no-stats", "--names"], None).splitlines()
