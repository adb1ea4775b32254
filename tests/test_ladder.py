"""The ladder model, built from a results.json entry or from an annotated capture, and its
terminal rendering."""

from __future__ import annotations

from harness.core.document import RunEntry
from harness.core.notation import str_to_flags
from harness.core.segment import Segment
from harness.report import ladder as ladders
from harness.report.ladder import (
    Arrow,
    Ladder,
    Step,
    ladder_from_capture,
    packet_label,
    render_text,
)
from harness.report.states import StateMark, marks_in, read_marks

T0 = 1_700_000_000.0


def ladder_from_run(entry: dict) -> Ladder:
    """The ladder of a run written as results.json holds it, read as `harness report` does."""
    return ladders.ladder_from_run(RunEntry.from_json(entry))


def _packet(frame: int, t: float, way: str, flags: str, stream: int = 0, **kw) -> dict:
    return {"frame": frame, "t": t, "stream": stream, "dir": way, "token": way + flags,
            "label": packet_label(flags, kw.get("seq", 0), kw.get("ack"), 0, 100),
            "comments": kw.get("comments", [])}


ENTRY = {
    "id": "linger-abort-server", "family": "ipv4", "topology": "loopback", "verdict": "fail",
    "pattern": ">S <S. >. <F.", "client_address": "127.0.0.1:40000",
    "server_address": "127.0.0.1:5000",
    "match": {"ok": False, "failed_at": 3, "sentence": "packet 4 <R. does not fit"},
    "packets": [_packet(1, 0.001, ">", "S"), _packet(2, 0.0011, "<", "S.", ack=1),
                _packet(3, 0.0012, ">", ".", seq=1, ack=1),
                _packet(4, 0.0050, "<", "R.", seq=1, ack=1,
                        comments=["server: conn.close() → 0 in 0.1 ms; sent this",
                                  "pattern: BROKE HERE: packet 4 <R. does not fit"]),
                _packet(5, 0.0060, ">", "S", stream=1)],
    "calls": [{"peer": "server", "call": "listen", "t": 0.0,
               "text": "server: server.listen(16) → 0 in 0.1 ms"},
              {"peer": "client", "call": "connect", "t": 0.001,
               "text": "client: client.connect() → 0 in 0.1 ms"},
              {"peer": "server", "call": "close", "t": 0.0049,
               "text": "server: conn.close() with SO_LINGER {1,0} → 0 in 0.1 ms"},
              {"peer": "lab", "call": "wait_state", "t": 0.007, "error": "never got there",
               "text": "lab: server.wait_state(CLOSED) → harness error: never got there"}],
}


def test_labels_read_like_tcpdump() -> None:
    assert packet_label("S", 0, None, 0, 65495) == "S seq 0 win 65495"
    assert packet_label("P.", 1, 1, 100, 512) == "P. seq 1 ack 1 len 100"
    assert packet_label(".", 1, 4097, 0, 0) == ". seq 1 ack 4097 win 0"


def test_a_run_entry_becomes_arrows_and_steps_in_time_order() -> None:
    ladder = ladder_from_run(ENTRY)
    assert [a.mark for a in ladder.arrows] == ["match", "match", "match", "break", "other"]
    assert ladder.arrows[3].note == "BROKE HERE: packet 4 <R. does not fit"
    assert [s.side for s in ladder.steps] == ["server", "client", "server", "lab"]
    assert ladder.steps[2].text == "conn.close() with SO_LINGER {1,0} → 0 in 0.1 ms"
    assert ladder.steps[3].failed
    rows = ladder.rows()
    assert isinstance(rows[1], Step) and isinstance(rows[2], Arrow)  # connect, then its SYN
    assert [r.time for r in rows] == sorted(r.time for r in rows)


def test_the_terminal_ladder_draws_each_arrow_the_right_way_and_marks_the_break() -> None:
    text = render_text(ladder_from_run(ENTRY))
    lines = text.splitlines()
    syn = next(line for line in lines if "S seq 0" in line and ">S" in line)
    assert "|- S seq 0" in syn and syn.index(">|") > syn.index("|-")
    reset = next(line for line in lines if "R. seq 1" in line)
    assert "|<- R. seq 1 ack 1" in reset and "BROKE" in reset
    close = next(line for line in lines if "conn.close()" in line)
    assert close.index("conn.close()") > reset.index("|<-")  # server steps right of the line
    connect = next(line for line in lines if "client.connect()" in line)
    assert connect.index("client.connect()") < syn.index("|-")  # client steps to the left
    assert lines[-2] == "BROKE: packet 4 <R. does not fit" and lines[-1] == "verdict: FAIL"


def test_an_empty_ladder_still_renders() -> None:
    assert "verdict" not in render_text(Ladder(title="t", client="c", server="s"))


def _seg(index: int, at: float, way: str, flags: str, seq: int, ack: int) -> Segment:
    ends = (("10.0.0.1", 40000), ("10.0.0.2", 5000))
    src, dst = ends if way == ">" else ends[::-1]
    return Segment(T0 + at, "ipv4", src[0], src[1], dst[0], dst[1], str_to_flags(flags), seq,
                   ack, 0 if flags == "." and way == ">" else 100, 0, index)


def test_a_capture_becomes_a_ladder_with_the_steps_its_comments_name() -> None:
    segments = [_seg(1, 0.0, ">", "S", 1000, 0), _seg(2, 0.001, "<", "S.", 5000, 1001),
                _seg(3, 0.002, ">", ".", 1001, 5001)]
    comments = {1: ["server: server.listen(16) → 0 in 0.1 ms; no packet of its own (0.5 ms "
                    "before this packet)",
                    "client: client.connect() → 0 in 0.1 ms; sent this",
                    "pattern: packet 1 of 3 >S matched"],
                3: ["client: client.connect() also sent this",
                    "client: client.recv(1) → -1 ECONNRESET in 0.0 ms; no packet of its own "
                    "(2.0 ms after this packet)",
                    "pattern: BROKE HERE: packet 3 >. does not fit"]}
    section = ["scenario x", "pattern: >S <S. <R.", "verdict: FAIL"]
    ladder = ladder_from_capture("x.pcapng", segments, comments, section=section)
    assert (ladder.client, ladder.server) == ("10.0.0.1:40000", "10.0.0.2:5000")
    assert ladder.pattern == ">S <S. <R." and ladder.verdict == "FAIL"
    assert [a.label for a in ladder.arrows] == ["S seq 0 win 100", "S. seq 0 ack 1 win 100",
                                                ". seq 1 ack 1 win 0"]
    assert [a.mark for a in ladder.arrows] == ["match", "none", "break"]
    assert ladder.sentence == "packet 3 >. does not fit"
    texts = [(s.side, s.text, round(s.time, 4)) for s in ladder.steps]
    assert texts == [("server", "server.listen(16) → 0 in 0.1 ms", 0.0),
                     ("client", "client.connect() → 0 in 0.1 ms", 0.0005),
                     ("client", "client.recv(1) → -1 ECONNRESET in 0.0 ms", 0.0045)]


def test_a_call_that_blocked_is_drawn_when_made_and_when_it_returned() -> None:
    entry = {**ENTRY, "calls": [{"peer": "server", "call": "close", "t": 0.01, "elapsed": 1.02,
                                 "text": "server: conn.close() with SO_LINGER {1,1} → 0 in "
                                         "1.020 s"}]}
    made, returned = ladder_from_run(entry).steps
    assert (made.time, made.text) == (0.01, "conn.close() with SO_LINGER {1,1} called; it blocks")
    assert returned.time == 1.03 and returned.text.endswith("→ 0 in 1.020 s")


def test_every_row_keeps_both_timelines_in_the_same_columns() -> None:
    lines = render_text(ladder_from_run(ENTRY)).splitlines()[3:-2]
    bars = {tuple(i for i, ch in enumerate(line) if ch == "|")[:2] for line in lines}
    assert len(bars) == 1, bars


# ---------------------------------------------------------------- states on the lifelines

ORPHAN = {"state": "FIN-WAIT-1", "local": "127.0.0.1:5000", "remote": "127.0.0.1:40000",
          "send_q": 2985985, "orphan": True}
WITH_STATES = {**ENTRY, "states": {"server": ORPHAN, "client": {"state": "CLOSED"}}}


def test_a_runs_final_states_become_one_mark_per_side_client_first() -> None:
    ladder = ladder_from_run(WITH_STATES)
    assert ladder.states == [StateMark("client", "CLOSED"),
                             StateMark("server", "FIN-WAIT-1",
                                       detail="send_q 2985985, orphan")]
    assert all(mark.final for mark in ladder.states)
    assert not any(isinstance(row, StateMark) for row in ladder.rows())  # no time: no row
    assert list(ladder.final_states()) == ["client", "server"]


def test_a_side_whose_state_is_unknown_gets_no_mark() -> None:
    assert ladder_from_run({**ENTRY, "states": {"server": ORPHAN}}).states == [
        StateMark("server", "FIN-WAIT-1", detail="send_q 2985985, orphan")]
    assert ladder_from_run(ENTRY).states == []


def test_the_terminal_ladder_ends_each_lifeline_with_its_final_state() -> None:
    lines = render_text(ladder_from_run(WITH_STATES)).splitlines()
    assert lines[-3] == ("     final                        [CLOSED]  |"
                         "                                          |  "
                         "[FIN-WAIT-1 (send_q 2985985, orphan)]")
    assert lines[-2:] == ["BROKE: packet 4 <R. does not fit", "verdict: FAIL"]
    bars = {tuple(i for i, ch in enumerate(line) if ch == "|")[:2] for line in lines[3:-2]}
    assert len(bars) == 1, bars
    assert not any("final" in line for line in render_text(ladder_from_run(ENTRY)).splitlines())


def test_a_state_entered_at_a_moment_is_a_row_after_the_packet_that_caused_it() -> None:
    ladder = ladder_from_run(WITH_STATES)
    ladder.states[:0] = [StateMark("server", "CLOSE", time=0.005),
                         StateMark("client", "CLOSED", time=0.005)]
    rows = ladder.rows()
    reset = next(i for i, row in enumerate(rows) if isinstance(row, Arrow) and row.token == "<R.")
    assert rows[reset + 1:reset + 3] == [StateMark("server", "CLOSE", time=0.005),
                                         StateMark("client", "CLOSED", time=0.005)]
    lines = render_text(ladder).splitlines()
    at = next(i for i, line in enumerate(lines) if "R. seq 1" in line)
    assert lines[at + 1] == ("  0.005000                                  |"
                             "                                          |  [CLOSE]")
    assert lines[at + 2] == ("  0.005000                        [CLOSED]  |"
                             "                                          |")


def test_the_final_states_text_reads_back_as_marks() -> None:
    text = "client ESTABLISHED (recv_q 4096), server FIN-WAIT-1 (send_q 2985985, orphan)"
    assert read_marks(text) == [StateMark("client", "ESTABLISHED", detail="recv_q 4096"),
                                StateMark("server", "FIN-WAIT-1",
                                          detail="send_q 2985985, orphan")]
    assert read_marks("lab DONE, client CLOSED") == [StateMark("client", "CLOSED")]
    assert marks_in(["scenario x", "   final states: client CLOSED, server TIME-WAIT"]) == [
        StateMark("client", "CLOSED"), StateMark("server", "TIME-WAIT")]
    assert marks_in(["scenario x", "verdict: PASS"]) == []


def _capture_ladder(section: list[str]) -> Ladder:
    segments = [_seg(1, 0.0, ">", "S", 1000, 0), _seg(2, 0.001, "<", "S.", 5000, 1001)]
    return ladder_from_capture("x.pcapng", segments, {}, section=section)


def test_a_capture_whose_section_lists_the_final_states_draws_them() -> None:
    ladder = _capture_ladder(["scenario x", "pattern: >S <S.", "verdict: PASS",
                              "final states: client CLOSED, server TIME-WAIT"])
    assert ladder.states == [StateMark("client", "CLOSED"), StateMark("server", "TIME-WAIT")]
    final = render_text(ladder).splitlines()[-2]
    assert final.startswith("     final") and final.endswith("|  [TIME-WAIT]")
    assert "[CLOSED]  |" in final


def test_a_capture_without_final_states_draws_none() -> None:
    ladder = _capture_ladder(["scenario x", "pattern: >S <S.", "verdict: PASS"])
    assert ladder.states == []
    assert render_text(ladder).splitlines()[-1] == "verdict: PASS"
