"""Who is calling, as seen from the other end of a TCP connection (to see NAT at work), run inside a namespace:

    python3 whoami.py serve PORT          answer every connection with the caller's address, then close it
    python3 whoami.py ask ADDRESS PORT    connect, print the answer (exit 1 when there is none within 1 s)

Only the standard library: it runs with whatever python the host has.
"""

from __future__ import annotations

import socket
import sys


def serve(port: int) -> None:
    server = socket.create_server(("0.0.0.0", port), reuse_port=True)
    print("ready", flush=True)
    while True:
        connection, (address, _) = server.accept()
        with connection:
            connection.sendall(f"{address}\n".encode())


def ask(address: str, port: int) -> int:
    try:
        with socket.create_connection((address, port), timeout=1.0) as connection:
            print(connection.makefile().readline().strip())
            return 0
    except OSError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]))
    else:
        sys.exit(ask(sys.argv[2], int(sys.argv[3])))
