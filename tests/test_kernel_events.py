"""The kernel's events of a run: tracefs lines read into events (real lines of Linux 6.18),
events attributed to a run's connections and sides, the client endpoints a run names, the
hand-over to a time-wait socket put in from sock_diag, and what a KernelRecord tells."""

from __future__ import annotations

import pytest

from harness.core.kernel_events import (
    LISTENER_RST_WITHIN,
    TIME_WAIT_HANDOFF,
    KernelEvent,
    KernelRecord,
    attribute,
    client_endpoints,
    parse_line,
    parse_trace,
)
from harness.core.kernel_states import with_time_wait
from harness.core.result import Call
from harness.core.segment import Segment

# Real lines (kernel 6.18, trace_clock mono, record-tgid on, and one from before it was on).
CONNECT = ("          python-8279    (   8277) [000] ..... 16136.659131: inet_sock_set_state: "
           "family=AF_INET protocol=IPPROTO_TCP sport=0 dport=5000 saddr=127.0.0.1 "
           "daddr=127.0.0.1 saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:127.0.0.1 "
           "oldstate=TCP_CLOSE newstate=TCP_SYN_SENT")
SYN_RECV = ("          python-8030    [000] ..s2. 16105.937555: inet_sock_set_state: "
            "family=AF_INET protocol=IPPROTO_TCP sport=5000 dport=25488 saddr=127.0.0.1 "
            "daddr=127.0.0.1 saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:127.0.0.1 "
            "oldstate=TCP_LISTEN newstate=TCP_SYN_RECV")
RESET = ("   harness-25715 [001] ..... 14799.856391: tcp_send_reset: skbaddr=00000000a1b2c3d4 "
         "skaddr=0000000078ce05d0 src=127.0.0.1:5000 dest=127.0.0.1:53288 state=TCP_CLOSE "
         "reason=TCP_STATE")
S, C, C2 = ("127.0.0.1", 5000), ("127.0.0.1", 20001), ("127.0.0.1", 20002)
OTHER_RUN = ("127.0.0.1", 30001)  # the same addresses, another run's client port
CLIENT_PID = 8277


def _line(event: str, fields: str, *, time: str = "100.000001", tid: int = 8279,
          tgid: str | None = "   8277") -> str:
    """A tracefs line as 6.18 prints it (the tgid column only with record-tgid on)."""
    column = f"({tgid}) " if tgid is not None else ""
    return f"          python-{tid}    {column}[001] ..... {time}: {event}: {fields}"


def _v6_state(old: str, new: str, sport: int = 5000, dport: int = 40000) -> str:
    return _line("inet_sock_set_state", f"family=AF_INET6 protocol=IPPROTO_TCP sport={sport} "
                 f"dport={dport} saddr=0.0.0.0 daddr=0.0.0.0 saddrv6=0:0:0:0:0:0:0:1 "
                 f"daddrv6=::1 oldstate={old} newstate={new}")


# -- parsing -------------------------------------------------------------------------------

def test_a_connect_line_with_the_tgid_column() -> None:
    assert parse_line(CONNECT) == KernelEvent(
        time=16136.659131, event="inet_sock_set_state", local=("127.0.0.1", 0), remote=S,
        old="CLOSE", new="SYN-SENT", pid=8277)


def test_a_line_without_the_tgid_column_takes_the_thread_id() -> None:
    assert parse_line(SYN_RECV) == KernelEvent(
        time=16105.937555, event="inet_sock_set_state", local=S, remote=("127.0.0.1", 25488),
        old="LISTEN", new="SYN-RECV", pid=8030)


def test_an_unknown_tgid_takes_the_thread_id() -> None:
    line = _line("tcp_receive_reset", "family=AF_INET sport=5000 dport=20001 saddr=127.0.0.1 "
                 "daddr=127.0.0.1 saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:127.0.0.1 "
                 "sock_cookie=2a", tid=0, tgid="-------")
    event = parse_line(line)
    assert event is not None
    assert (event.event, event.pid, event.local, event.remote) == (
        "tcp_receive_reset", 0, S, C)


def test_an_rst_line_keeps_its_socket_state_and_reason() -> None:
    assert parse_line(RESET) == KernelEvent(
        time=14799.856391, event="tcp_send_reset", sock="0000000078ce05d0", local=S,
        remote=("127.0.0.1", 53288), state="CLOSE", reason="TCP_STATE", pid=25715)


def test_an_ipv6_rst_without_a_socket() -> None:
    line = _line("tcp_send_reset", "skbaddr=00000000a1b2c3d4 skaddr=0000000000000000 "
                 "src=[::1]:5000 dest=[0:0:0:0:0:0:0:1]:40000 state=UNKNOWN reason=NO_SOCKET")
    event = parse_line(line)
    assert event is not None
    assert (event.sock, event.local, event.remote, event.state, event.reason) == (
        "", ("::1", 5000), ("::1", 40000), "", "NO_SOCKET")


def test_an_ipv6_state_change_reads_the_v6_pair_normalised() -> None:
    event = parse_line(_v6_state("TCP_FIN_WAIT1", "TCP_FIN_WAIT2"))
    assert event is not None
    assert (event.local, event.remote, event.old, event.new) == (
        ("::1", 5000), ("::1", 40000), "FIN-WAIT-1", "FIN-WAIT-2")


@pytest.mark.parametrize(("kernel", "ours"), [
    ("TCP_FIN_WAIT1", "FIN-WAIT-1"), ("TCP_TIME_WAIT", "TIME-WAIT"),
    ("TCP_CLOSE_WAIT", "CLOSE-WAIT"), ("TCP_NEW_SYN_RECV", "NEW-SYN-RECV"),
    ("TCP_BOGUS", "")])
def test_state_names_are_ours(kernel: str, ours: str) -> None:
    line = _line("tcp_retransmit_skb", "skbaddr=00000000a1b2c3d4 skaddr=0000000078ce05d0 "
                 "family=AF_INET sport=20001 dport=5000 saddr=127.0.0.1 daddr=127.0.0.1 "
                 f"saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:127.0.0.1 state={kernel}")
    event = parse_line(line)
    assert event is not None
    assert (event.state, event.sock, event.local) == (ours, "0000000078ce05d0", C)


@pytest.mark.parametrize("line", [
    "",
    "# tracer: nop",
    "#           TASK-PID     TGID     CPU#  |||||  TIMESTAMP  FUNCTION",
    _line("sched_switch", "prev_comm=python prev_pid=8279 next_comm=swapper/1 next_pid=0"),
    "python-8279 [001] ..... 100.0: tcp_send_reset",
    "garbage with tcp_send_reset: in it",
])
def test_lines_of_other_kinds_are_none(line: str) -> None:
    assert parse_line(line) is None


def test_a_state_line_without_ports_has_no_endpoints() -> None:
    event = parse_line(_line("inet_sock_set_state", "family=AF_INET oldstate=TCP_CLOSE "
                             "newstate=TCP_SYN_SENT"))
    assert event is not None
    assert (event.local, event.remote, event.new) == (None, None, "SYN-SENT")


def test_parse_trace_skips_lines_it_cannot_read_and_adds_the_offset() -> None:
    text = "\n".join(["# tracer: nop", CONNECT, "junk", RESET, ""])
    events = parse_trace(text, offset=1000.5)
    assert [(e.event, e.time) for e in events] == [
        ("inet_sock_set_state", pytest.approx(17137.159131)),
        ("tcp_send_reset", pytest.approx(15800.356391))]


# -- attribution ---------------------------------------------------------------------------

def _change(time: float, old: str, new: str, local: tuple[str, int] = C,
            remote: tuple[str, int] = S, pid: int = 0) -> KernelEvent:
    return KernelEvent(time, "inet_sock_set_state", local=local, remote=remote, old=old,
                       new=new, pid=pid)


def _rst(time: float, local: tuple[str, int], remote: tuple[str, int], reason: str = "TCP_STATE",
         state: str = "CLOSE") -> KernelEvent:
    return KernelEvent(time, "tcp_send_reset", sock="ff", local=local, remote=remote,
                       state=state, reason=reason)


def _portless(time: float, pid: int = CLIENT_PID) -> KernelEvent:
    return _change(time, "CLOSE", "SYN-SENT", local=("127.0.0.1", 0), pid=pid)


def _who(events: tuple[KernelEvent, ...]) -> list[tuple[float, str, str, str]]:
    return [(e.time, e.event, e.side, e.connection) for e in events]


def test_events_of_the_run_get_their_side_and_connection() -> None:
    events = [_change(2.0, "ESTABLISHED", "FIN-WAIT-1"),
              _change(1.0, "SYN-SENT", "ESTABLISHED"),
              _change(1.5, "SYN-RECV", "ESTABLISHED", local=S, remote=C),
              _rst(3.0, S, C)]
    got = attribute(events, S, {"client": C})
    assert _who(got) == [(1.0, "inet_sock_set_state", "client", "client"),
                         (1.5, "inet_sock_set_state", "server", "client"),
                         (2.0, "inet_sock_set_state", "client", "client"),
                         (3.0, "tcp_send_reset", "server", "client")]


def test_events_of_another_run_are_left_out() -> None:
    events = [_change(1.0, "SYN-SENT", "ESTABLISHED", local=OTHER_RUN),
              _rst(1.1, S, OTHER_RUN), _change(1.2, "SYN-SENT", "ESTABLISHED")]
    assert _who(attribute(events, S, {"client": C})) == [
        (1.2, "inet_sock_set_state", "client", "client")]


def test_a_portless_connect_is_the_next_connection_of_a_client_process() -> None:
    events = [_portless(0.9), _change(1.0, "SYN-SENT", "ESTABLISHED")]
    got = attribute(events, S, {"client": C}, clients=[CLIENT_PID])
    assert [(e.time, e.side, e.connection, e.new) for e in got] == [
        (0.9, "client", "client", "SYN-SENT"), (1.0, "client", "client", "ESTABLISHED")]
    assert KernelRecord(got).entered("client") == ["SYN-SENT", "ESTABLISHED"]


def test_a_portless_connect_of_another_process_is_left_out() -> None:
    events = [_portless(0.9, pid=4242), _change(1.0, "SYN-SENT", "ESTABLISHED")]
    assert [e.time for e in attribute(events, S, {"client": C}, clients=[CLIENT_PID])] == [1.0]
    assert [e.time for e in attribute(events, S, {"client": C})] == [1.0]


def test_a_portless_connect_after_every_start_is_left_out() -> None:
    events = [_change(1.0, "SYN-SENT", "ESTABLISHED"), _portless(1.1)]
    assert [e.time for e in attribute(events, S, {"client": C}, clients=[CLIENT_PID])] == [1.0]


def test_two_connections_get_their_portless_connects_in_order() -> None:
    events = [_portless(0.5), _portless(0.6), _change(1.0, "SYN-SENT", "ESTABLISHED"),
              _change(2.0, "SYN-SENT", "ESTABLISHED", local=C2)]
    got = attribute(events, S, {"client": C, "c2": C2}, clients=[CLIENT_PID])
    assert [(e.time, e.connection) for e in got] == [
        (0.5, "client"), (0.6, "c2"), (1.0, "client"), (2.0, "c2")]


def test_two_connections_one_connect_each_between_their_starts() -> None:
    events = [_portless(0.5), _change(1.0, "SYN-SENT", "ESTABLISHED"), _portless(1.5),
              _change(2.0, "SYN-SENT", "ESTABLISHED", local=C2)]
    got = attribute(events, S, {"client": C, "c2": C2}, clients=[CLIENT_PID])
    assert [(e.time, e.connection) for e in got] == [
        (0.5, "client"), (1.0, "client"), (1.5, "c2"), (2.0, "c2")]


LISTENER_RST = _rst(5.0, S, ("0.0.0.0", 0), reason="TCP_FLAGS", state="LISTEN")


@pytest.mark.parametrize("captured", [5.0005, 4.999, 5.0 + LISTENER_RST_WITHIN - 0.01])
def test_a_listener_rst_with_a_captured_rst_soon_after_is_the_connections(
        captured: float) -> None:
    got = attribute([LISTENER_RST], S, {"client": C}, server_rsts=[(captured, C)])
    assert got == (KernelEvent(5.0, "tcp_send_reset", sock="ff", local=S, remote=C,
                               state="LISTEN", reason="TCP_FLAGS", side="server",
                               connection="client"),)


@pytest.mark.parametrize("server_rsts", [
    [], [(5.0 + LISTENER_RST_WITHIN + 0.01, C)], [(4.99, C)], [(5.0005, OTHER_RUN)]])
def test_a_listener_rst_without_a_captured_rst_of_the_run_is_left_out(
        server_rsts: list) -> None:
    assert attribute([LISTENER_RST], S, {"client": C}, server_rsts=server_rsts) == ()


def test_each_captured_rst_explains_one_listener_rst() -> None:
    second = _rst(5.1, S, ("0.0.0.0", 0), reason="TCP_FLAGS", state="LISTEN")
    got = attribute([LISTENER_RST, second], S, {"client": C, "c2": C2},
                    server_rsts=[(5.0005, C2), (5.1005, C)])
    assert [(e.time, e.remote, e.connection) for e in got] == [(5.0, C2, "c2"), (5.1, C, "client")]
    one = attribute([LISTENER_RST, second], S, {"client": C}, server_rsts=[(5.0005, C)])
    assert [(e.time, e.remote) for e in one] == [(5.0, C)]


def test_a_listener_rst_of_another_run_takes_no_rst_the_connection_sent() -> None:
    """Every run listens on 127.0.0.1:5000 (each in its namespaces; tracefs sees them all):
    the captured RST that the connection's own event sent is no stranger listener's."""
    own = _rst(5.3, S, C)
    got = attribute([LISTENER_RST, own], S, {"client": C}, server_rsts=[(5.3005, C)])
    assert _who(got) == [(5.3, "tcp_send_reset", "server", "client")]
    # the run's own listener RST after its connection's RST still has its captured RST
    later = _rst(5.5, S, ("0.0.0.0", 0), reason="TCP_FLAGS", state="LISTEN")
    got = attribute([own, later], S, {"client": C}, server_rsts=[(5.3005, C), (5.5005, C)])
    assert [(e.time, e.reason, e.remote) for e in got] == [
        (5.3, "TCP_STATE", C), (5.5, "TCP_FLAGS", C)]


def test_an_rst_the_link_dropped_leaves_the_captured_one_to_the_listener() -> None:
    """rst-lost: the connection's own RST (5.0) is dropped before the capture; the peer's
    next segment draws the listener's (5.2), which is the one captured (5.25, after the
    link's delay): the latest RST event not after it is the listener's."""
    own = _rst(5.0, S, C)
    fresh = _rst(5.2, S, ("0.0.0.0", 0), reason="TCP_FLAGS", state="LISTEN")
    got = attribute([own, fresh], S, {"client": C}, server_rsts=[(5.25, C)])
    assert [(e.time, e.reason, e.remote) for e in got] == [
        (5.0, "TCP_STATE", C), (5.2, "TCP_FLAGS", C)]


# -- the client endpoints of a run -----------------------------------------------------------

def _syn(index: int, src: tuple[str, int], flags: int = 0x02, to: tuple[str, int] = S) -> Segment:
    return Segment(time=float(index), family="ipv4", src=src[0], sport=src[1], dst=to[0],
                   dport=to[1], flags=flags, seq=0, ack=0, win=65535, length=0, index=index)


def _connect(sock: str, local: tuple[str, int] | None) -> Call:
    return Call(peer="client", sock=sock, call="connect", ret=0 if local else -1,
                info={"local": local} if local else {})


def test_client_endpoints_are_those_connect_reported() -> None:
    calls = [_connect("client", C), _connect("c2", C2),
             Call(peer="server", sock="conn", call="accept", info={"local": S})]
    assert client_endpoints(calls, [_syn(1, C2), _syn(2, C)], S) == {"client": C, "c2": C2}


def test_a_connect_without_its_local_address_takes_the_next_spare_syn() -> None:
    segments = [_syn(1, C), _syn(2, S, flags=0x12, to=C), _syn(3, OTHER_RUN, to=("10.9.9.9", 80)),
                _syn(4, C2), _syn(5, C2)]
    assert client_endpoints([_connect("client", C), _connect("c2", None)], segments, S) == {
        "client": C, "c2": C2}
    assert client_endpoints([_connect("c2", None)], segments[1:3], S) == {}


def test_without_connect_calls_each_syn_source_is_a_connection() -> None:
    segments = [_syn(1, C), _syn(2, C), _syn(3, S, flags=0x12, to=C), _syn(4, C2),
                _syn(5, OTHER_RUN, flags=0x12)]  # a SYN-ACK to the server starts nothing
    assert client_endpoints([], segments, S) == {"client": C, "connection 2": C2}
    assert client_endpoints([], [], S) == {}


# -- the hand-over to a time-wait socket -----------------------------------------------------

ACTIVE_CLOSE = (_change(1.0, "SYN-SENT", "ESTABLISHED"), _change(2.0, "ESTABLISHED", "FIN-WAIT-1"),
                _change(2.1, "FIN-WAIT-1", "FIN-WAIT-2"), _change(2.2, "FIN-WAIT-2", "CLOSE"))


def _record(*events: KernelEvent) -> KernelRecord:
    return KernelRecord(attribute(events, S, {"client": C}))


def test_time_wait_is_put_in_before_the_last_close() -> None:
    record = with_time_wait(_record(*ACTIVE_CLOSE), {"client": "TIME-WAIT", "server": "CLOSED"})
    handoff = record.transitions("client")[-2]
    assert (handoff.event, handoff.time, handoff.old, handoff.new) == (
        TIME_WAIT_HANDOFF, 2.2, "FIN-WAIT-2", "TIME-WAIT")
    assert record.entered("client") == ["ESTABLISHED", "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT",
                                        "CLOSE"]
    assert handoff.text() == "FIN-WAIT-2 -> TIME-WAIT (a time-wait socket takes over)"


def test_time_wait_from_closing_and_for_the_server() -> None:
    events = [_change(1.0, "ESTABLISHED", "FIN-WAIT-1", local=S, remote=C),
              _change(1.1, "FIN-WAIT-1", "CLOSING", local=S, remote=C),
              _change(1.2, "CLOSING", "CLOSE", local=S, remote=C)]
    record = with_time_wait(_record(*events), {"server": "TIME-WAIT", "client": "TIME-WAIT"})
    assert record.entered("server") == ["FIN-WAIT-1", "CLOSING", "TIME-WAIT", "CLOSE"]
    assert record.entered("client") == []


@pytest.mark.parametrize("state", ["CLOSED", "FIN-WAIT-2", "CLOSE"])
def test_no_time_wait_when_the_side_ended_elsewhere(state: str) -> None:
    record = _record(*ACTIVE_CLOSE)
    assert with_time_wait(record, {"client": state}) is record


@pytest.mark.parametrize("reset", [
    _rst(2.2005, C, S), KernelEvent(2.1995, "tcp_receive_reset", local=C, remote=S)])
def test_no_time_wait_when_an_rst_accompanies_the_close(reset: KernelEvent) -> None:
    record = _record(*ACTIVE_CLOSE, reset)
    assert with_time_wait(record, {"client": "TIME-WAIT"}).entered("client")[-1] == "CLOSE"
    assert TIME_WAIT_HANDOFF not in [e.event for e in with_time_wait(
        record, {"client": "TIME-WAIT"}).events]


def test_an_rst_well_before_the_close_does_not_stop_time_wait() -> None:
    record = _record(*ACTIVE_CLOSE, _rst(2.1, C, S))
    assert "TIME-WAIT" in with_time_wait(record, {"client": "TIME-WAIT"}).entered("client")


def test_no_time_wait_from_established_or_without_a_close() -> None:
    abort = _record(_change(1.0, "SYN-SENT", "ESTABLISHED"), _change(2.0, "ESTABLISHED", "CLOSE"))
    assert with_time_wait(abort, {"client": "TIME-WAIT"}) is abort
    open_ = _record(*ACTIVE_CLOSE[:3])
    assert with_time_wait(open_, {"client": "TIME-WAIT"}) is open_
    assert with_time_wait(KernelRecord(), {"client": "TIME-WAIT"}) == KernelRecord()


# -- the record ----------------------------------------------------------------------------

def test_a_record_tells_its_transitions_resets_and_untraced_connections() -> None:
    record = KernelRecord(attribute([*ACTIVE_CLOSE, _rst(3.0, S, C), _rst(3.5, C2, S),
                                     _change(3.2, "SYN-SENT", "ESTABLISHED", local=C2)],
                                    S, {"client": C, "c2": C2}),
                          untraced=(("c3", "its port was bound by the scenario"),))
    assert record.traced and not KernelRecord(missing="no tracefs").traced
    assert record.entered("client", "c2") == ["ESTABLISHED"]
    assert [e.time for e in record.resets()] == [3.0, 3.5]
    assert [e.time for e in record.resets("client")] == [3.5]
    assert record.why_untraced("c3") == "its port was bound by the scenario"
    assert record.why_untraced("client") == ""
    assert [e.time for e in record.shifted(-1.0).resets()] == [2.0, 2.5]


def test_event_texts() -> None:
    assert ACTIVE_CLOSE[1].text() == "ESTABLISHED -> FIN-WAIT-1"
    assert _rst(1.0, S, C).text() == (
        "RST sent by tcp_send_reset (reason TCP_STATE, state CLOSE)")
    assert _rst(1.0, S, C, reason="", state="").text() == (
        "RST sent by tcp_send_reset (no reason given, state none)")
    assert KernelEvent(1.0, "tcp_receive_reset").text() == "RST received"
    assert KernelEvent(1.0, "tcp_retransmit_skb", state="SYN-SENT").text() == (
        "retransmission (SYN-SENT)")


def test_an_older_kernels_rst_line_is_read_from_its_ports_and_addresses() -> None:
    """Before 6.10 tcp_send_reset printed the socket's ports and both address pairs (the
    layout of include/trace/events/tcp.h's tcp_event_sk_skb), and no reason."""
    line = ("          python-4242    (   4240) [001] ..... 512.250000: tcp_send_reset: "
            "skbaddr=0000000000000000 skaddr=00000000deadbeef family=AF_INET6 sport=5000 "
            "dport=20002 saddr=0.0.0.0 daddr=0.0.0.0 saddrv6=::1 daddrv6=::1 "
            "state=TCP_ESTABLISHED")
    event = parse_line(line)
    assert event == KernelEvent(512.25, "tcp_send_reset", sock="00000000deadbeef",
                                local=("::1", 5000), remote=("::1", 20002),
                                state="ESTABLISHED", pid=4240)
