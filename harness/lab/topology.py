"""Where a lab's peers live and where its capture listens.

`loopback`: one namespace, both peers on its `lo`, the capture on `lo` too.
`veth`: the client and the server each in their own namespace, joined by a veth pair and
addressed from the documentation ranges (192.0.2.0/24, 2001:db8::/64, IPv6 without DAD so
the first connect never races it, neighbours entered statically so no ARP or neighbour
discovery delays the first packet); the capture listens on the client's end, where every
packet passes exactly once (leaving or arriving). An impaired link puts a third namespace
between them, joined to each by its own veth pair, where the link is played: by the kernel's
netem (a bridge, a netem qdisc on the egress towards each delayed side's peer) or by the
user-space link (harness.lab.child_link_agent). Both players sit beyond the capture, so it
sees the client's packets as they leave and the server's as they arrive, whichever plays.

Links and addresses are made over netlink with pyroute2; qdiscs and filters with `tc`, run
inside the namespace (it takes tc's own syntax, which is what users know).
"""

from __future__ import annotations

import contextlib
import select
import shlex
import subprocess

from harness.core.errors import LabError, UsageError
from harness.core.link import Link, LinkError, link_path, link_start
from harness.core.vocabulary import LOOPBACK, SIDES, TOPOLOGIES, VETH
from harness.lab.agent_process import ForkedAgent, default_start, start_link_agent
from harness.lab.netns import Namespace

IFNAMES = {"client": "veth-client", "server": "veth-server"}
_IFA_F_NODAD = 0x02
_NUD_PERMANENT = 0x80
_TC_TIMEOUT = 10.0


class TopologyError(LabError):
    """The lab's network could not be built or changed; the message says what failed."""


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

    def link_text(self) -> str:
        """The link's impairment in words; loopback has none."""
        return "no impairment"

    def ns_of(self, side: str) -> Namespace:
        """The namespace a side's peer runs in."""
        return self.client_ns if side == "client" else self.server_ns

    def namespaces(self) -> tuple[Namespace, ...]:
        """Every namespace of the lab, each once."""
        return tuple({id(n): n for n in (self.client_ns, self.server_ns)}.values())

    def close(self) -> None:
        """Drop the namespaces (and with them every interface in them)."""
        for ns in {id(n): n for n in (self.client_ns, self.server_ns)}.values():
            ns.close()


class VethTopology(Topology):
    """Two namespaces joined by a veth pair; with an impaired link, by two pairs and a third
    namespace between them where the kernel's netem or the user-space link plays it."""

    name = "veth"

    def __init__(self, link: Link | None = None) -> None:
        self._made: list[Namespace] = []
        self._agent: ForkedAgent | subprocess.Popen | None = None
        self._middle: Namespace | None = None  # where the kernel's netem plays the link
        self.link = link
        try:
            self.client_ns, self.server_ns = self._namespace(), self._namespace()
            self.capture_ns, self.capture_if = self.client_ns, IFNAMES["client"]
            self.keep_outgoing = True  # one end of a veth sees each packet once
            self.emulated = link is not None and plays_in_user_space(link)
            self._build()
        except BaseException:
            self.close()
            raise

    def _namespace(self) -> Namespace:
        ns = Namespace()
        self._made.append(ns)
        return ns

    def _build(self) -> None:
        if self.link is not None:
            middle = self._namespace()
            for side in SIDES:
                far = middle.fd
                self.ns_of(side).run(lambda s=side, f=far: _make_pair(s, f"link-{s}", f))
            if self.emulated:
                middle.run(lambda: [_up(f"link-{side}") for side in SIDES])
                self._start_agent(middle)
            else:
                middle.run(_bridge)
                self._middle = middle
                if self.link.netem:
                    self.impair(self.link)
        else:
            server_fd = self.server_ns.fd
            self.client_ns.run(lambda: _make_pair("client", IFNAMES["server"], server_fd))
        macs = {side: self.ns_of(side).run(lambda s=side: _configure(s))
                for side in SIDES}
        for side, other in zip(SIDES, reversed(SIDES), strict=True):
            self.ns_of(side).run(lambda s=side, o=other: _neighbours(s, o, macs[o]))

    def _start_agent(self, middle: Namespace) -> None:
        """The user-space link, in the middle namespace; returns once it forwards."""
        assert self.link is not None
        loss, delay = self.link.emulated()
        sides = self.link.sides() if self.link.netem else ()
        options = ["--client", "link-client", "--server", "link-server", "--loss", str(loss),
                   *(a for side in sides for a in (f"--delay-{side}", str(delay)))]
        if self.link.drop_rst_from:
            options += ["--drop-rst-from", self.link.drop_rst_from, "--drop-rst-count",
                        str(self.link.drop_rst_count)]
        for rule in self.link.drop:
            options += ["--drop", f"{rule.token}:{rule.count}"]
        self._agent = start_link_agent(middle.fd, options, default_start())
        start = link_start()
        ready = select.select([self._agent.stdout], [], [], start)[0]
        line = self._agent.stdout.readline() if ready else b""
        if line.strip() != b"ready":
            raise TopologyError(f"the user-space link did not start within {start:g} "
                                f"s (exit status {self._agent.poll()})")

    def server_ip(self, family: str) -> str:
        return VETH["server"][family][0]

    def namespaces(self) -> tuple[Namespace, ...]:
        return tuple(self._made)

    def describe(self) -> str:
        where = (f"{IFNAMES['client']}, the client's end of a veth pair; client in "
                 f"net:[{self.client_ns.inode}] ({VETH['client']['ipv4'][0]}, "
                 f"{VETH['client']['ipv6'][0]}), server in net:[{self.server_ns.inode}] "
                 f"({VETH['server']['ipv4'][0]}, {VETH['server']['ipv6'][0]})")
        if self.link is not None:
            player = "a user-space link" if self.emulated else "a bridge with the kernel's netem"
            where += f"; between them {player} ({self.link_text()})"
        return where

    def link_text(self) -> str:
        """The impairment in words (harness.core.link.Link.describe)."""
        return self.link.describe() if self.link is not None else "no impairment"

    def impair(self, link: Link) -> None:
        """netem on the middle's egress towards the far peer of each side the link delays:
        a client's packet is delayed leaving the middle for the server, past the capture."""
        for side in link.sides():
            towards = "server" if side == "client" else "client"
            self._tc(f"the link towards the {towards}",
                     ["qdisc", "replace", "dev", f"link-{towards}", "root", "netem",
                      *shlex.split(link.netem)])

    def _tc(self, where: str, args: list[str]) -> None:
        def run() -> subprocess.CompletedProcess:
            return subprocess.run(["tc", *args], capture_output=True, text=True,
                                  timeout=_TC_TIMEOUT, check=False)

        assert self._middle is not None
        try:
            done = self._middle.run(run)
        except FileNotFoundError:
            raise TopologyError("tc is not installed: apt-get install iproute2") from None
        if done.returncode != 0:
            message = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise TopologyError(f"`tc {' '.join(args)}` failed on {where}: {message}")

    def close(self) -> None:
        """Stop the link's process, then drop the namespaces."""
        if self._agent is not None:
            with contextlib.suppress(ProcessLookupError):
                self._agent.kill()
            self._agent.wait()
            for pipe in (self._agent.stdin, self._agent.stdout):
                with contextlib.suppress(OSError):
                    pipe.close()
            self._agent = None
        self._middle = None
        for ns in self._made:
            ns.close()
        self._made = []


def _iproute():
    from pyroute2 import IPRoute

    return IPRoute()


def _make_pair(side: str, far_name: str, far_fd: int) -> None:
    """In a side's namespace: a veth pair, its far end (far_name) moved to namespace far_fd."""
    with _iproute() as ipr:
        ipr.link("add", ifname=IFNAMES[side], kind="veth",
                 peer={"ifname": far_name, "net_ns_fd": far_fd})


def _bridge() -> None:
    """In the middle namespace: a bridge over both links' ends, up (no STP: it forwards at
    once)."""
    with _iproute() as ipr:
        ipr.link("add", ifname="link-bridge", kind="bridge")
        bridge = ipr.link_lookup(ifname="link-bridge")[0]
        for side in SIDES:
            index = ipr.link_lookup(ifname=f"link-{side}")[0]
            ipr.link("set", index=index, master=bridge)
            ipr.link("set", index=index, state="up")
        ipr.link("set", index=bridge, state="up")


def _up(ifname: str) -> None:
    with _iproute() as ipr:
        ipr.link("set", index=ipr.link_lookup(ifname=ifname)[0], state="up")


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


def make_topology(name: str, link: Link | None = None) -> Topology:
    """A fresh topology by name, its link impaired as told (veth only)."""
    if name == "loopback":
        if link is not None:
            raise UsageError("an impaired link needs two namespaces: use the veth topology")
        return Topology()
    if name == "veth":
        try:
            return VethTopology(link)
        except ImportError:
            raise TopologyError("pyroute2 is not installed: `make` installs it") from None
    raise UsageError(f"unknown topology {name!r}: use {' or '.join(TOPOLOGIES)}")


_netem: dict[str, bool] = {}


def _netem_on_scratch_lo(args: list[str]) -> subprocess.CompletedProcess:
    """`tc qdisc add dev lo root netem ARGS` in a namespace made for the question."""
    with Namespace() as ns:
        return ns.run(lambda: subprocess.run(
            ["tc", "qdisc", "add", "dev", "lo", "root", "netem", *args],
            capture_output=True, text=True, timeout=_TC_TIMEOUT, check=False))


def kernel_has_netem() -> bool:
    """Whether this kernel has the netem qdisc (asked once per process)."""
    if "answer" not in _netem:
        _netem["answer"] = _netem_on_scratch_lo(["delay", "1ms"]).returncode == 0
    return _netem["answer"]


def plays_in_user_space(link: Link) -> bool:
    """Whether the user-space link plays this link here: it drops chosen packets, or
    HARNESS_LINK says user, or it says auto and the kernel has no netem. With kernel and no
    netem in the kernel, a TopologyError."""
    if link.in_user_space:
        return True
    path = link_path()
    if path == "kernel" and not kernel_has_netem():
        raise TopologyError("HARNESS_LINK=kernel: this kernel has no netem qdisc "
                            "(modprobe sch_netem)")
    return path == "user" or (path == "auto" and not kernel_has_netem())


def netem_problem(link: Link) -> str | None:
    """Why this link cannot be made here (one line), or None: netem arguments are tried on a
    scratch namespace's lo when the kernel has netem, and checked against what the user-space
    link plays when it has not."""
    try:
        if plays_in_user_space(link):
            link.emulated()
            return None
        words = shlex.split(link.netem)
    except (LinkError, ValueError) as exc:
        return str(exc) if isinstance(exc, LinkError) else f"--netem {link.netem!r}: {exc}"
    done = _netem_on_scratch_lo(words)
    if done.returncode == 0:
        return None
    message = (done.stderr.strip().splitlines() or ["no message"])[-1]
    return f"--netem {link.netem!r}: tc refuses it: {message}"
