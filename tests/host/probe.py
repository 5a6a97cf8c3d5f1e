"""A probe daemon run inside an instance namespace (``python3 probe.py``): it serves and sends test traffic.

It listens on the TCP and UDP ports in ``LISTEN`` (TCP: each line received is echoed back; UDP: each
datagram is echoed back) and answers commands, one JSON object per line on stdin, each with an ``id``;
every command runs in its own thread, and its answer is one JSON line on stdout with the same ``id``:

    {"op": "tcp", "to": "10.0.0.5", "port": 9000, "timeout": 0.5}      connect, send a line, read it back
    {"op": "udp", "to": "10.0.0.5", "port": 9000, "timeout": 0.5}      send a datagram, read the echo
    {"op": "icmp", "to": "10.0.0.5", "type": 8, "timeout": 0.5, "source": null}
                                       echo request (8) or timestamp request (13), from ``source`` if set
    {"op": "open", "name": "c1", "to": ..., "port": ..., "timeout": ...}  a persistent TCP connection
    {"op": "ask", "name": "c1", "timeout": 0.5}                        one request/response on it
    {"op": "close", "name": "c1"}
    {"op": "frame", "hex": "ffff..."}                                   send a raw Ethernet frame on eth0

Answers: {"id": ..., "result": "ok" | "timeout" | "refused" | "error: ..."}. Only the standard library:
it runs with whatever python the host has.
"""

from __future__ import annotations

import json
import os
import select
import socket
import struct
import sys
import threading
import time

LISTEN_TCP = (22, 8000, 8005, 8010, 8011, 9000, 9001)
LISTEN_UDP = (8005, 9000, 9001)
ECHO_REQUEST, ECHO_REPLY, TIMESTAMP_REQUEST, TIMESTAMP_REPLY = 8, 0, 13, 14
REPLY_OF = {ECHO_REQUEST: ECHO_REPLY, TIMESTAMP_REQUEST: TIMESTAMP_REPLY}

_write = threading.Lock()
_connections: dict[str, socket.socket] = {}
_icmp_id = [os.getpid() & 0xFFFF]
_icmp_lock = threading.Lock()


def answer(command_id: object, result: str) -> None:
    with _write:
        sys.stdout.write(json.dumps({"id": command_id, "result": result}) + "\n")
        sys.stdout.flush()


# --- serving ---

def tcp_listener(port: int) -> socket.socket:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", port))
    server.listen(64)
    return server


def udp_listener(port: int) -> socket.socket:
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("0.0.0.0", port))
    return server


def serve_tcp(server: socket.socket) -> None:
    while True:
        connection, _ = server.accept()
        threading.Thread(target=echo_lines, args=(connection,), daemon=True).start()


def echo_lines(connection: socket.socket) -> None:
    with connection:
        while True:
            try:
                data = connection.recv(4096)
            except OSError:
                return
            if not data:
                return
            connection.sendall(data)


def serve_udp(server: socket.socket) -> None:
    while True:
        data, peer = server.recvfrom(4096)
        server.sendto(data, peer)


# --- probing ---

def probe_tcp(to: str, port: int, timeout: float) -> str:
    try:
        with socket.create_connection((to, port), timeout=timeout) as connection:
            connection.sendall(b"hello\n")
            return "ok" if _read_until(connection, b"hello\n", timeout) else "timeout"
    except ConnectionRefusedError:
        return "refused"
    except TimeoutError:
        return "timeout"


def probe_udp(to: str, port: int, timeout: float) -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(timeout)
        client.connect((to, port))
        token = os.urandom(8).hex().encode()
        client.send(token)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                client.settimeout(max(0.001, deadline - time.monotonic()))
                if client.recv(4096) == token:
                    return "ok"
        except ConnectionRefusedError:
            return "refused"
        except TimeoutError:
            pass
        return "timeout"


def probe_icmp(to: str, kind: int, timeout: float, source: str | None) -> str:
    with _icmp_lock:
        _icmp_id[0] = (_icmp_id[0] + 1) & 0xFFFF
        ident = _icmp_id[0]
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as raw:
        if source:
            raw.bind((source, 0))
        body = struct.pack("!III", 0, 0, 0) if kind == TIMESTAMP_REQUEST else b"neutrino-probe"
        header = struct.pack("!BBHHH", kind, 0, 0, ident, 1)
        raw.sendto(header[:2] + struct.pack("!H", checksum(header + body)) + header[4:] + body, (to, 0))
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([raw], [], [], left)[0]:
                break
            packet, (peer, _) = raw.recvfrom(4096)
            icmp = packet[(packet[0] & 0x0F) * 4:]
            reply_type, _, _, reply_id = struct.unpack("!BBHH", icmp[:6])
            if peer == to and reply_type == REPLY_OF[kind] and reply_id == ident:
                return "ok"
    return "timeout"


def open_connection(name: str, to: str, port: int, timeout: float) -> str:
    try:
        connection = socket.create_connection((to, port), timeout=timeout)
    except ConnectionRefusedError:
        return "refused"
    except TimeoutError:
        return "timeout"
    _connections[name] = connection
    return "ok"


def ask(name: str, timeout: float) -> str:
    """One request/response on an open connection: a fresh token must come back (late echoes of
    earlier requests are skipped)."""
    connection = _connections[name]
    token = os.urandom(8).hex().encode() + b"\n"
    try:
        connection.sendall(token)
    except OSError as exc:
        return f"error: {exc}"
    return "ok" if _read_until(connection, token, timeout) else "timeout"


def close_connection(name: str) -> str:
    connection = _connections.pop(name, None)
    if connection is not None:
        connection.close()
    return "ok"


def send_frame(frame_hex: str) -> str:
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as raw:
        raw.bind(("eth0", 0))
        raw.send(bytes.fromhex(frame_hex))
    return "ok"


def _read_until(connection: socket.socket, token: bytes, timeout: float) -> bool:
    received = b""
    deadline = time.monotonic() + timeout
    while token not in received:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        connection.settimeout(left)
        try:
            data = connection.recv(4096)
        except TimeoutError:
            return False
        if not data:
            return False
        received += data
    return True


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def run(command: dict) -> None:
    op = command["op"]
    try:
        if op == "tcp":
            result = probe_tcp(command["to"], command["port"], command["timeout"])
        elif op == "udp":
            result = probe_udp(command["to"], command["port"], command["timeout"])
        elif op == "icmp":
            result = probe_icmp(command["to"], command["type"], command["timeout"], command.get("source"))
        elif op == "open":
            result = open_connection(command["name"], command["to"], command["port"], command["timeout"])
        elif op == "ask":
            result = ask(command["name"], command["timeout"])
        elif op == "close":
            result = close_connection(command["name"])
        elif op == "frame":
            result = send_frame(command["hex"])
        else:
            result = f"error: unknown op {op!r}"
    except Exception as exc:  # noqa: BLE001 - reported to the test, which fails with it
        result = f"error: {type(exc).__name__}: {exc}"
    answer(command.get("id"), result)


def main() -> None:
    # Bound before "ready": a probe never meets a port that is not listening yet.
    for server in [tcp_listener(port) for port in LISTEN_TCP]:
        threading.Thread(target=serve_tcp, args=(server,), daemon=True).start()
    for server in [udp_listener(port) for port in LISTEN_UDP]:
        threading.Thread(target=serve_udp, args=(server,), daemon=True).start()
    answer("ready", "ok")
    for line in sys.stdin:
        if line.strip():
            threading.Thread(target=run, args=(json.loads(line),), daemon=True).start()


if __name__ == "__main__":
    main()
