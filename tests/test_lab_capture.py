"""Capture tests of the Lab itself: the fixture API, deadlines, failures that explain themselves."""

from __future__ import annotations

import os

import pytest

from harness.lab.lab import Lab

pytestmark = pytest.mark.capture

ABORT = ">S <S. >. (>P. <.){3} <R."


def _three_segments_then_abort(lab: Lab) -> None:
    lab.server.listen()
    lab.client.connect()
    conn = lab.server.accept()
    for _ in range(3):
        assert lab.client.send(b"x" * 100).ret == 100
        lab.client.wait_acked()
        assert conn.recv(100).ret == 100
    conn.set_linger(1, 0)
    assert conn.close().elapsed < 0.1
    assert lab.client.recv(100).errno == "ECONNRESET"


def test_server_abort_sends_rst(lab: Lab) -> None:
    _three_segments_then_abort(lab)
    lab.expect(ABORT)
    assert lab.state("server") == "CLOSED"


@pytest.mark.parametrize("lab", ["ipv6"], indirect=True)
def test_server_abort_sends_rst_over_ipv6(lab: Lab) -> None:
    _three_segments_then_abort(lab)
    lab.expect(ABORT)
    assert {seg.family for seg in lab.segments()} == {"ipv6"}
    assert lab.conversation().client[0] == "::1"


def test_a_wrong_pattern_fails_with_the_explanation(lab: Lab) -> None:
    _three_segments_then_abort(lab)
    with pytest.raises(AssertionError) as failure:
        lab.expect(">S <S. >. (>P. <.){3} <F. >.", within=0.2)
    text = str(failure.value)
    assert text.splitlines()[0] == "packet 10 <R. does not fit: the pattern expected <F. there"
    assert "-> 10  <R." in text
    assert "Flags [R.]" in text  # the tcpdump listing is beside the tokens
    # the calls are the "harness capture" section's, on one clock with the packets: not here
    assert "conn.close()" not in text and "pcap: " not in text
    assert lab.wire.last_match is not None and lab.wire.last_match.failed_at == 9


def test_accept_reports_still_blocked_at_its_deadline(lab: Lab) -> None:
    lab.server.listen()
    waiting = lab.server.accept(deadline=0.2)
    assert waiting.accepted is not None
    assert waiting.accepted.blocked
    assert 0.2 <= waiting.accepted.elapsed < 1.0
    lab.client.connect()
    done = lab.server.collect()
    assert not done.blocked and done.ret is not None and done.ret >= 0
    lab.expect(">S <S. >.")


def test_a_call_that_hangs_is_an_error_not_a_wait_forever(lab: Lab) -> None:
    lab.server.listen()
    hung = lab.server.process.call("server", "accept", timeout=0.3, into="conn")
    assert hung.blocked
    assert hung.error == "accept did not return within 0.3 s"


def test_wait_state_names_the_condition_when_time_runs_out(lab: Lab) -> None:
    from harness.lab.waiting import WaitTimeout

    lab.server.listen()
    lab.client.connect()
    with pytest.raises(WaitTimeout, match="the client to reach TIME-WAIT"):
        lab.wait_state("client", "TIME-WAIT", within=0.1)
    assert lab.state("client") == "ESTABLISHED"


def test_socket_options_report_what_the_kernel_did(lab: Lab) -> None:
    lab.server.listen()
    lab.client.connect()
    conn = lab.server.accept()
    assert lab.client.set_rcvbuf(4096).info["effective"] == 8192  # the kernel doubles it
    assert lab.client.set_nonblocking().ret == 0
    assert lab.client.recv(10).errno == "EAGAIN"
    assert conn.shutdown("SHUT_WR").ret == 0
    assert lab.client.set_nonblocking(False).ret == 0
    assert lab.client.recv(10).ret == 0
    assert lab.server.process.call("conn", "shutdown", how="SHUT_BOTH").error
    lab.expect(">S <S. >. <F. >.?")


def test_a_peer_that_exits_with_its_socket_open_closes_it(lab: Lab) -> None:
    lab.server.listen()
    lab.client.connect()
    lab.server.accept()
    exited = lab.client.exit(3)
    assert exited.ret == 3 and exited.error is None  # its exit status, once reaped
    assert not lab.client.process.alive()
    lab.wait_state("client", "FIN-WAIT-2")  # the orphan's FIN was sent and ACKed
    assert lab.state("server") == "CLOSE-WAIT"
    lab.expect(">S <S. >. >F. <.")


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_veth_lab_captures_each_tcp_packet_once_and_nothing_else(family: str) -> None:
    import socket

    with Lab(family=family, scenario="veth-check", topology="veth") as lab:
        server_ip = lab.server_address[0]

        def udp() -> None:  # a datagram on the link, which the capture must leave out
            kind = socket.AF_INET if family == "ipv4" else socket.AF_INET6
            with socket.socket(kind, socket.SOCK_DGRAM) as s:
                s.sendto(b"not tcp", (server_ip, 9))

        lab.topology.client_ns.run(udp)
        _three_segments_then_abort(lab)
        lab.expect(ABORT)
        assert lab.conversation().client[0] in ("192.0.2.1", "2001:db8::1")
        result = lab.finish()
    assert result.capture is not None
    assert result.capture.frames == len(result.segments) == 10
    assert result.topology == "veth"


def _link_agents() -> list[int]:
    """This process's link agents (another test's, running beside us, are not ours): forked
    ones are our children named harness-link; executed ones name us with --parent."""
    from pathlib import Path

    from harness.lab.agent_process import LINK_NAME

    found, ours = [], f"--parent\0{os.getpid()}\0".encode()
    for entry in Path("/proc").iterdir():
        try:
            if not entry.name.isdigit():
                continue
            cmdline = (entry / "cmdline").read_bytes()
            name, rest = (entry / "stat").read_text().rsplit(")", 1)
            state, ppid = rest.split()[:2]
            forked = name.split("(", 1)[1] == LINK_NAME and int(ppid) == os.getpid()
            executed = b"harness.lab.child_link_agent" in cmdline and ours in cmdline
            found += [int(entry.name)] if (forked or executed) and state != "Z" else []
        except OSError:
            continue
    return found


@pytest.mark.parametrize("start", ["fork", "exec"])
def test_an_impaired_link_delays_each_way_and_leaves_nothing_behind(
        start: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.core.link import Link
    from harness.lab.topology import kernel_has_netem

    monkeypatch.setenv("HARNESS_PEER_START", start)  # how peers and the link start
    before, in_user_space = set(_link_agents()), not kernel_has_netem()
    with Lab(family="ipv4", scenario="link-check", topology="veth",
             link=Link("delay 30ms")) as lab:
        lab.server.listen()
        connect = lab.client.connect()
        assert bool(set(_link_agents()) - before) == in_user_space
        assert connect.elapsed >= 0.06  # SYN and SYN-ACK each cross the 30 ms link
        lab.expect(">S <S. >.")
    assert not set(_link_agents()) - before, "the link's process outlived the lab"


@pytest.mark.capture(topology="veth")
def test_the_marker_gives_a_veth_lab(lab: Lab) -> None:
    assert lab.topology_name == "veth"
    assert lab.server_address == ("192.0.2.2", 5000)
    lab.server.listen()
    lab.client.connect()
    lab.expect(">S <S. >.")
    assert lab.client_address is not None and lab.client_address[0] == "192.0.2.1"


@pytest.mark.capture(topology="veth", family="ipv6", link={"netem": "delay 20ms"})
def test_the_marker_gives_an_impaired_ipv6_veth_lab(lab: Lab) -> None:
    assert (lab.topology_name, lab.family) == ("veth", "ipv6")
    lab.server.listen()
    connect = lab.client.connect()
    lab.expect(">S <S. >.")
    syn, syn_ack = lab.segments()[:2]
    assert syn_ack.time - syn.time >= 0.04  # 20 ms each way, seen from the client's end
    assert connect.elapsed >= 0.04
    assert lab.conversation().server[0] == "2001:db8::2"


@pytest.mark.parametrize("lab", [{"port": 6000}], indirect=True)
def test_a_dict_parameter_sets_the_server_port(lab: Lab) -> None:
    assert lab.server_address == ("127.0.0.1", 6000)
    lab.server.listen()
    lab.client.connect()
    lab.expect(">S <S. >.")
    assert lab.conversation().server == ("127.0.0.1", 6000)
    assert lab.listening() and not lab.listening(5000)
