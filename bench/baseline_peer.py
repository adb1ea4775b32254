"""The peers a user would write for the baseline: plain sockets, one scenario each.

`python3 baseline_peer.py server|client SCENARIO` in the namespace the baseline made. The
client retries connect() until the server listens, as such scripts usually do.
"""

import contextlib
import socket
import struct
import sys
import time

PORT = 5000


def server(scenario: str) -> None:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", PORT))
    listener.listen()
    conn, _ = listener.accept()
    for _ in range(3):
        conn.recv(100)
    if scenario == "linger-abort-server":
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    if scenario == "linger-abort-client":
        with contextlib.suppress(ConnectionResetError):
            conn.recv(100)  # the client's reset
    conn.close()


def client(scenario: str) -> None:
    sock = socket.socket()
    while sock.connect_ex(("127.0.0.1", PORT)) != 0:  # the server is not listening yet
        sock.close()
        time.sleep(0.001)  # a user's retry loop: the cost is part of what is measured
        sock = socket.socket()
    for _ in range(3):
        sock.send(b"x" * 100)
        time.sleep(0.001)  # a user's way to keep the three sends apart on the wire
    if scenario == "linger-abort-client":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    else:
        with contextlib.suppress(ConnectionResetError):
            sock.recv(100)  # the server's FIN (0) or its RST
    sock.close()


if __name__ == "__main__":
    {"server": server, "client": client}[sys.argv[1]](sys.argv[2])
