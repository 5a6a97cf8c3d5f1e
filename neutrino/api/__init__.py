"""The HTTP edge: Neutron v2.0 JSON in and out, the Keystone v3 subset, policy. No domain rules here.

May import services, feed, store (for the app wiring only), model and config; never plan, realize or host.
"""
