"""Host errors.

    HostError
    ├── CommandFailed(argv, rc, stderr)
    └── Unsupported        the host lacks what a configured feature needs (br_netfilter for iptables_hybrid)
"""

from __future__ import annotations


class HostError(Exception):
    pass


class CommandFailed(HostError):
    def __init__(self, argv: list[str], rc: int, stderr: str):
        self.argv, self.rc, self.stderr = argv, rc, stderr
        super().__init__(f"{' '.join(argv)} exited {rc}: {stderr.strip()}")


class Unsupported(HostError):
    pass
