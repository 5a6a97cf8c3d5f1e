"""The ``neutrino`` command: serve, up, down, status (and later agent, plug, trace, demo, topology)."""
