"""neutrino: Neutron's classic networking (ML2/OVS VLAN, L3 namespaces, security groups, DHCP)
behind the Neutron v2.0 API, with a tracer.

Packages, outermost first (import-linter enforces it, see pyproject.toml):
cli > (api | agent | trace) > (services | realize | feed) > (store | plan | host) > model.
"""

__version__ = "0.1.0"
