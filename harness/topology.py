"""Where a lab's peers live and where its capture listens.

`loopback`: one namespace, both peers on its `lo`, the capture on `lo` too.
`veth`: the client and the server each in their own namespace, joined by a veth pair and
addressed from the documentation ranges (192.0.2.0/24, 2001:db8::/64, IPv6 without DAD so
the first connect never races it, neighbours entered statically so no ARP or neighbour
discovery delays the first packet); the capture listens on the client's end, where every
packet passes exactly once (leaving or arriving). A netem qdisc can impair the link, and a
tc filter can drop RSTs for a while.

Links and addresses are made over netlink with pyroute2; qdiscs and filters with `tc`, run
inside the namespace (it takes tc's own syntax, which is what users know).
"""

from __future__ import annotations

import shlex
import subprocess
from dataclasses import dataclass

from harness.netns import Namespace

TOPOLOGIES = ("loopback", "veth")
LINK_SIDES = ("both", "client", "server")
LOOPBACK = {"ipv4": "127.0.0.1", "ipv6": "::1"}
VETH = {"client": {"ipv4": ("192.0.2.1", 24), "ipv6": ("2001:db8::1", 64)},
        "server": {"ipv4": ("192.0.2.2", 24), "ipv6": ("2001:db8::2", 64)}}
IFNAMES = {"client": "veth-client", "server": "veth-server"}
_IFA_F_NODAD = 0x02
_NUD_PERMANENT = 0x80
_TC_TIMEOUT = 10.0


class TopologyError(RuntimeError):
    """The lab's network could not be built or changed; the message says what failed."""


@dataclass(frozen=True)
class Link:
    """An impairment of the veth link: netem arguments, on one side's egress or both."""

    netem: str
    side: str = "both"

    def sides(self) -> tuple[str, ...]:
        """The sides whose egress gets the qdisc."""
        return ("client", "server") if self.side == "both" else (self.side,)


class Topology:
    """The namespaces of one lab and where its capture listens; closing it removes them."""

    name = "loopback"

    def __init__(self) -> None:
        self.client_ns = self.server_ns = self.capture_ns = Namespace()
        self.capture_if = "lo"
        self.keep_outgoing = False  # lo shows each packet twice: keep the arriving copy

    def server_ip(self, family: str) -> str:
        """The address the server listens on and the client connects to."""
        return LOOPBACK[family]

    def describe(self) -> str:
        """Where the capture was made, for the pcapng interface block."""
        return (f"loopback of an anonymous network namespace (net:[{self.capture_ns.inode}]) "
                "made for this run")

    def ns_of(self, side: str) -> Namespace:
        """The namespace a side's peer runs in."""
        return self.client_ns if side == "client" else self.server_ns

    def impair(self, link: Link) -> None:
        """Loopback has no link to impair."""
        raise TopologyError("netem needs a link between two namespaces: use --topology veth")

    def drop_rst(self, side: str, on: bool) -> None:
        """Loopback has no link to drop packets on."""
        raise TopologyError("dropping RSTs needs a link: the scenario must run on veth")

    def close(self) -> None:
        """Drop the namespaces (and with them every interface in them)."""
        for ns in {id(n): n for n in (self.client_ns, self.server_ns)}.values():
            ns.close()


class VethTopology(Topology):
    """Two namespaces joined by a veth pair."""

    name = "veth"

    def __init__(self) -> None:
        self.client_ns = Namespace()
        try:
            self.server_ns = Namespace()
            self.capture_ns, self.capture_if = self.client_ns, IFNAMES["client"]
            self.keep_outgoing = True  # one end of a veth sees each packet once
            self._build()
        except BaseException:
            self.client_ns.close()
            if hasattr(self, "server_ns"):
                self.server_ns.close()
            raise

    def _build(self) -> None:
        server_fd = self.server_ns.fd
        self.client_ns.run(lambda: _make_pair(server_fd))
        macs = {side: self.ns_of(side).run(lambda s=side: _configure(s))
                for side in ("client", "server")}
        for side, other in (("client", "server"), ("server", "client")):
            self.ns_of(side).run(lambda s=side, o=other: _neighbours(s, o, macs[o]))

    def server_ip(self, family: str) -> str:
        return VETH["server"][family][0]

    def describe(self) -> str:
        return (f"{IFNAMES['client']}, the client's end of a veth pair; client in "
                f"net:[{self.client_ns.inode}] ({VETH['client']['ipv4'][0]}, "
                f"{VETH['client']['ipv6'][0]}), server in net:[{self.server_ns.inode}] "
                f"({VETH['server']['ipv4'][0]}, {VETH['server']['ipv6'][0]})")

    def impair(self, link: Link) -> None:
        """A netem qdisc on the egress of the link's side(s)."""
        for side in link.sides():
            self._tc(side, ["qdisc", "replace", "dev", IFNAMES[side], "root", "netem",
                            *shlex.split(link.netem)])

    def drop_rst(self, side: str, on: bool) -> None:
        """Drop (on) or stop dropping (off) every RST leaving side's end of the link."""
        dev = IFNAMES[side]
        if not on:
            self._tc(side, ["qdisc", "del", "dev", dev, "clsact"])
            return
        self._tc(side, ["qdisc", "add", "dev", dev, "clsact"])
        for proto in ("ip", "ipv6"):
            self._tc(side, ["filter", "add", "dev", dev, "egress", "protocol", proto, "flower",
                            "ip_proto", "tcp", "tcp_flags", "0x4/0x4", "action", "drop"])

    def _tc(self, side: str, args: list[str]) -> None:
        def run() -> subprocess.CompletedProcess:
            return subprocess.run(["tc", *args], capture_output=True, text=True,
                                  timeout=_TC_TIMEOUT, check=False)

        try:
            done = self.ns_of(side).run(run)
        except FileNotFoundError:
            raise TopologyError("tc is not installed: apt-get install iproute2") from None
        if done.returncode != 0:
            message = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise TopologyError(f"`tc {' '.join(args)}` failed on the {side}'s end: {message}")


def _iproute():
    from pyroute2 import IPRoute

    return IPRoute()


def _make_pair(server_fd: int) -> None:
    """In the client's namespace: the veth pair, its far end moved to the server's."""
    with _iproute() as ipr:
        ipr.link("add", ifname=IFNAMES["client"], kind="veth",
                 peer={"ifname": IFNAMES["server"], "net_ns_fd": server_fd})


def _configure(side: str) -> str:
    """Address one end (DAD off) and bring it up; its MAC address."""
    with _iproute() as ipr:
        index = ipr.link_lookup(ifname=IFNAMES[side])[0]
        for address, prefix in VETH[side].values():
            ipr.addr("add", index=index, address=address, prefixlen=prefix,
                     flags=_IFA_F_NODAD)
        ipr.link("set", index=index, state="up")
        return _mac(ipr, IFNAMES[side])


def _neighbours(side: str, other: str, mac: str) -> None:
    """The other end's addresses, entered as permanent neighbours of this end."""
    with _iproute() as ipr:
        index = ipr.link_lookup(ifname=IFNAMES[side])[0]
        for address, _prefix in VETH[other].values():
            ipr.neigh("add", dst=address, lladdr=mac, ifindex=index, state=_NUD_PERMANENT)


def _mac(ipr, ifname: str) -> str:
    (link,) = ipr.get_links(ipr.link_lookup(ifname=ifname)[0])
    return str(link.get_attr("IFLA_ADDRESS"))


def make_topology(name: str) -> Topology:
    """A fresh topology by name."""
    if name == "loopback":
        return Topology()
    if name == "veth":
        try:
            return VethTopology()
        except ImportError:
            raise TopologyError("pyroute2 is not installed: `make` installs it") from None
    raise TopologyError(f"unknown topology {name!r}: use {' or '.join(TOPOLOGIES)}")


def netem_problem(link: Link) -> str | None:
    """Why netem with these arguments cannot run here (one line), or None: tried on a scratch
    namespace's lo, so a kernel without netem or a typo in the arguments is said up front."""
    with Namespace() as ns:
        done = ns.run(lambda: subprocess.run(
            ["tc", "qdisc", "add", "dev", "lo", "root", "netem", *shlex.split(link.netem)],
            capture_output=True, text=True, timeout=_TC_TIMEOUT, check=False))
    if done.returncode == 0:
        return None
    message = (done.stderr.strip().splitlines() or ["no message"])[-1]
    if "kind is unknown" in message:
        return ("this kernel has no netem qdisc (CONFIG_NET_SCH_NETEM is off, or the "
                "sch_netem module is missing): run without --netem, or on a kernel that has it")
    return f"--netem {link.netem!r}: tc refuses it: {message}"
