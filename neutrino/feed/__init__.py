"""The change feed: the only road from the server to agents. List the whole state at a revision,
then watch for changes after it (Kubernetes-style list + watch, long-poll over HTTP).

server.py reads the store (imports store and services); client.py is the agent side (HTTP only).
"""
