"""Domain rules (IPAM, segments, ports, security groups, quotas, identity), independent of HTTP.

Each write runs inside ``Store.write``; each read returns Neutron-shaped views. May import
neutrino.store, neutrino.model and neutrino.config; never api, plan, realize or host.
"""
