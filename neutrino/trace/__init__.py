"""The trace: why can (or can't) A reach B, answered by walking the plan the agents install.

    packet.py   Probe, Endpoint, Packet: what is traced (endpoints already resolved)
    resolve.py  text (port id or name, instance, fixed or floating IP, outside address) -> Endpoint
    result.py   Trace, Hop, Rewrite, Verdict (a closed set of reason codes), ObjectRef, Finding
    hosts.py    each host's share of the plan (build_plan's steps), with facts derived from the API
    filtering.py  a packet against a PortFirewall: anti-spoofing pairs and security group Allows
    routing.py  a packet in a RouterPlan: NAT rules read as nftables reads them, longest-prefix routes
    links.py    a packet between two ports of one network: local VLANs, bridges, provider VLANs
    walk.py     trace(state, hosts, probe) -> Trace: the walk, hop by hop, and the reply path
    explain.py  the verdicts: reason, deciding objects, the ``openstack`` command that fixes it
    render.py   text for people (rich), one line per hop (--summary), JSON (a stable schema)

PURE, like the plan: no I/O, clock or randomness. May import only neutrino.model and neutrino.plan
(import-linter); the server (api/trace.py) and the CLI bring the state and the hosts' configurations.
"""
