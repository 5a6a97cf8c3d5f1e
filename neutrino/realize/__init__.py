"""Observe -> diff -> apply, one module per subsystem. Each realizer touches only what neutrino
marked (bridges with external_ids:neutrino-managed, ports with neutrino-owned, flows with our
cookie, the iptables chains the plan names and the jumps into them) plus the tags of instance ports,
and returns a Report of what it changed.

May import neutrino.plan, neutrino.host and neutrino.model.
"""
