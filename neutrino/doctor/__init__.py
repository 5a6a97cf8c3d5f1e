"""The model against the host: what the plan says a host runs, compared with what it really runs.

    observation.py  HostObservation: the host read with the agent's own observers (OVSDB, routers, DHCP,
                    iptables), and each bridge's flows read once with their cookies and packet counts
    findings.py     findings_for(plan, observed, context) -> [Finding]: PURE, every difference with a stable
                    code, where it is, what the plan says against what is there, the likely cause, a fix
    namespaces.py   the qrouter- and qdhcp- namespaces' part of findings_for
    objects.py      how findings cite API objects (from a plan element's source), shared causes and fixes
    deployment.py   deployment_findings_for(state): PURE, what the API alone tells (dead agents, ports bound
                    to hosts without a live agent, failed bindings, routers and DHCP without a host)
    doctor.py       examine(host, settings): the snapshot, build_plan exactly as the agent builds it, the
                    observation and every finding (``neutrino doctor``)
    evidence.py     PURE: which counter shows that a trace's hop was passed (a flow's packets, a link's
                    frames), and where a probe's packets stopped (localize)
    explain.py      PURE: what the counters point at (drift of the host, or beyond neutrino)
    live.py         ``trace --live``: the real probe from the source's namespace, counters before and after
    render.py       text (rich) and JSON (schema neutrino.doctor/1) of findings and of a live check

May import model, plan, host, realize, feed, agent and trace, never store, services or api; only cli
imports it (import-linter).
"""
