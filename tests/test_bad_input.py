"""Inputs that once ended in a traceback, a hang or an exhausted memory (found by fuzzing):
each is now one line on stderr, exit status 2, and nothing run. A pattern error keeps its
caret line under the pattern, the one allowed exception to one line."""

from __future__ import annotations

import contextlib
import random
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.core.catalog import parse_scenario
from harness.core.errors import UserError
from harness.core.pattern import MAX_EXPANDED_TOKENS, compile_pattern

ROOT = Path(__file__).resolve().parent.parent
BASE = (ROOT / "harness" / "catalog" / "default-close.toml").read_text()
LISTEN = '{ on = "server", call = "listen"'
CLAIM_STEP = 'step = "conn.close"'


def _edited(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new, 1)


# The scenario files: each edit of the shipped default-close, and what the line must say.
SCENARIO_FILES: dict[str, tuple[bytes, str]] = {
    "not UTF-8": (_edited('title = "', 'title = "X').encode().replace(b"X", b"\xff\xfe", 1),
                  "not UTF-8 text (byte "),
    "arrays nested thousands deep": ((BASE + "\nx = " + "[" * 5000 + "]" * 5000 + "\n").encode(),
                                     "nested too deep to read"),
    "on as an array": (_edited(LISTEN, '{ on = ["server"], call = "listen"').encode(),
                       "on must name a socket, as a string"),
    "on as a table": (_edited(LISTEN, '{ on = { side = "server" }, call = "listen"').encode(),
                      "on must name a socket, as a string"),
    "call as an array": (_edited(LISTEN, '{ on = "server", call = ["listen"]').encode(),
                         "call must name a call, as a string"),
    "call as a table": (_edited(LISTEN, '{ on = "server", call = { x = 1 }').encode(),
                        "call must name a call, as a string"),
    "families a number": (("families = 5\n" + BASE).encode(), "families must be a list drawn "
                                                              "from ipv4, ipv6"),
    "families a boolean": (("families = true\n" + BASE).encode(), "families must be a list"),
    "families a string": (('families = "ipv4"\n' + BASE).encode(), "families must be a list"),
    "topologies a number": (("topologies = 2\n" + BASE).encode(), "topologies must be a list "
                                                                  "drawn from loopback, veth"),
    "topologies a boolean": (("topologies = false\n" + BASE).encode(), "topologies must be a list"),
    "topologies a string": (('topologies = "veth"\n' + BASE).encode(), "topologies must be a list"),
    "a step reference with 4,301 digits": (
        _edited(CLAIM_STEP, f'step = "conn.close#{"1" * 4301}"').encode(),
        "#N counts that socket's calls of that name from 1"),
    "an integer of 5,000 digits": (_edited(LISTEN, '{ on = "server", call = "listen", backlog '
                                           f'= {"7" * 5000}').encode(),
                                   "a number far too long to be one a scenario takes"),
    "repeats nested to a billion steps": (_edited("steps = [", "steps = [\n  { repeat = 1000, "
                                                  "steps = [ { repeat = 1000, steps = [ { repeat "
                                                  "= 1000, steps = [ { on = \"client\", call = "
                                                  "\"socket\" } ] } ] } ] },").encode(),
                                          "a scenario may have at most 10,000"),
    # Names that would only have failed once the run was over, now refused before it starts.
    "an errno name misspelt": (_edited('call = "connect", expect = { ret = 0 }',
                                       'call = "connect", expect = { errno = "ECONNRESETT" }'
                                       ).encode(),
                               "errno = 'ECONNRESETT' is not an errno name; did you mean "
                               "ECONNRESET"),
    "a signal name misspelt": (_edited('call = "send", bytes = 100, expect = { ret = 100 }',
                                       'call = "send", bytes = 100, expect = { signal = '
                                       '"SIGPIP" }').encode(),
                               "signal = 'SIGPIP' is not a signal name or \"none\"; did you "
                               "mean SIGPIPE"),
    "what ends a drain misspelt": (_edited('call = "recv", bytes = 100, expect = { ret = 0 }',
                                           'call = "drain", expect = { ended_by = "EOFF" }'
                                           ).encode(),
                                   "ended_by = 'EOFF' is not \"EOF\" or an errno name; did "
                                   "you mean EOF"),
    "a claim's errno misspelt": (_edited(CLAIM_STEP, f'{CLAIM_STEP}, errno = "EPIPEE"').encode(),
                                 "errno = 'EPIPEE' is not an errno name; did you mean EPIPE"),
    "a state name misspelt": (_edited('server = "TIME-WAIT"', 'server = "TIME_WAIT"').encode(),
                              "unknown TCP state 'TIME_WAIT'; did you mean TIME-WAIT?"),
    "a wait for a misspelt state": (_edited("steps = [", 'steps = [\n  { on = "client", call = '
                                                       '"wait_state", state = "ESTABLISHD" },'
                                            ).encode(),
                                    "not 'ESTABLISHD' (did you mean ESTABLISHED?)"),
    "a step key misspelt": (_edited('call = "close", expect = { ret = 0, max_elapsed = 0.1 }',
                                    'call = "close", expcet = { ret = 0 }').encode(),
                            "close takes no argument 'expcet'; did you mean expect?"),
    "an expectation misspelt": (_edited('call = "connect", expect = { ret = 0 }',
                                        'call = "connect", expect = { rett = 0 }').encode(),
                                "unknown expectation 'rett'; did you mean ret?"),
    "a top-level key misspelt": (("patern = '>S'\n" + BASE).encode(),
                                 "unknown key 'patern'; did you mean pattern?"),
    "a claim's key misspelt": (_edited(CLAIM_STEP, f'{CLAIM_STEP}, rett = 0').encode(),
                               "a step observation takes no 'rett'; did you mean ret?"),
}

# Quantifiers refused in every place a pattern is written.
BAD_COUNTS = {"superscript two": ("{\u00b2}", "with whole numbers (digits 0-9)"),
              "Arabic-Indic three": ("{\u0663}", "with whole numbers (digits 0-9)"),
              "fullwidth one": ("{\uff11}", "with whole numbers (digits 0-9)"),
              "thousands of digits": ("{" + "7" * 5000 + "}", "is too large; counts must be at "
                                                              "most 1000")}


@pytest.fixture
def nothing_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to start a run fails the test: the mistake must be found before."""
    monkeypatch.setattr("harness.lab.privileges.capture_problem",
                        lambda: pytest.fail("a run was about to start"))


def _refused(capsys: pytest.CaptureFixture, argv: list[str], said: str, lines: int = 1) -> str:
    """Run the CLI; it must exit 2 with `said` in a message of at most `lines` lines."""
    code = main(argv)
    out, err = capsys.readouterr()
    assert (code, out) == (2, ""), err
    assert err.startswith("harness: ") and "Traceback" not in err
    assert len(err.rstrip("\n").splitlines()) <= lines, err
    assert said in err, err
    return err


@pytest.mark.parametrize("case", SCENARIO_FILES)
@pytest.mark.usefixtures("nothing_runs")
def test_a_bad_scenario_file_is_one_line(case: str, tmp_path: Path, capsys) -> None:
    data, said = SCENARIO_FILES[case]
    mine = tmp_path / "mine.toml"
    mine.write_bytes(data)
    err = _refused(capsys, ["run", str(mine), "--pcap-dir", str(tmp_path / "pcaps")], said)
    assert err.startswith(f"harness: {mine}")
    assert len(err) < 400, "the line quotes a value it should have cut short"
    assert not (tmp_path / "pcaps").exists()


def _with_pattern(where: str, bad: str) -> str:
    """The scenario with a bad count in its pattern, a wait_wire step, or a claim's wire."""
    if where == "pattern":
        return _edited('pattern = ">S', f'pattern = ">S{bad}')
    if where == "wait_wire":
        return _edited("steps = [", f'steps = [\n  {{ call = "wait_wire", pattern = ">S{bad}" }},')
    return _edited(CLAIM_STEP, f'wire = ">S{bad}" }},\n  {{ {CLAIM_STEP}')


@pytest.mark.parametrize("count", BAD_COUNTS)
@pytest.mark.parametrize("where", ["expect", "pattern", "wait_wire", "claim"])
@pytest.mark.usefixtures("nothing_runs")
def test_a_bad_count_is_refused_wherever_a_pattern_is_written(where: str, count: str,
                                                              tmp_path: Path, capsys) -> None:
    bad, said = BAD_COUNTS[count]
    if where == "expect":
        argv = ["check", str(_pcap(tmp_path, 1)), "--expect", f">S{bad}"]
        err = _refused(capsys, argv, said, lines=3)
        assert err.startswith("harness: bad pattern: pattern error at column 3")
    else:
        mine = tmp_path / "mine.toml"
        mine.write_text(_with_pattern(where, bad))
        err = _refused(capsys, ["run", str(mine)], said, lines=3)
    caret = err.rstrip("\n").splitlines()[-1]
    assert caret.strip() == "^", "a pattern error keeps its caret line"
    assert len(err) < 600


def _pcap(tmp_path: Path, linktype: int) -> Path:
    """A classic pcap of one 4-byte frame of the given link type."""
    path = tmp_path / f"linktype-{linktype}.pcap"
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)
    path.write_bytes(header + struct.pack("<IIII", 1, 0, 4, 4) + b"abcd")
    return path


@pytest.mark.parametrize("command", [["check", "--expect", ">S"], ["show"], ["show", "--ladder"]])
def test_a_capture_of_an_unknown_link_type_is_one_line_and_nothing_else(command: list[str],
                                                                        tmp_path: Path) -> None:
    path = _pcap(tmp_path, 147)
    argv = [command[0], str(path), *command[1:]]
    done = subprocess.run([sys.executable, "-m", "harness", *argv], capture_output=True,
                          text=True, cwd=ROOT, timeout=60)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (f"harness: {path}: its packets have link type 147, which the "
                           "harness does not dissect (it reads Ethernet, Linux cooked SLL and "
                           "SLL2, raw IP, BSD loopback, PPP and 802.11); convert it, e.g. "
                           "`editcap -T ether`, or capture with `tcpdump -i any`\n")


def test_a_results_json_with_a_number_of_5000_digits_is_one_line(capsys, tmp_path) -> None:
    source = tmp_path / "results.json"
    source.write_text('{"kernel": "6.18", "runs": [{"id": "x", "origin": ' + "1" * 5000 + "}]}")
    _refused(capsys, ["report", "--from", str(source)], "nested too deep or a number too long")


def test_a_pattern_too_large_to_match_in_bounded_memory_is_refused(capsys, tmp_path) -> None:
    err = _refused(capsys, ["check", str(_pcap(tmp_path, 1)), "--expect",
                            "((>.?){1000}){1,50}"], f"at most {MAX_EXPANDED_TOKENS} are allowed",
                   lines=3)
    assert "bounded time and memory" in err


# -- fuzzing, seeded so that a failure repeats ------------------------------------------------

_WEIRD = ["[]", "{}", "{ a = 1 }", "true", "-1", "0", "nan", "inf", "1e309", "2147483648",
          '""', '"x"', "[[[[1]]]]", '"\u0663"', '"FIN-WAIT-9"', '">S{\u00b2}"', '"(((("',
          "1979-05-27T07:32:00Z", '"' + "a" * 300 + '"', '"conn.close#' + "9" * 40 + '"']


def _mutated(rng: random.Random, text: str) -> str:
    spots = [m.end() for m in re.finditer(r"= ", text)]
    start = rng.choice(spots)
    end = start
    while end < len(text) and text[end] not in ",}\n":
        end += 1
    return text[:start] + rng.choice(_WEIRD) + text[end:]


def test_mutated_catalog_files_raise_nothing_but_a_user_error() -> None:
    rng = random.Random(2026)
    texts = [path.read_text() for path in sorted((ROOT / "harness" / "catalog").glob("*.toml"))]
    for _ in range(3000):
        text = rng.choice(texts)
        for _ in range(rng.randint(1, 3)):
            text = _mutated(rng, text)
        with contextlib.suppress(UserError):
            parse_scenario(text, "fuzz.toml")


def test_random_pattern_texts_raise_nothing_but_a_user_error() -> None:
    rng = random.Random(2026)
    alphabet = [*"<>SFRPUEWe.()|?*+{},0123456789 ", "[none]", "\u00b2", "\u0663", "\t"]
    for _ in range(20000):
        with contextlib.suppress(UserError):
            compile_pattern("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24))))
