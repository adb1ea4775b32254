"""Link fidelity and `harness report --from A --from B`, from hand-made results documents:
the kernel's netem and the user-space link compared run by run (verdict, wire, claims), the
runs that differ first; several results.json joined into the table of what changed, with
each pcap linked from the table's folder and each kernel's link-fidelity passes found beside
its results."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.core.document import Results
from harness.core.link_fidelity import compare, lines


def _run(scenario: str, family: str = "ipv4", verdict: str = "pass",
         observed: tuple[str, ...] = (">S", "<S.[dt>0.29]", ">R"),
         claim: str = "holds") -> dict[str, Any]:
    run: dict[str, Any] = {
        "id": scenario, "family": family, "topology": "veth", "verdict": verdict,
        "observed": list(observed), "pcap": f"pcaps/{scenario}-{family}-veth.pcapng",
        "claims": [{"id": f"{scenario}-claim", "text": "t", "source": "s", "verdict": claim,
                    "linux": "holds", "evidence": []}]}
    if verdict != "pass":
        run["reasons"] = [f"{scenario} {family} did not pass"]
    return run


def _results(kernel: str, runs: list[dict[str, Any]]) -> Results:
    return Results.from_json({"kernel": kernel, "runs": copy.deepcopy(runs)})


KERNEL = [_run("close-on-syn-sent"), _run("close-on-syn-sent", "ipv6"),
          _run("linger-timeout-with-rtt", observed=(">S", "<S.", "<P.", "<F.", ">.", ">."),
               verdict="fail", claim="holds")]
USER = [_run("close-on-syn-sent"), _run("close-on-syn-sent", "ipv6"),
        _run("linger-timeout-with-rtt", observed=(">S", "<S.", "<P.", ">.", "<F.", ">."))]


def test_the_runs_where_the_links_differ_come_first_with_what_differs() -> None:
    fidelity = compare(_results("6.1", KERNEL), _results("6.1", USER))
    assert (fidelity["runs"], fidelity["differing"]) == (3, 1)
    first, *rest = fidelity["rows"]
    assert (first["scenario"], first["differs"]) == ("linger-timeout-with-rtt",
                                                     ["verdict", "wire"])
    assert first["verdicts"] == {"kernel": "fail", "user": "pass"}
    assert first["observed"]["kernel"] == [">S", "<S.", "<P.", "<F.", ">.", ">."]
    assert first["reasons"] == {"kernel": "linger-timeout-with-rtt ipv4 did not pass"}
    assert all(row["differs"] == [] for row in rest)
    said = lines("6.1", fidelity)
    assert said[0].endswith("3 runs with the kernel's netem and the user-space link, 1 differ")
    assert said[1] == ("  LINK DIFFERS linger-timeout-with-rtt ipv4 (verdict, wire): kernel "
                       "netem fail, user-space link pass")


def test_fields_on_tokens_are_no_difference_but_a_claim_and_a_missing_run_are() -> None:
    user = copy.deepcopy(KERNEL[:2])
    user[0]["observed"] = [">S", "<S.[dt>0.31]", ">R"]  # another time, the same packet
    user[1]["claims"][0]["verdict"] = "does not hold"
    fidelity = compare(_results("6.1", [*KERNEL[:2], _run("simultaneous-close")]),
                       _results("6.1", user))
    by_key = {(r["scenario"], r["family"]): r for r in fidelity["rows"]}
    assert by_key[("close-on-syn-sent", "ipv4")]["differs"] == []
    assert by_key[("close-on-syn-sent", "ipv6")]["differs"] == ["claims"]
    assert by_key[("simultaneous-close", "ipv4")]["differs"] == ["verdict"]
    assert by_key[("simultaneous-close", "ipv4")]["verdicts"]["user"] is None


def _folder(root: Path, name: str, kernel: str, runs: list[dict[str, Any]],
            fidelity: bool = False) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps({"kernel": kernel, "runs": runs}))
    if fidelity:
        for sub, these in (("link-kernel", KERNEL), ("link-user", USER)):
            (folder / sub).mkdir()
            (folder / sub / "results.json").write_text(
                json.dumps({"kernel": kernel, "runs": these}))
    return folder


def test_report_from_several_results_joins_them_into_the_table(tmp_path: Path,
                                                                capsys) -> None:
    host = _folder(tmp_path / "job-host", "pcaps", "6.18.44", USER)
    old = _folder(tmp_path / "job-6.1", "6.1.0-57-amd64", "6.1.0-57-amd64", KERNEL,
                  fidelity=True)
    out = tmp_path / "table"
    assert main(["report", "--from", str(host / "results.json"), "--from", str(old),
                 "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert ("DIFFERS linger-timeout-with-rtt ipv4 veth: 6.18.44 pass, 6.1.0-57-amd64 fail"
            in said), said
    table = json.loads((out / "kernels.json").read_text())
    assert [k["label"] for k in table["kernels"]] == ["6.18.44", "6.1.0-57-amd64"]
    first = table["rows"][0]
    assert first["pcaps"] == {
        "6.18.44": "../job-host/pcaps/linger-timeout-with-rtt-ipv4-veth.pcapng",
        "6.1.0-57-amd64": "../job-6.1/6.1.0-57-amd64/linger-timeout-with-rtt-ipv4-veth.pcapng"}
    fidelity = table["kernels"][1]["link_fidelity"]
    assert fidelity["differing"] == 1 and "link_fidelity" not in table["kernels"][0]
    assert fidelity["rows"][0]["pcaps"]["user"] == (
        "../job-6.1/6.1.0-57-amd64/link-user/linger-timeout-with-rtt-ipv4-veth.pcapng")
    assert "What changed between kernels" in (out / "index.html").read_text()
    assert "linger-timeout-with-rtt" in (out / "REPORT.md").read_text()


@pytest.mark.parametrize(("sources", "says"), [
    (["missing.json", "also-missing.json"], "missing.json: cannot read it"),
])
def test_report_from_a_file_that_is_not_there_is_one_line(sources: list[str], says: str,
                                                          capsys, tmp_path: Path,
                                                          monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    argv = ["report", *(a for s in sources for a in ("--from", s)), "--out", "t"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1, err
    assert not (tmp_path / "t").exists()


def test_the_same_results_twice_is_one_line(capsys, tmp_path: Path) -> None:
    host = _folder(tmp_path, "pcaps", "6.18.44", USER)
    assert main(["report", "--from", str(host), "--from", str(host),
                 "--out", str(tmp_path / "t")]) == 2
    assert "given twice" in capsys.readouterr().err


def test_a_kernel_s_own_veth_runs_are_its_netem_side_when_it_has_no_netem_pass(
        tmp_path: Path) -> None:
    from harness.orchestration.kernel_report import fidelity_of

    loopback = dict(_run("default-close"), topology="loopback")
    folder = _folder(tmp_path, "6.12", "6.12", [loopback, *KERNEL], fidelity=True)
    shutil.rmtree(folder / "link-kernel")
    fidelity, problem = fidelity_of(folder)
    assert problem == "" and fidelity is not None
    assert (fidelity["runs"], fidelity["differing"]) == (3, 1)  # default-close is no twin
    shutil.rmtree(folder / "link-user")
    assert fidelity_of(folder) == (None, f"no {folder / 'link-user' / 'results.json'}")


def test_a_missing_pass_is_named_whichever_it_is(tmp_path: Path) -> None:
    from harness.orchestration.kernel_report import fidelity_of

    folder = _folder(tmp_path, "6.12", "6.12", KERNEL, fidelity=True)
    (folder / "link-kernel" / "results.json").unlink()  # the pass ran and left nothing
    assert fidelity_of(folder) == (None, f"no {folder / 'link-kernel' / 'results.json'}")


def test_kernels_fails_on_what_the_harness_could_not_tell_not_on_a_kernel_differing() -> None:
    from harness.core.kernel_table import Column
    from harness.orchestration.kernels import outcome_problems

    host = Column("6.18", True, _results("6.18", USER))
    differs = Column("6.1", results=_results("6.1", KERNEL),  # a FAIL: the kernel differs
                     fidelity=compare(_results("6.1", USER), _results("6.1", USER)))
    assert outcome_problems([host, differs]) == []
    errored = copy.deepcopy(KERNEL)
    errored[0]["verdict"] = "error"
    unfaithful = compare(_results("6.1", KERNEL), _results("6.1", USER))
    assert outcome_problems([
        Column("6.18", True, _results("6.18", KERNEL)),
        Column("6.1", results=_results("6.1", errored), fidelity=unfaithful),
        Column("6.12", error="never began the catalog")]) == [
        "1 of the host's runs did not pass", "1 of 6.1's runs were ERRORs",
        "on 6.1 the user-space link and netem differ in 1 runs", "6.12 gave no results"]
