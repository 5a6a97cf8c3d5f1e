"""Simulated hypervisors on one machine (option B of reference/multi-host.md); fabric.py joins them.

The implementation lives in the package (neutrino/host/simhost.py), where ``neutrino demo`` builds the
memo's node with it; the host tests import it from here."""

from neutrino.host.simhost import (
    PASS_BEGINS,
    REPO,
    SCHEMA,
    TOOLS,
    CommandError,
    SimHost,
    eventually,
    is_running,
    kill_pidfile,
    leftovers,
    netns_inode,
    parse_vsctl_show,
    pids_in_netns,
    sh,
    standard_host,
    stop_process,
)

__all__ = ["PASS_BEGINS", "REPO", "SCHEMA", "TOOLS", "CommandError", "SimHost", "eventually", "is_running",
           "kill_pidfile", "leftovers", "netns_inode", "parse_vsctl_show", "pids_in_netns", "sh", "standard_host",
           "stop_process"]
