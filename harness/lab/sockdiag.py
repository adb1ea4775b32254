"""TCP socket states as the kernel reports them, read over NETLINK_SOCK_DIAG; and SOCK_DESTROY
of one socket, as `ss -K` does it.

The netlink socket is opened inside the scenario's namespace, so it sees that namespace's
sockets only — listeners, connections, orphans and TIME-WAIT minisocks alike.
"""

from __future__ import annotations

import errno
import functools
import ipaddress
import os
import socket
import struct
from dataclasses import dataclass

from harness.core.vocabulary import TCP_STATES

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
SOCK_DESTROY = 21
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
INET_DIAG_NOCOOKIE = 0xFFFFFFFF
NLM_F_DUMP = 0x300

_NLMSGHDR = struct.Struct("=IHHII")
_REQ = struct.Struct("=BBBBI")  # family, protocol, ext, pad, states
_SOCKID = struct.Struct("!HH16s16s")  # sport, dport, src, dst (then if, cookie: host order)
_MSG_HEAD = struct.Struct("=BBBB")  # family, state, timer, retrans
_MSG_TAIL = struct.Struct("=IIIII")  # expires, rqueue, wqueue, uid, inode


@dataclass(frozen=True)
class SocketState:
    """One TCP socket: its endpoints, state and queues (bytes)."""

    family: str
    local: tuple[str, int]
    remote: tuple[str, int]
    state: str
    recv_q: int
    send_q: int
    inode: int


def _request(family: int, seq: int) -> bytes:
    body = _REQ.pack(family, socket.IPPROTO_TCP, 0, 0, 0xFFFFFFFF)
    body += _SOCKID.pack(0, 0, b"\0" * 16, b"\0" * 16) + struct.pack("=III", 0, 0, 0)
    head = _NLMSGHDR.pack(_NLMSGHDR.size + len(body), SOCK_DIAG_BY_FAMILY,
                          NLM_F_REQUEST | NLM_F_DUMP, seq, 0)
    return head + body


def _packed(host: str) -> bytes:
    """An address as inet_diag_sockid holds it: 16 bytes, an IPv4 address in the first 4."""
    return ipaddress.ip_address(host).packed.ljust(16, b"\0")


def _destroy_request(family: int, local: tuple[str, int] | None,
                     remote: tuple[str, int] | None) -> bytes:
    """SOCK_DESTROY of the socket with these endpoints (a listener has no remote one); the
    cookie is left out (INET_DIAG_NOCOOKIE), so the endpoints alone find it."""
    src, sport = (_packed(local[0]), local[1]) if local else (b"\0" * 16, 0)
    dst, dport = (_packed(remote[0]), remote[1]) if remote else (b"\0" * 16, 0)
    body = _REQ.pack(family, socket.IPPROTO_TCP, 0, 0, 0xFFFFFFFF)
    body += _SOCKID.pack(sport, dport, src, dst)
    body += struct.pack("=III", 0, INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE)
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), SOCK_DESTROY, NLM_F_REQUEST | NLM_F_ACK,
                          1, 0) + body


def _ask(request: bytes) -> int:
    """Send one request to sock_diag in this namespace: the errno of its answer (0: done)."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG) as diag:
        diag.send(request)
        data = diag.recv(65536)
    length, kind, _flags, _seq, _pid = _NLMSGHDR.unpack_from(data, 0)
    if kind != NLMSG_ERROR or length < _NLMSGHDR.size + 4:
        return errno.EPROTO
    return -struct.unpack_from("=i", data, _NLMSGHDR.size)[0]


def destroy(sock: socket.socket) -> None:
    """SOCK_DESTROY of sock, found by its endpoints in the namespace of the caller's thread:
    the kernel aborts it (tcp_abort). OSError with the kernel's errno when it refuses:
    ENOENT for a socket in no table, EOPNOTSUPP without CONFIG_INET_DIAG_DESTROY."""
    local = tuple(sock.getsockname()[:2])
    try:
        remote: tuple | None = tuple(sock.getpeername()[:2])
    except OSError:
        remote = None  # a listener, or a socket never connected
    code = _ask(_destroy_request(sock.family, local, remote))  # type: ignore[arg-type]
    if code:
        raise OSError(code, f"sock_diag SOCK_DESTROY: {os.strerror(code)}")


@functools.cache
def destroy_supported() -> bool:
    """Whether this kernel can destroy sockets through sock_diag, found by trying once (and
    remembered): SOCK_DESTROY of a socket that does not exist is ENOENT where it can, and
    EOPNOTSUPP where the kernel lacks CONFIG_INET_DIAG_DESTROY."""
    return _ask(_destroy_request(socket.AF_INET, None, None)) != errno.EOPNOTSUPP


def _address(family: int, raw: bytes) -> str:
    if family == socket.AF_INET:
        return str(ipaddress.IPv4Address(raw[:4]))
    return str(ipaddress.IPv6Address(raw))


def _parse(family: int, payload: bytes) -> SocketState:
    fam, state, _timer, _retrans = _MSG_HEAD.unpack_from(payload, 0)
    sport, dport, src, dst = _SOCKID.unpack_from(payload, _MSG_HEAD.size)
    tail_at = _MSG_HEAD.size + _SOCKID.size + 12
    _expires, rq, wq, _uid, inode = _MSG_TAIL.unpack_from(payload, tail_at)
    name = TCP_STATES[state] if state < len(TCP_STATES) else f"STATE-{state}"
    return SocketState(
        family="ipv4" if fam == socket.AF_INET else "ipv6",
        local=(_address(fam, src), sport),
        remote=(_address(fam, dst), dport),
        state=name,
        recv_q=rq,
        send_q=wq,
        inode=inode,
    )


class SockDiag:
    """A sock_diag query socket; open it inside the namespace it should look at."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG)
        self._seq = 0

    def close(self) -> None:
        """Release the netlink socket."""
        self._sock.close()

    def tcp_sockets(self) -> list[SocketState]:
        """Every TCP socket of the namespace, IPv4 and IPv6, in any state."""
        found: list[SocketState] = []
        for family in (socket.AF_INET, socket.AF_INET6):
            found.extend(self._dump(family))
        return found

    def _dump(self, family: int) -> list[SocketState]:
        self._seq += 1
        self._sock.send(_request(family, self._seq))
        found: list[SocketState] = []
        while True:
            data = self._sock.recv(65536)
            at = 0
            while at + _NLMSGHDR.size <= len(data):
                length, kind, _flags, _seq, _pid = _NLMSGHDR.unpack_from(data, at)
                if kind == NLMSG_DONE:
                    return found
                if kind == NLMSG_ERROR:
                    err = -struct.unpack_from("=i", data, at + _NLMSGHDR.size)[0]
                    if err == 0:
                        return found
                    raise OSError(err, f"sock_diag: {os.strerror(err)}")
                if kind == SOCK_DIAG_BY_FAMILY:
                    found.append(_parse(family, data[at + _NLMSGHDR.size: at + length]))
                at += (length + 3) & ~3
