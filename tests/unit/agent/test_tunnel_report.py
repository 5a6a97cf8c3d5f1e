"""What the agent's OVS heartbeat says of its tunnels: Neutron's keys (tunnel_types, tunneling_ip,
l2_population), read back as the API state's Agent values that other hosts plan their tunnels with, and
as the host config the trace plans this host with."""

from __future__ import annotations

from neutrino.agent.loop import Agent
from neutrino.model.host_config import host_config_from_configurations
from neutrino.model.resources import agent_from_body
from tests.unit.plan.test_tunnels import TUNNELLING
from tests.unit.seed import HOST, SEED_L2


def test_the_heartbeat_reports_the_endpoint_as_neutrons_agent_does_and_the_trace_reads_the_config_back():
    agent = Agent.__new__(Agent)  # only its report of the config, no threads or host
    agent.config = TUNNELLING
    reported = agent.configurations()
    assert (reported["tunnel_types"], reported["tunneling_ip"], reported["l2_population"]) == \
        (["vxlan", "gre"], "198.51.100.1", True)
    assert host_config_from_configurations(HOST, reported) == TUNNELLING
    assert agent_from_body({"id": "x", "host": HOST, "agent_type": "Open vSwitch agent", "configurations": reported}
                           ).tunneling_ip == "198.51.100.1"
    agent.config = SEED_L2
    assert (agent.configurations()["tunnel_types"], agent.configurations()["tunneling_ip"]) == ([], "")
