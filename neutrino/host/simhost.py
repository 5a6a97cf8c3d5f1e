"""Simulated hypervisors on one machine (option B of reference/multi-host.md): the host tests' hosts
(tests/host/fabric.py joins them) and the memo's node of ``neutrino demo``.

A ``SimHost`` is a network + mount + UTS namespace with its own ``ovsdb-server`` and ``ovs-vswitchd``
(userspace datapath), its own ``ip netns`` names (a tmpfs on /run/netns), hostname and state dir.
Everything "on the host" runs through ``nsenter --net --mount --uts``: inside, the per-host
directories are bind-mounted over /run/openvswitch, /etc/openvswitch and /var/log/openvswitch, so
plain ``ovs-vsctl``/``ovs-ofctl`` and the agent reach that host's switch and nothing else.

Every root-visible name (namespaces, the root veth, directories, mounts, the argv of every daemon)
carries the session prefix, so ``leftovers(prefix)`` can prove that teardown removed everything.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

REPO = Path(__file__).resolve().parents[2]  # the cwd of what runs on a host: the package is importable
SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"
OVS_DIRS = {"run": "/run/openvswitch", "etc": "/etc/openvswitch", "log": "/var/log/openvswitch"}
TOOLS = ("ovs-vsctl", "ovs-ofctl", "ovsdb-server", "ovs-vswitchd", "ovsdb-tool", "nsenter", "unshare", "ip")

PASS_BEGINS = "neutrino.agent.loop: pass at revision"  # the agent's debug log: a pass begins

T = TypeVar("T")


class CommandError(AssertionError):
    pass


def sh(argv: list[str], check: bool = True, input: str | None = None, timeout: float = 30.0
       ) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise CommandError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()}")
    return done


def eventually(probe: Callable[[], T], timeout: float = 10.0, interval: float = 0.05, what: str = "") -> T:
    """``probe()``'s first truthy value; fails with the last value seen when ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what or probe!r} (last: {value!r})")
        time.sleep(interval)


def stop_process(process: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM the process group we started with ``start_new_session``, then SIGKILL it."""
    if process.returncode is not None:
        return  # reaped before: its id may be someone else's by now
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    try:  # helpers the process left in its group (e.g. the agent's ovsdb-client monitor)
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def kill_pidfile(path: Path, grace: float = 5.0) -> None:
    """Stop the daemon whose pid ``path`` holds (OVS writes it), and wait until it is gone."""
    try:
        pid = int(path.read_text().strip())
        ours = str(path) in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (FileNotFoundError, ValueError):
        return  # never started, or exited (its pid may be someone else's by now)
    if not ours:
        return
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while is_running(pid):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                deadline += grace
            time.sleep(0.01)
    except ProcessLookupError:
        pass


def is_running(pid: int) -> bool:
    """False once ``pid`` has exited, even while it waits as a zombie for init (which reaps slowly
    here) to collect it: detached daemons are init's children, not ours."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def netns_inode(path: str) -> int:
    return os.stat(path).st_ino


class SimHost:
    """One simulated hypervisor. ``up()`` starts its namespaces and OVS; ``down()`` removes all of it."""

    def __init__(self, name: str, prefix: str, base: Path):
        self.name = name
        self.prefix = prefix
        self.netns = f"{prefix}-{name}"
        self.dir = base / name
        handles = base / "ns"
        self.mnt, self.uts = handles / f"mnt-{name}", handles / f"uts-{name}"
        self.config_path = self.dir / "agent.toml"
        self.agent_log = self.dir / "agent.log"
        self.state_dir = self.dir / "state"
        # dnsmasq reads its files as an unprivileged user, who cannot pass pytest's 0700 temp dirs
        self.dhcp_dir = Path(f"/tmp/{prefix}-{name}-dhcp")
        self.agent: subprocess.Popen | None = None
        self.processes: list[subprocess.Popen] = []
        self.inodes: list[int] = []
        self.private_netns = False  # its /run/netns is its own tmpfs (until then it is the machine's)

    def __repr__(self) -> str:
        return f"SimHost({self.name})"

    # --- running things on the host ---

    def nsenter(self, argv: list[str]) -> list[str]:
        # net + mount + UTS together: entering only the netns would reach the root's OVS (multi-host.md §5.4)
        return ["nsenter", f"--net=/run/netns/{self.netns}", f"--mount={self.mnt}", f"--uts={self.uts}", *argv]

    def run(self, argv: list[str], check: bool = True, input: str | None = None, timeout: float = 30.0
            ) -> subprocess.CompletedProcess:
        return sh(self.nsenter(argv), check=check, input=input, timeout=timeout)

    def popen(self, argv: list[str], **kwargs) -> subprocess.Popen:
        """A background process on the host, stopped by ``down()`` if the test does not wait for it."""
        process = subprocess.Popen(self.nsenter(argv), start_new_session=True, cwd=REPO, **kwargs)
        self.processes.append(process)
        return process

    def in_instance(self, namespace: str, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", namespace, *argv]

    def neutrino(self, *args: str, check: bool = True, timeout: float = 30.0) -> subprocess.CompletedProcess:
        """A ``neutrino`` CLI command on the host with its agent config (plug, unplug, agent --cleanup)."""
        command = [args[0], "--config", str(self.config_path), *args[1:]]
        return self.run([sys.executable, "-m", "neutrino.cli.main", *command], check=check, timeout=timeout)

    # --- lifecycle ---

    def up(self) -> None:
        for sub in (*OVS_DIRS, "state"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self.dhcp_dir.mkdir(exist_ok=True)
        self.dhcp_dir.chmod(0o755)
        sh(["ip", "netns", "add", self.netns])
        self.inodes.append(netns_inode(f"/run/netns/{self.netns}"))
        self.mnt.touch()
        self.uts.touch()
        self._unshare()
        self._prepare_mount_namespace()
        self.run(["ip", "link", "set", "lo", "up"])
        self.run(["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"])
        self.run(["ovsdb-tool", "create", str(self.dir / "etc/conf.db"), SCHEMA])
        self._start_ovsdb()
        self.run(["ovs-vsctl", "--no-wait", "init", "--", "set", "Open_vSwitch", ".",
                  f"external_ids:system-id={self.name}", f"external_ids:hostname={self.name}"])
        self.start_vswitchd()

    def _unshare(self) -> None:
        """The host's mount and UTS namespaces, bound on their handles. Nested in another simulated host
        (``neutrino demo`` inside the all-in-one test), unshare(1)'s bind of the new namespace fails with
        EINVAL when the kernel thinks it could make a loop: it compares namespace ids, and ids come from
        per-CPU batches (kernel 6.18), so a namespace made on one CPU may get a lower id than the older
        one it is made from. Made on each CPU in turn, one succeeds (its ids follow the older one's)."""
        argv = ["unshare", f"--mount={self.mnt}", f"--uts={self.uts}", "--propagation", "private", "true"]
        done = sh(argv, check=False)
        for cpu in sorted(os.sched_getaffinity(0)) * 2:
            if done.returncode == 0 or "Invalid argument" not in done.stderr:
                break
            sh(["umount", str(self.uts)], check=False)  # bound before the mount namespace failed to be
            done = sh(["taskset", "-c", str(cpu), *argv], check=False)
        if done.returncode != 0:
            raise CommandError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()}")

    def adopt(self) -> bool:
        """Take over a host a previous process made (to remove it): True when its namespace exists.
        Its instance namespaces are only touched when its own /run/netns is mounted in its mount ns."""
        path = f"/run/netns/{self.netns}"
        if not Path(path).exists():
            return False
        self.inodes.append(netns_inode(path))
        if self.mnt.exists() and self.uts.exists():
            mounted = sh(["nsenter", f"--mount={self.mnt}", "findmnt", "-rn", "-o", "SOURCE", "/run/netns"],
                         check=False).stdout.split()
            self.private_netns = f"{self.netns}-netns" in mounted
        return True

    def _prepare_mount_namespace(self) -> None:
        def in_mount_ns(argv: list[str]) -> subprocess.CompletedProcess:
            return sh(["nsenter", f"--mount={self.mnt}", f"--uts={self.uts}", *argv])

        in_mount_ns(["hostname", self.name])
        for sub, target in OVS_DIRS.items():
            in_mount_ns(["mount", "--bind", str(self.dir / sub), target])
        # The new mount ns copied every nsfs mount (root's /run/netns/*, other hosts' handles): they
        # would pin those namespaces after their deletion (multi-host.md §5.5).
        for target in in_mount_ns(["findmnt", "-rn", "-t", "nsfs", "-o", "TARGET"]).stdout.split():
            # Not checked: another session on this machine may have deleted its namespace meanwhile.
            sh(["nsenter", f"--mount={self.mnt}", f"--uts={self.uts}", "umount", target], check=False)
        in_mount_ns(["mount", "-t", "tmpfs", f"{self.netns}-netns", "/run/netns"])
        self.private_netns = True

    def _start_ovsdb(self) -> None:
        self.run(["ovsdb-server", str(self.dir / "etc/conf.db"), "--remote=punix:/run/openvswitch/db.sock",
                  f"--pidfile={self.dir / 'run/ovsdb-server.pid'}", "--detach", "--no-chdir",
                  f"--log-file={self.dir / 'log/ovsdb-server.log'}"])

    def start_vswitchd(self) -> None:
        # Not through ovs-ctl: it adds --mlockall and tries to load the kernel module.
        self.run(["ovs-vswitchd", "unix:/run/openvswitch/db.sock", f"--pidfile={self.dir / 'run/ovs-vswitchd.pid'}",
                  "--detach", "--no-chdir", f"--log-file={self.dir / 'log/ovs-vswitchd.log'}"])
        eventually(lambda: self.run(["ovs-appctl", "-t", "ovs-vswitchd", "version"], check=False).returncode == 0,
                   timeout=10, what=f"ovs-vswitchd on {self.name} answers")

    def stop_vswitchd(self) -> None:
        kill_pidfile(self.dir / "run/ovs-vswitchd.pid")

    def restart_vswitchd(self) -> None:
        self.stop_vswitchd()
        self.start_vswitchd()

    def down(self) -> list[str]:
        """Remove everything of this host, whatever state it is in; returns what could not be removed."""
        errors: list[str] = []

        def attempt(what: str, step: Callable[[], object]) -> None:
            try:
                step()
            except (CommandError, OSError, subprocess.SubprocessError) as exc:
                errors.append(f"{self.name}: {what}: {exc}")

        attempt("stop agent", self.stop_agent)
        for process in self.processes:
            attempt(f"stop {process.args}", lambda p=process: stop_process(p, grace=1.0))
        if self.mnt.exists() and self.uts.exists() and self.private_netns:  # never the machine's namespaces
            attempt("remove instance namespaces", self._remove_instance_namespaces)
        for daemon in ("ovs-vswitchd", "ovsdb-server"):
            attempt(f"stop {daemon}", lambda d=daemon: kill_pidfile(self.dir / f"run/{d}.pid"))
        # Only this session starts processes in this host's netns: any still there is a stray of ours
        # (say, the monitor of an agent that crashed).
        for pid in pids_in_netns(self.inodes):
            attempt(f"kill stray {pid}", lambda p=pid: os.kill(p, signal.SIGKILL))
        for handle in (self.mnt, self.uts):
            if handle.exists():
                attempt(f"umount {handle}", lambda h=handle: (sh(["umount", str(h)]), h.unlink()))
        if Path(f"/run/netns/{self.netns}").exists():
            attempt("delete netns", lambda: sh(["ip", "netns", "del", self.netns]))
        shutil.rmtree(self.dhcp_dir, ignore_errors=True)
        return errors

    def _remove_instance_namespaces(self) -> None:
        """Namespaces made inside the host (instances) live in its private /run/netns: kill what runs
        in them, then delete them."""
        for line in self.run(["ip", "netns", "list"]).stdout.splitlines():
            namespace = line.split()[0]
            for pid in self.run(["ip", "netns", "pids", namespace], check=False).stdout.split():
                os.kill(int(pid), signal.SIGKILL)
            self.run(["ip", "netns", "del", namespace])

    # --- the agent ---

    def write_config(self, server_url: str, host_config_toml: str, resync_seconds: float = 1.0) -> None:
        self.config_path.write_text(f"""\
[server]
url = "{server_url}"
auth = "noauth"

[agent]
state_dir = "{self.state_dir}"
dhcp_dir = "{self.dhcp_dir}"
resync_seconds = {resync_seconds}
heartbeat_seconds = 2.0

{host_config_toml}
""")

    def start_agent(self, server_url: str | None = None, host_config_toml: str | None = None,
                    wait: bool = True) -> None:
        """Run ``neutrino -v agent`` inside the host (its log: ``agent_log``); with ``wait``, return
        once it says it has converged. Without arguments, start it again with the config it had."""
        if server_url is not None:
            self.write_config(server_url, host_config_toml or "")
        assert self.agent is None or self.agent.poll() is not None, f"the agent of {self.name} is running"
        converged = self._log_count("converged at revision")
        with open(self.agent_log, "a") as log:
            self.agent = subprocess.Popen(
                self.nsenter([sys.executable, "-m", "neutrino.cli.main", "-v", "agent", "--config",
                              str(self.config_path)]),
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO)
        if wait:
            eventually(lambda: self._agent_says("converged at revision", converged), timeout=20,
                       what=f"the agent of {self.name} converged")

    def stop_agent(self) -> None:
        if self.agent is not None:
            stop_process(self.agent)

    def _log_count(self, text: str) -> int:
        return self.agent_log.read_text().count(text) if self.agent_log.exists() else 0

    def _agent_says(self, text: str, more_than: int) -> bool:
        if self.agent is not None and self.agent.poll() is not None:
            raise AssertionError(f"the agent of {self.name} exited {self.agent.returncode}:\n{self.log_tail()}")
        return self._log_count(text) > more_than

    def wait_for_pass(self, timeout: float = 20.0) -> None:
        """Until a whole agent pass has run from now on: the debug log shows two more passes begin
        (each begins by listing OVSDB), so the first of them has ended."""
        begun = self._log_count(PASS_BEGINS)
        eventually(lambda: self._agent_says(PASS_BEGINS, begun + 1), timeout=timeout,
                   what=f"an agent pass on {self.name}")

    def log_tail(self, lines: int = 40) -> str:
        text = self.agent_log.read_text() if self.agent_log.exists() else ""
        return "\n".join([line for line in text.splitlines() if "httpcore" not in line][-lines:])

    # --- instances ---

    def plug(self, port_id: str, namespace: str, wait: bool = True) -> None:
        """``neutrino plug`` on the host: the real CLI path, as Nova/os-vif would plug a VM."""
        self.neutrino("plug", port_id, "--name", namespace, *(() if wait else ("--no-wait",)))

    def ping(self, namespace: str, address: str, count: int = 1, wait: float = 1.0) -> bool:
        argv = self.in_instance(namespace, ["ping", "-n", "-q", "-c", str(count), "-i", "0.2", "-W", str(wait),
                                            address])
        return self.run(argv, check=False).returncode == 0

    # --- reading the switch ---

    def vsctl(self, *args: str) -> str:
        return self.run(["ovs-vsctl", "--timeout=10", *args]).stdout.strip()

    def tag(self, port: str) -> int | None:
        value = self.vsctl("get", "Port", port, "tag")
        return None if value == "[]" else int(value)

    def flows(self, bridge: str, stats: bool = False) -> list[str]:
        """The bridge's flows as dump-flows prints them, port names unquoted (``in_port=int-br-phys``)."""
        argv = ["ovs-ofctl", "dump-flows", bridge, "--names"] + ([] if stats else ["--no-stats"])
        return [line.strip().replace('"', "") for line in self.run(argv).stdout.splitlines()
                if "actions=" in line]

    def show(self) -> dict:
        """``ovs-vsctl show`` as nested dicts: bridge -> {fail_mode, datapath_type, ports: port ->
        {tag, interfaces: interface -> {type, options}}}."""
        return parse_vsctl_show(self.vsctl("show"))


def standard_host(bridge: str = "br-phys", physnet: str = "physnet1") -> str:
    """A host config with br-int and one physical bridge whose uplink is ``eth1``; the host name is
    left out, so the agent takes the (per-host) hostname, as it would on a real hypervisor."""
    return f"""\
[host]
integration_bridge = "br-int"
bridge_mappings = {{ {physnet} = "{bridge}" }}

[host.bridges.{bridge}]
uplinks = ["eth1"]
"""


def parse_vsctl_show(text: str) -> dict:
    bridges: dict = {}
    bridge = port = interface = None
    for line in text.splitlines():
        depth, content = (len(line) - len(line.lstrip())) // 4, line.strip()
        key, _, value = content.partition(": ")
        if depth == 1 and content.startswith("Bridge "):
            bridge = bridges.setdefault(content.split()[1].strip('"'), {"ports": {}})
        elif depth == 2 and content.startswith("Port "):
            port = bridge["ports"].setdefault(content.split()[1].strip('"'), {"interfaces": {}})
        elif depth == 2 and bridge is not None:
            bridge[key] = value
        elif depth == 3 and content.startswith("Interface "):
            interface = port["interfaces"].setdefault(content.split()[1].strip('"'), {})
        elif depth == 3 and port is not None:
            port[key] = value
        elif depth == 4 and interface is not None:
            interface[key] = value
    return bridges


def pids_in_netns(inodes: list[int]) -> list[int]:
    wanted = {f"net:[{inode}]" for inode in inodes}
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                if os.readlink(proc / "ns/net") in wanted and is_running(int(proc.name)):
                    found.append(int(proc.name))
            except OSError:
                continue  # exited meanwhile
    return found


def leftovers(prefix: str, inodes: list[int]) -> list[str]:
    """Anything of this session still alive: namespaces, links, mounts, processes by argv or netns."""
    found = [f"netns {n}" for n in sh(["ip", "netns", "list"]).stdout.split() if n.startswith(prefix)]
    found += [f"link {line.split(':')[1].strip()}" for line in sh(["ip", "-o", "link"]).stdout.splitlines()
              if prefix in line]
    found += [f"mount {line.split()[4]}" for line in Path("/proc/self/mountinfo").read_text().splitlines()
              if prefix in line]
    wanted = {f"net:[{inode}]" for inode in inodes}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            netns = os.readlink(proc / "ns/net")
        except OSError:
            continue  # exited meanwhile
        if not is_running(int(proc.name)):
            continue
        if prefix in argv or netns in wanted:
            found.append(f"process {proc.name}: {argv.strip()}")
    return found
