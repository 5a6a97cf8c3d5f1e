"""The Host protocol and RealHost, which runs argv lists with subprocess."""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass
from typing import Protocol

from neutrino.host.errors import CommandFailed

log = logging.getLogger(__name__)

MISSING_PROGRAM = 127


@dataclass(frozen=True)
class Result:
    rc: int
    stdout: str
    stderr: str


class Host(Protocol):
    def run(self, argv: list[str], netns: str | None = None, input: str | None = None,
            check: bool = True) -> Result: ...


class RealHost:
    """Runs commands on this machine (or inside ``netns`` with ``ip netns exec``)."""

    def __init__(self, timeout: float = 30.0):
        self.timeout = timeout

    def run(self, argv: list[str], netns: str | None = None, input: str | None = None,
            check: bool = True) -> Result:
        full = ["ip", "netns", "exec", netns, *argv] if netns else list(argv)
        log.debug("run: %s", " ".join(full))
        try:
            done = subprocess.run(full, input=input, capture_output=True, text=True, timeout=self.timeout)
        except FileNotFoundError as error:  # as a shell says it: a missing program is rc 127, not a crash
            done = subprocess.CompletedProcess(full, MISSING_PROGRAM, "", f"{error.strerror}: {error.filename}\n")
        if check and done.returncode != 0:
            raise CommandFailed(full, done.returncode, done.stderr)
        return Result(done.returncode, done.stdout, done.stderr)


class LineStream:
    """A long-running command whose output lines are read one by one (the OVSDB monitor)."""

    def __init__(self, argv: list[str]):
        log.debug("stream: %s", " ".join(argv))
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                        bufsize=1)

    def __iter__(self):
        return iter(self.process.stdout.readline, "")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
