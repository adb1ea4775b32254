"""The README tells the truth: its scenario example is complete and passes, and "Writing a
scenario" documents every top-level key, every call with its arguments and every
expectation the loader takes (so the two cannot drift apart)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from harness.cli import main
from harness.core import catalog
from harness.core.calls import CALLS
from harness.core.expect import EXPECT_KEYS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
SECTION = README[README.index("### Writing a scenario"):README.index("## The pattern language")]


def _example() -> str:
    (block,) = re.findall(r"```toml\n(.*?)```", SECTION, re.S)
    return block


def test_the_example_loads_as_a_whole_scenario(tmp_path: Path) -> None:
    path = tmp_path / "example.toml"
    path.write_text(_example())
    scenario = catalog.load_file(path)
    assert scenario.claims and scenario.display_filters and scenario.wireshark_warnings


@pytest.mark.capture
def test_the_example_passes_on_both_families(tmp_path: Path) -> None:
    path = tmp_path / "example.toml"
    path.write_text(_example())
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["run", str(path), "--pcap-dir", str(tmp_path)])
    assert code == 0, out.getvalue()
    assert "2 runs in" in out.getvalue() and ": 2 passed, 0 failed" in out.getvalue()


def _table_rows(first_column: str) -> dict[str, str]:
    """The rows of the section's table whose header starts with first_column."""
    table = SECTION[SECTION.index(f"| {first_column} |"):].split("\n\n", 1)[0]
    rows = {}
    for line in table.splitlines()[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        for name in re.findall(r"`([\w-]+)`", cells[0]):
            rows[name] = "|".join(cells[1:])
    return rows


def test_every_top_level_key_is_documented() -> None:
    assert set(_table_rows("key")) == set(catalog._KEYS)


def test_every_call_and_each_of_its_arguments_is_documented() -> None:
    rows = _table_rows("call")
    assert set(rows) == set(CALLS), "the README's calls and the table's differ"
    for name, spec in CALLS.items():
        for arg in spec.arg_names:
            assert f"`{arg}`" in rows[name], f"{name}: argument {arg} is not in the README"


def test_every_expectation_is_documented() -> None:
    expectations = SECTION[SECTION.index("Expectations (`expect"):].split("\n\n", 1)[0]
    for key in EXPECT_KEYS:
        assert f"`{key}`" in expectations, key


FIELDS_SECTION = README[README.index("### Packet fields and times"):README.index("## pytest")]


def test_every_token_with_fields_the_readme_shows_compiles() -> None:
    from harness.core.pattern import compile_pattern

    shown = re.findall(r"`([<>][^`\s]*\[[^`]*\])`", FIELDS_SECTION)
    assert len(shown) >= 10
    for token in shown:
        compile_pattern(token)


def test_the_readme_api_example_runs() -> None:
    (block,) = re.findall(r"```python\n(.*?)```", FIELDS_SECTION, re.S)
    exec(compile(block, "README.md", "exec"), {})


def test_the_sentences_the_readme_shows_are_the_matchers() -> None:
    from harness.core.packet import Packet
    from harness.core.pattern import compile_pattern

    def seen(token: str, number: int, **facts: object) -> Packet:
        plain = {"seq": 1, "ack": 1, "len": 0, "win": 64, "mss": None, "wscale": None,
                 "sport": 40000, "dport": 5000, "t": 0.0, "dt": 0.0}
        return Packet(token=token, number=number, **{**plain, **facts})

    (block,) = re.findall(r"```\n(packet .*?)```", FIELDS_SECTION, re.S)
    handshake = [seen(">S", 1), seen("<S.", 2, dt=0.204), seen(">.", 3)]
    data = [seen(t, n) for n, t in enumerate([">P.", "<.", ">P.", "<.", ">P.", "<."], 4)]
    cases = [(">S <S. >. (>P. <.){3} <R.[seq=1 ack=301]",
              [*handshake, *data, seen("<R.", 10, ack=201)]),
             (">S <S.[dt=0.1] >.", handshake),
             (">S[wscale=7] <S. >.", handshake)]
    said = [compile_pattern(pattern).match(packets).sentence() for pattern, packets in cases]
    assert said == block.splitlines()


def test_the_tolerance_the_readme_states_is_the_one_applied() -> None:
    from harness.core.pattern_syntax import Tok, parse

    for text, window in (("dt=0.1", "0.0875 to 0.1125 s"), ("dt=0.01", "0.006 to 0.014 s")):
        assert f"`{text}` holds from {window}" in FIELDS_SECTION.replace("\n", " ")
        tree = parse(f">.[{text}]")
        assert isinstance(tree, Tok)
        low, high = tree.predicates[0].window()
        assert f"{low:g} to {high:g} s" == window


def test_every_kind_of_claim_observation_is_documented() -> None:
    from harness.core.claims import _KINDS

    claims = " ".join(README[README.index("A claim (`[[claims]]`)"):].split("\n\n", 1)[0].split())
    for kind in _KINDS:
        assert f"{{ {kind} = " in claims, kind


def test_the_kernel_section_names_what_a_test_and_results_json_use() -> None:
    kernel = README[README.index("## The kernel's own account"):
                    README.index("## Reading the results")]
    from harness.core.kernel_events import TRACEPOINTS
    from harness.lab.tracing import SWITCH

    for point in TRACEPOINTS:
        assert f"`{point.replace('/', ':')}`" in kernel, point
    for name in ("lab.expect_rst_reason", "lab.expect_transitions", "`transitions`",
                 "`resets`", f"{SWITCH}=off", "KernelUndecided"):
        assert name in kernel, name


def test_the_readme_s_ci_matrix_join_runs_on_folders_shaped_as_the_jobs_upload_them(
        tmp_path: Path, monkeypatch) -> None:
    import json
    import shlex

    section = README[README.index("### Other kernels"):README.index("### Your own programs")]
    (line,) = [ln for ln in section.splitlines() if ln.startswith("harness report --from")]
    argv = shlex.split(line)[1:]
    monkeypatch.chdir(tmp_path)
    run = {"id": "default-close", "family": "ipv4", "topology": "loopback", "verdict": "pass",
           "pcap": "pcaps/default-close-ipv4.pcapng", "claims": []}
    for folder in argv[argv.index("--from") + 1::2][:argv.count("--from")]:
        Path(folder).mkdir(parents=True)
        kernel = Path(folder).name if Path(folder).name != "pcaps" else "6.18"
        Path(folder, "results.json").write_text(json.dumps({"kernel": kernel, "runs": [run]}))
    assert main(argv) == 0
    table = json.loads(Path(argv[argv.index("--out") + 1], "kernels.json").read_text())
    assert table["summary"] == {"kernels": 3, "errors": 0, "rows": 1, "differing": 0}
