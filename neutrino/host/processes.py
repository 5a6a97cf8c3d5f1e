"""Long-running processes the agent starts and supervises (dnsmasq): the one door to them, as runner.py is
to commands.

``RealProcesses`` starts each in a session of its own, so an agent that stops or restarts leaves it running
(the next agent finds it by its pid file and its command line), reaps the ones it started when they exit,
and reads /proc. ``FakeProcesses`` keeps a table, for unit tests.
"""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)


class Processes(Protocol):
    def spawn(self, argv: list[str], log_path: Path | None = None) -> int:
        """Start ``argv`` in the background (output to ``log_path``); its pid."""

    def command_line(self, pid: int) -> tuple[str, ...] | None:
        """The argv ``pid`` runs, or None when no process has that pid (an exited one included)."""

    def signal(self, pid: int, signum: int) -> None:
        """Send ``signum``; nothing when the process is gone."""


class RealProcesses:
    def __init__(self):
        self._children: dict[int, subprocess.Popen] = {}

    def spawn(self, argv: list[str], log_path: Path | None = None) -> int:
        log.debug("spawn: %s", " ".join(argv))
        with open(log_path, "ab") if log_path else open(os.devnull, "wb") as output:
            child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                                     start_new_session=True, close_fds=True)
        self._children[child.pid] = child
        return child.pid

    def command_line(self, pid: int) -> tuple[str, ...] | None:
        self._reap()
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            return None
        if state in ("Z", "X") or not raw:
            return None  # exited, not yet collected by whoever started it
        return tuple(raw.decode(errors="replace").rstrip("\0").split("\0"))

    def signal(self, pid: int, signum: int) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    def _reap(self) -> None:
        """Collect the children that exited, so their pids do not linger as zombies."""
        for pid, child in list(self._children.items()):
            if child.poll() is not None:
                del self._children[pid]


class FakeProcesses:
    """Processes as a table: ``running`` maps pid -> argv; ``signals`` records what was sent."""

    def __init__(self, first_pid: int = 1000):
        self.running: dict[int, tuple[str, ...]] = {}
        self.signals: list[tuple[int, int]] = []
        self.logs: dict[int, Path | None] = {}
        self._next = first_pid

    def spawn(self, argv: list[str], log_path: Path | None = None) -> int:
        self._next += 1
        if argv[:3] == ["ip", "netns", "exec"]:
            argv = argv[4:]  # it execs: the process is the command it runs
        self.running[self._next] = tuple(argv)
        self.logs[self._next] = log_path
        return self._next

    def command_line(self, pid: int) -> tuple[str, ...] | None:
        return self.running.get(pid)

    def signal(self, pid: int, signum: int) -> None:
        import signal as signals

        if pid not in self.running:
            return
        self.signals.append((pid, signum))
        if signum in (signals.SIGTERM, signals.SIGKILL):
            del self.running[pid]

    def exit(self, pid: int) -> None:
        """The process dies (crashes, or someone kills it)."""
        self.running.pop(pid, None)
