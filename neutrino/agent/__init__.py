"""The host agent: follow the feed, plan the whole host, realize the difference, report back.

loop.py is the pass (observe -> plan -> apply -> report) and what wakes it; facts.py reads what the
plan needs from the host; server.py speaks to the API server (tokens, heartbeats, port status);
cleanup.py removes what neutrino created. Never imports store, services or api.
"""
