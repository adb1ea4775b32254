"""The new calls, run for real: what each returns and what it puts on the wire, as Linux does
it (measured on 6.18; see pitfalls.md's socket facts, which these confirm)."""

from __future__ import annotations

import pytest

from harness.lab.lab import Lab
from harness.lab.peer import SocketHandle
from harness.pcap.annotate import step_texts

pytestmark = pytest.mark.capture

HANDSHAKE = ">S <S. >."
ASKED = ["POLLIN", "POLLOUT", "POLLRDHUP"]
RESET = ["POLLIN", "POLLOUT", "POLLERR", "POLLHUP", "POLLRDHUP"]


def _connected(lab: Lab) -> SocketHandle:
    lab.server.listen()
    assert lab.client.connect().ret == 0
    return lab.server.accept()


def _reset_by_server(lab: Lab) -> SocketHandle:
    conn = _connected(lab)
    conn.set_linger(1, 0)
    conn.close()
    lab.wait_state("client", "CLOSED")
    return conn


def test_after_an_rst_poll_so_error_and_tcp_info_say_so(lab: Lab) -> None:
    _reset_by_server(lab)
    assert lab.client.poll(ASKED).info["revents"] == tuple(RESET)
    first, second = lab.client.getsockopt("SO_ERROR"), lab.client.getsockopt("SO_ERROR")
    assert (first.ret, first.info["value"], second.info["value"]) == (0, "ECONNRESET", 0)
    info = lab.client.tcp_info().info
    assert (info["state"], info["unacked"], info["retransmits"]) == ("CLOSE", 0, 0)
    after = lab.client.poll(ASKED).info["revents"]  # the error taken: POLLERR goes with it
    assert after == ("POLLIN", "POLLOUT", "POLLHUP", "POLLRDHUP")
    assert lab.client.recv(10).ret == 0  # the error was taken: end of file
    lab.expect(f"{HANDSHAKE} <R.")


def test_after_a_fin_poll_reports_rdhup_and_no_hup(lab: Lab) -> None:
    conn = _connected(lab)
    conn.shutdown("SHUT_WR")
    lab.wait_state("client", "CLOSE-WAIT")
    polled = lab.client.poll(["POLLIN", "POLLOUT", "POLLRDHUP", "POLLPRI"], 1.0)
    assert (polled.ret, polled.info["revents"]) == (1, ("POLLIN", "POLLOUT", "POLLRDHUP"))
    assert lab.client.tcp_info().info["state"] == "CLOSE-WAIT"
    assert lab.client.getsockopt("SO_ERROR").info["value"] == 0
    lab.expect(f"{HANDSHAKE} <F. >.")


def test_poll_waits_its_timeout_when_nothing_comes(lab: Lab) -> None:
    _connected(lab)
    polled = lab.client.poll(["POLLIN"], 0.2)
    assert (polled.ret, polled.info["revents"]) == (0, ())
    assert 0.2 <= polled.elapsed < 0.5
    assert polled.describe().startswith("client.poll(POLLIN, 0.2) = 0, revents 0 (")


def test_setsockopt_records_what_the_kernel_reads_back(lab: Lab) -> None:
    _connected(lab)
    assert lab.client.setsockopt("TCP_LINGER2", 0).info["effective"] == 60  # the sysctl's
    assert lab.client.setsockopt("TCP_LINGER2", 1000).info["effective"] == 120  # clamped
    assert lab.client.setsockopt("TCP_DEFER_ACCEPT", 5, level="IPPROTO_TCP").info[
        "effective"] == 7  # rounded up to whole retransmissions
    assert lab.client.setsockopt("SO_RCVLOWAT", 0).info["effective"] == 1
    refused = lab.client.setsockopt("SO_SNDLOWAT", 10)  # Linux cannot change it
    assert (refused.errno, refused.info["effective"]) == ("ENOPROTOOPT", 1)
    assert lab.client.setsockopt("TCP_MAXSEG", 10).errno == "EINVAL"
    for name in ("SO_KEEPALIVE", "TCP_NODELAY", "TCP_QUICKACK", "SO_REUSEADDR"):
        assert lab.client.setsockopt(name, 1).info["effective"] == 1, name
    for name, value in (("TCP_KEEPIDLE", 7), ("TCP_KEEPINTVL", 3), ("TCP_KEEPCNT", 4),
                        ("TCP_USER_TIMEOUT", 1500), ("TCP_SYNCNT", 2),
                        ("TCP_NOTSENT_LOWAT", 4096)):
        assert lab.client.getsockopt(name).info["value"] != value, name
        assert lab.client.setsockopt(name, value).info["effective"] == value, name
        assert lab.client.getsockopt(name).info["value"] == value, name


def test_tcp_linger2_of_one_second_ends_the_orphan_and_the_story_says_so(lab: Lab) -> None:
    conn = _connected(lab)
    lab.client.setsockopt("TCP_LINGER2", 1)
    lab.client.close()
    lab.wait_state("client", "FIN-WAIT-2")
    lab.wait_state("client", "CLOSED", within=3.0)  # gone after ~1 s, sending nothing
    conn.close()
    lab.expect(f"{HANDSHAKE} >F. <. <F. >R")  # the FIN finds no socket: an RST, no ACK
    assert "client: client.close() with TCP_LINGER2 1 → 0" in " ".join(step_texts(lab.calls))


def test_tcp_linger2_negative_resets_once_the_fin_is_acked(lab: Lab) -> None:
    _connected(lab)
    assert lab.client.setsockopt("TCP_LINGER2", -1).info["effective"] == -1
    lab.client.close()
    lab.expect(f"{HANDSHAKE} >F. <. >R")


def test_msg_nosignal_keeps_sigpipe_away(lab: Lab) -> None:
    _reset_by_server(lab)
    first = lab.client.send(1, flags=["MSG_NOSIGNAL"])
    assert (first.errno, first.info.get("signal")) == ("ECONNRESET", None)  # the error, once
    quiet = lab.client.send(1, flags=["MSG_NOSIGNAL"])
    assert (quiet.errno, quiet.info.get("signal")) == ("EPIPE", None)
    loud = lab.client.send(1)
    assert (loud.errno, loud.info.get("signal")) == ("EPIPE", "SIGPIPE")


def test_recv_flags_peek_dontwait_trunc_and_waitall(lab: Lab) -> None:
    conn = _connected(lab)
    assert conn.recv(10, flags=["MSG_DONTWAIT"]).errno == "EAGAIN"
    lab.client.send(100)
    conn.wait_inq(100)
    peeked = conn.recv(100, flags=["MSG_PEEK"])
    assert peeked.ret == 100 and conn.wait_inq(100).info["queued"] == 100  # still queued
    assert conn.recv(60, flags=["MSG_TRUNC"]).ret == 60  # discarded, not copied
    assert conn.wait_inq(40).info["queued"] == 40
    waiting = conn.recv(80, flags=["MSG_WAITALL"], deadline=0.2)
    assert waiting.blocked  # 40 bytes are there; it waits for 80
    lab.client.send(40)
    assert lab.server.collect().ret == 80


def test_msg_oob_sends_urgent_data_and_msg_more_holds_it(lab: Lab) -> None:
    conn = _connected(lab)
    assert lab.client.send(b"abc", flags=["MSG_OOB"]).ret == 3
    lab.client.wait_acked()
    assert conn.recv(1, flags=["MSG_OOB"]).ret == 1  # the last byte is the urgent one
    assert conn.recv(10).ret == 2
    held = lab.client.send(10, flags=["MSG_MORE"])
    lab.wait_pattern(f"{HANDSHAKE} >P.U <. >P. <.", within=2.0)
    data = next(seg for seg in lab.segments() if seg.length == 10)
    assert data.time - held.start >= 0.15  # corked, up to Linux's 200 ms ceiling
    lab.expect(f"{HANDSHAKE} >P.U <. >P. <.")


def test_a_client_bound_to_a_port_sends_its_syn_from_it(lab: Lab) -> None:
    lab.server.listen()
    assert lab.client.bind(40123).info["local"] == ("0.0.0.0", 40123)
    assert lab.client.connect().ret == 0
    lab.expect(HANDSHAKE)
    assert lab.segments()[0].sport == 40123 and lab.client_address[1] == 40123


@pytest.mark.parametrize("lab", ["ipv6"], indirect=True)
def test_a_server_bound_first_listens_on_that_socket(lab: Lab) -> None:
    assert lab.server.socket().ret >= 0
    assert lab.server.setsockopt("SO_REUSEPORT", 1).info["effective"] == 1
    assert lab.server.bind(5000, "::1").ret == 0
    assert lab.server.listen().info["local"] == ("::1", 5000)
    assert lab.server.getsockopt("SO_REUSEPORT").info["value"] == 1  # the same socket
    assert lab.server.getsockopt("SO_ACCEPTCONN").info["value"] == 1
    _ = lab.client.connect(), lab.server.accept()
    lab.expect(HANDSHAKE)


def test_closing_one_of_two_descriptors_sends_nothing_and_the_last_sends_the_fin(
        lab: Lab) -> None:
    _connected(lab)
    second = lab.client.dup("c2")
    assert second.made is not None and second.made.ret > 0
    lab.client.close()
    assert lab.wait_quiet(0.2) and lab.observed() == HANDSHAKE.split()
    assert lab.state("client", connection="c2") == "ESTABLISHED"
    assert second.tcp_info().info["state"] == "ESTABLISHED"
    second.close()
    lab.wait_state("client", "FIN-WAIT-2", connection="c2")
    lab.expect(f"{HANDSHAKE} >F. <.")


def test_a_dupd_descriptor_shares_the_sockets_settings(lab: Lab) -> None:
    _connected(lab)
    second = lab.client.dup("c2")
    second.set_linger(1, 0)
    lab.client.close()  # the other descriptor is open: nothing yet
    second.close()
    lab.expect(f"{HANDSHAKE} >R.")
    texts = step_texts(lab.calls)
    assert "client: client.close() with SO_LINGER {1,0} → 0" in " ".join(texts)


def test_disconnect_resets_the_connection_and_keeps_the_descriptor(lab: Lab) -> None:
    conn = _connected(lab)
    assert lab.client.disconnect().ret == 0
    lab.wait_state("server", "CLOSED")
    assert lab.client.tcp_info().info["state"] == "CLOSE"
    assert lab.client.getsockopt("SO_ERROR").info["value"] == "ECONNRESET"
    assert conn.poll(ASKED).info["revents"] == tuple(RESET)
    assert conn.recv(10).errno == "ECONNRESET"
    lab.expect(f"{HANDSHAKE} >R.")
    assert lab.client.connect().ret == 0  # the descriptor connects again
    assert lab.state("client") == "CLOSED"  # the first connection is the one followed


def test_disconnect_of_a_listener_resets_what_waits_in_its_queue(lab: Lab) -> None:
    lab.server.listen()
    lab.client.connect()
    lab.wait_state("server", "ESTABLISHED")
    assert lab.server.disconnect().ret == 0
    assert lab.server.tcp_info().info["state"] == "CLOSE"
    assert lab.server.accept().accepted.errno == "EINVAL"  # type: ignore[union-attr]
    lab.expect(f"{HANDSHAKE} <R.")
    assert lab.client.getsockopt("SO_ERROR").info["value"] == "ECONNRESET"
    assert lab.server.listen().ret == 0  # it may listen again, on the port it kept


def test_destroy_aborts_the_socket_as_ss_k_does(lab: Lab) -> None:
    conn = _connected(lab)
    assert lab.client.destroy().ret == 0
    assert lab.client.tcp_info().info["state"] == "CLOSE"
    assert lab.client.getsockopt("SO_ERROR").info["value"] == "ECONNABORTED"
    lab.wait_state("server", "CLOSED")
    assert conn.getsockopt("SO_ERROR").info["value"] == "ECONNRESET"
    assert lab.client.destroy().errno == "ENOENT"  # in no table any more
    lab.expect(f"{HANDSHAKE} >R.")


@pytest.mark.parametrize("lab", ["ipv6"], indirect=True)
def test_destroy_of_a_listener_resets_its_queue(lab: Lab) -> None:
    lab.server.listen()
    lab.client.connect()
    lab.wait_state("server", "ESTABLISHED")
    assert lab.server.destroy().ret == 0
    lab.expect(f"{HANDSHAKE} <R.")
    assert lab.client.poll(ASKED).info["revents"] == tuple(RESET)
