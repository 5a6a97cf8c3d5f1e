"""PURE: (ApiState, HostConfig, HostFacts) -> HostPlan. No I/O, clock, randomness or module state.

May import only neutrino.model. The trace walks the same plan the agent installs.
"""
