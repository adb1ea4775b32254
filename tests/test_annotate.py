"""Packet comments: which step sent each packet, which steps happened with no packet, and each
packet's place in the pattern match."""

from __future__ import annotations

import dataclasses

from harness.core.conversation import split_conversations
from harness.core.notation import str_to_flags
from harness.core.pattern import compile_pattern
from harness.core.result import Call, RunResult
from harness.core.segment import Segment
from harness.pcap.annotate import (
    duration,
    event_comments,
    frame_comments,
    outcome,
    pattern_comments,
    step_comments,
    step_text,
    step_texts,
)

T0 = 1_700_000_000.0
CLIENT, SERVER = ("127.0.0.1", 40000), ("127.0.0.1", 5000)


def _seg(index: int, at_ms: float, way: str, flags: str, seq: int = 0, ack: int = 0,
         length: int = 0) -> Segment:
    src, dst = (CLIENT, SERVER) if way == ">" else (SERVER, CLIENT)
    return Segment(time=T0 + at_ms / 1000, family="ipv4", src=src[0], sport=src[1],
                   dst=dst[0], dport=dst[1], flags=str_to_flags(flags), seq=seq, ack=ack,
                   win=65000, length=length, index=index)


def _call(peer: str, sock: str, call: str, at_ms: float, took_ms: float = 0.05,
          ret: int | None = 0, **kw) -> Call:
    return Call(peer=peer, sock=sock, call=call, args=kw.pop("args", {}), ret=ret,
                start=T0 + at_ms / 1000, elapsed=took_ms / 1000, **kw)


def _abort_run() -> RunResult:
    """The server aborts with SO_LINGER {1,0}: handshake, then an RST."""
    segments = [_seg(1, 1.0, ">", "S", 100), _seg(2, 1.01, "<", "S.", 500, 101),
                _seg(3, 1.02, ">", ".", 101, 501), _seg(4, 5.0, "<", "R.", 501, 101)]
    calls = [_call("server", "server", "listen", 0.0, args={"backlog": 16}),
             _call("client", "client", "connect", 0.99, 0.05),
             _call("server", "server", "accept", 2.0, ret=4, args={"into": "conn"}),
             _call("server", "conn", "set_linger", 3.0, args={"onoff": 1, "linger": 0}),
             _call("server", "conn", "close", 4.99, 0.1),
             _call("client", "client", "recv", 6.0, ret=-1, errno="ECONNRESET",
                   args={"size": 100})]
    return RunResult("x", "ipv4", segments=segments, calls=calls, client=CLIENT, server=SERVER)


def test_durations_and_outcomes_read_like_a_person_wrote_them() -> None:
    assert [duration(s) for s in (0.0001, 0.0406, 1.0204)] == ["0.1 ms", "40.6 ms", "1.020 s"]
    assert outcome(_call("c", "c", "recv", 0, ret=-1, errno="ECONNRESET")) == "-1 ECONNRESET"
    drained = _call("c", "c", "drain", 0, ret=4096, info={"ended_by": "ECONNRESET"})
    assert outcome(drained) == "4096 bytes, then ECONNRESET"
    piped = _call("c", "c", "send", 0, ret=-1, errno="EPIPE", info={"signal": "SIGPIPE"})
    assert outcome(piped) == "-1 EPIPE, SIGPIPE raised"
    assert outcome(_call("s", "s", "accept", 0, 2000, ret=None, blocked=True)) == (
        "still blocked after 2.000 s")


def test_a_step_names_the_socket_options_that_change_what_it_does() -> None:
    texts = step_texts(_abort_run().calls)
    assert texts[4] == "server: conn.close() with SO_LINGER {1,0} → 0 in 0.1 ms"
    assert texts[0] == "server: server.listen(16) → 0 in 0.1 ms"


def test_an_accepted_socket_inherits_its_listeners_linger_and_exit_lists_them() -> None:
    calls = [_call("server", "server", "set_linger", 0, args={"onoff": 1, "linger": 5}),
             _call("server", "server", "accept", 1, ret=4, args={"into": "conn"}),
             _call("server", "conn", "set_nonblocking", 2, args={"on": True}),
             _call("server", "conn", "close", 3),
             _call("server", "server", "exit", 4, args={"code": 0})]
    texts = step_texts(calls)
    assert texts[3].startswith("server: conn.close() with SO_LINGER {1,5} (O_NONBLOCK) → 0")
    assert "exit(0) with SO_LINGER {1,5} on conn, {1,5} on server" in texts[4]


def test_each_packet_is_told_which_step_sent_it_or_came_before_it() -> None:
    notes = step_comments(_abort_run())
    assert notes[1][0].startswith("server: server.listen(16) → 0 in 0.1 ms; no packet of its "
                                  "own (")
    assert notes[1][1] == "client: client.connect() → 0 in 0.1 ms; sent this"
    assert notes[2] == []  # the SYN-ACK is the server kernel's answer, not a step's
    assert notes[3] == ["client: client.connect() also sent this"]
    assert notes[4][2] == "server: conn.close() with SO_LINGER {1,0} → 0 in 0.1 ms; sent this"
    assert notes[4][0].startswith("server: server.accept(conn) → 4")
    assert notes[4][1].startswith("server: conn.set_linger(1, 0) → 0")
    last = "client: client.recv(100) → -1 ECONNRESET in 0.1 ms; no packet of its own (1.0 ms "
    assert any(n.startswith(last) and n.endswith("after this packet)") for n in notes[4])


def test_a_call_that_blocks_without_a_packet_is_noted_when_called_and_when_it_returns() -> None:
    segments = [_seg(1, 0.0, ">", "S"), _seg(2, 500.0, ">", ".", 1, 1),
                _seg(3, 1200.0, "<", ".", 1, 1)]
    calls = [_call("server", "conn", "close", 10.0, 1000.0)]
    notes = step_comments(RunResult("x", "ipv4", segments=segments, calls=calls,
                                    client=CLIENT, server=SERVER))
    assert notes[2] == ["server: conn.close() called; it blocks (490.0 ms before this packet)"]
    assert notes[3] == ["server: conn.close() → 0 in 1.000 s; no packet of its own (190.0 ms "
                        "before this packet)"]


def test_a_blocked_close_owns_its_fin_and_the_packets_its_side_sent_meanwhile() -> None:
    segments = [_seg(1, 1.0, "<", "F.", 1, 1), _seg(2, 400.0, "<", ".", 2, 1),
                _seg(3, 1100.0, ">", ".", 1, 2)]
    calls = [_call("server", "conn", "close", 0.5, 1000.0)]
    notes = step_comments(RunResult("x", "ipv4", segments=segments, calls=calls,
                                    client=CLIENT, server=SERVER))
    assert notes[1] == ["server: conn.close() → 0 in 1.000 s; sent this"]
    assert notes[2] == ["server: sent while conn.close() was blocked"]
    assert notes[3] == ["server: conn.close() returned 0 (99.5 ms before this packet)"]


def test_a_read_owns_a_window_update_but_not_an_ack_of_new_data() -> None:
    segments = [_seg(1, 0.0, ">", "P.", 1, 1, length=10), _seg(2, 0.5, "<", ".", 1, 11),
                _seg(3, 2.0, "<", ".", 1, 11)]
    calls = [_call("server", "conn", "recv", 0.4, 2.0, ret=10, args={"size": 10})]
    notes = step_comments(RunResult("x", "ipv4", segments=segments, calls=calls,
                                    client=CLIENT, server=SERVER))
    assert notes[2] == []
    assert notes[3] == ["server: conn.recv(10) → 10 in 2.0 ms; sent this"]


def test_a_later_call_of_the_same_peer_ends_the_earlier_ones_claim() -> None:
    segments = [_seg(1, 0.0, ">", "S"), _seg(2, 0.2, ">", "P.", 1, 1, length=5)]
    calls = [_call("client", "client", "connect", 0.0, 0.1),
             _call("client", "client", "send", 0.15, 0.1, ret=5, args={"data": "x"})]
    notes = step_comments(RunResult("x", "ipv4", segments=segments, calls=calls,
                                    client=CLIENT, server=SERVER))
    assert notes[2][0].startswith("client: client.send(<? bytes>) → 5")


def test_pattern_comments_name_the_token_each_packet_matched() -> None:
    run = _abort_run()
    conversations = split_conversations(run.segments)
    match = compile_pattern(">S <S. >. (<F. | <R.)").match(conversations[0].tokens())
    notes = pattern_comments(conversations, match)
    assert notes[1] == ['pattern: packet 1 of 4 >S matched (">S" at column 1)']
    assert notes[4] == ['pattern: packet 4 of 4 <R. matched ("<R." at column 18)']


def test_pattern_comments_show_the_tokens_fields_and_the_field_that_broke() -> None:
    run = _abort_run()
    conversations = split_conversations(run.segments)
    match = compile_pattern(">S <S. >. <R.[seq=1]").match(conversations[0].packets())
    notes = pattern_comments(conversations, match)
    assert notes[4] == ['pattern: packet 4 of 4 <R. matched ("<R.[seq=1]" at column 11)']
    broken = compile_pattern(">S <S. >. <R.[ack=301]").match(conversations[0].packets())
    assert pattern_comments(conversations, broken)[4] == [
        "pattern: BROKE HERE: packet 4 <R. has ack 1; the pattern wants ack=301"]


def test_the_break_is_marked_and_what_follows_it_too() -> None:
    run = _abort_run()
    conversations = split_conversations(run.segments)
    match = compile_pattern(">S <S. <F. >.").match(conversations[0].tokens())
    notes = pattern_comments(conversations, match)
    assert notes[3] == ["pattern: BROKE HERE: packet 3 >. does not fit: the pattern expected "
                        "<F. there"]
    assert notes[4] == ["pattern: packet 4 <R. comes after the break"]


def test_a_capture_that_ends_early_says_so_on_its_last_packet() -> None:
    run = _abort_run()
    conversations = split_conversations(run.segments)
    match = compile_pattern(">S <S. >. <R. >.").match(conversations[0].tokens())
    assert frame_comments(run, match)[4][-1] == (
        "pattern: the capture ended after 4 packets, but the pattern expected >. next")


def test_packets_of_another_connection_say_they_are_not_judged() -> None:
    other = [_seg(5, 9.0, ">", "S", 7), _seg(6, 9.1, "<", "R.", 0, 8)]
    other = [Segment(**{**s.__dict__, "sport": 40001} if s.src == CLIENT[0] and s.sport
                     == 40000 else {**s.__dict__, "dport": 40001}) for s in other]
    run = _abort_run()
    run = dataclasses.replace(run, segments=(*run.segments, *other))
    conversations = split_conversations(run.segments)
    match = compile_pattern(">S <S. >. <R.").match(conversations[0].tokens())
    notes = frame_comments(run, match)
    assert notes[5][-1] == "pattern: stream 1, not the judged connection (stream 0)"


def test_the_step_text_is_what_results_and_the_pcap_share() -> None:
    call = _call("server", "conn", "close", 0, 0.1)
    assert step_text(call, " with SO_LINGER {1,0}") == (
        "server: conn.close() with SO_LINGER {1,0} → 0 in 0.1 ms")


def test_a_match_made_before_the_last_packets_places_only_the_packets_it_saw() -> None:
    run = _abort_run()
    conversations = split_conversations(run.segments)
    match = compile_pattern(">S <S. >.").match(conversations[0].tokens()[:3])
    notes = pattern_comments(conversations, match)
    assert notes[3] == ['pattern: packet 3 of 3 >. matched (">." at column 8)']
    assert 4 not in notes  # the RST came after the test's last expect


def test_events_without_a_packet_go_on_the_next_packet_with_how_long_before_it() -> None:
    run = _abort_run()
    events = [(T0 + 0.0060, "client: ./c exited 1 after 0.006 s"),
              (T0 + 0.0005, "server: ./s started (pid 7)")]
    notes = event_comments(run.segments, events)
    assert notes == {1: ["server: ./s started (pid 7) (0.5 ms before this packet)"],
                     4: ["client: ./c exited 1 after 0.006 s (1.0 ms after this packet)"]}
