"""A TCP relay between two network namespaces: it listens inside one (a simulated host's) and connects
from the one it was started in, so an agent in the simulated host reaches a server bound on this
namespace's 127.0.0.1 without any address or route added anywhere.

``python -m neutrino.host.relay NETNS_PATH LISTEN_PORT TARGET_HOST TARGET_PORT``: the listening socket
is opened after ``setns`` into NETNS_PATH (a socket keeps the namespace it was made in), then the
process returns to its own namespace, where every connection to the target is made. It prints
``ready`` once listening.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import socket
import sys

CLONE_NEWNET = 0x40000000


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns")


def listen_in(netns_path: str, port: int) -> socket.socket:
    """A socket listening on 127.0.0.1:``port`` of the namespace at ``netns_path``."""
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    other = os.open(netns_path, os.O_RDONLY)
    try:
        _setns(other)
        try:
            server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind(("127.0.0.1", port))
            server.listen(64)
        finally:
            _setns(own)
    finally:
        os.close(own)
        os.close(other)
    return server


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def serve(server: socket.socket, host: str, port: int) -> None:
    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pump(reader, upstream_writer), _pump(upstream_reader, writer))

    listening = await asyncio.start_server(relay, sock=server)
    print("ready", flush=True)
    async with listening:
        await listening.serve_forever()


def main(argv: list[str]) -> None:
    netns_path, listen_port, host, port = argv
    server = listen_in(netns_path, int(listen_port))
    asyncio.run(serve(server, host, int(port)))


if __name__ == "__main__":
    main(sys.argv[1:])
