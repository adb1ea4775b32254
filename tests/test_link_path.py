"""HARNESS_LINK chooses how a veth link's netem arguments are played, HARNESS_LINK_START how
long the user-space link may take to start; `harness kernels --link` passes both into its
guests. None of this needs a guest or privileges."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.core.document import Results
from harness.core.link import LINK_START, Drop, Link, LinkError, link_path, link_start
from harness.lab import topology
from harness.orchestration import kernels


@pytest.mark.parametrize(("value", "path"), [
    (None, "auto"), ("", "auto"), ("auto", "auto"), ("kernel", "kernel"), ("user", "user"),
    (" User ", "user")])
def test_the_link_path_is_read_from_harness_link(value: str | None, path: str) -> None:
    environ = {} if value is None else {"HARNESS_LINK": value}
    assert link_path(environ) == path


def test_a_link_path_that_is_not_one_is_one_line_naming_the_choices() -> None:
    with pytest.raises(LinkError, match=r"HARNESS_LINK='netem': write one of auto, kernel, user"):
        link_path({"HARNESS_LINK": "netem"})


@pytest.mark.parametrize(("value", "seconds"), [(None, LINK_START), ("", LINK_START),
                                                ("60", 60.0), ("2.5", 2.5)])
def test_the_user_space_links_start_deadline_is_settable(value: str | None,
                                                         seconds: float) -> None:
    environ = {} if value is None else {"HARNESS_LINK_START": value}
    assert link_start(environ) == seconds


@pytest.mark.parametrize("value", ["0", "-1", "soon", "4000"])
def test_a_start_deadline_that_is_not_a_time_is_refused(value: str) -> None:
    with pytest.raises(LinkError, match="HARNESS_LINK_START"):
        link_start({"HARNESS_LINK_START": value})


@pytest.mark.parametrize(("path", "has_netem", "user"), [
    ("auto", True, False), ("auto", False, True), ("user", True, True), ("user", False, True),
    ("kernel", True, False)])
def test_the_setting_chooses_the_link_path(monkeypatch, path: str, has_netem: bool,
                                           user: bool) -> None:
    monkeypatch.setenv("HARNESS_LINK", path)
    monkeypatch.setattr(topology, "kernel_has_netem", lambda: has_netem)
    assert topology.plays_in_user_space(Link(netem="delay 50ms")) is user


def test_kernel_without_netem_in_the_kernel_is_an_error_not_a_quiet_fallback(
        monkeypatch) -> None:
    monkeypatch.setenv("HARNESS_LINK", "kernel")
    monkeypatch.setattr(topology, "kernel_has_netem", lambda: False)
    with pytest.raises(topology.TopologyError, match="no netem qdisc"):
        topology.plays_in_user_space(Link(netem="delay 50ms"))


@pytest.mark.parametrize("path", ["auto", "kernel", "user"])
def test_a_link_that_drops_chosen_packets_is_always_the_user_space_links(
        monkeypatch, path: str) -> None:
    monkeypatch.setenv("HARNESS_LINK", path)
    monkeypatch.setattr(topology, "kernel_has_netem", lambda: True)
    assert topology.plays_in_user_space(Link(drop=(Drop("<F."),)))


def test_the_guests_get_a_longer_start_for_the_user_space_link_under_tcg(monkeypatch) -> None:
    monkeypatch.delenv("HARNESS_LINK_START", raising=False)
    assert kernels.guest_env(kvm=False) == [
        "env", f"HARNESS_LINK_START={LINK_START * kernels.TCG_SLOWDOWN:g}"]
    assert kernels.guest_env(kvm=True) == ["env", f"HARNESS_LINK_START={LINK_START:g}"]
    monkeypatch.setenv("HARNESS_LINK_START", "20")
    assert kernels.guest_env(kvm=False)[1] == f"HARNESS_LINK_START={20 * 6:g}"


def test_kernels_refuses_a_link_path_it_does_not_know(capsys) -> None:
    assert main(["kernels", "--kernel", "6.1", "--link", "netem"]) == 2
    assert "--link" in capsys.readouterr().err


def test_each_guest_runs_the_netem_scenarios_again_with_each_player() -> None:
    settings = kernels.Settings(topology="loopback", family="ipv4")
    ids = kernels.fidelity_ids(settings)
    assert ids == ["close-on-syn-sent", "linger-timeout-with-rtt", "simultaneous-close"]
    steps = kernels.passes(Path("out"), settings, 2, ids)
    assert [(p["name"], p["env"]) for p in steps] == [
        ("catalog", {"HARNESS_LINK": "auto"}), ("link-kernel", {"HARNESS_LINK": "kernel"}),
        ("link-user", {"HARNESS_LINK": "user"})]
    assert steps[0]["argv"] == ["verify", "--pcap-dir", "out", "--topology", "loopback",
                                "--family", "ipv4", "--jobs", "2", "--no-pages"]
    assert steps[2]["argv"] == ["verify", *ids, "--pcap-dir", "out/link-user", "--topology",
                                "veth", "--family", "ipv4", "--jobs", "1", "--no-pages"]
    assert kernels.fidelity_ids(kernels.Settings(fidelity=False)) == []
    only = kernels.Settings(scenarios=("default-close", "close-on-syn-sent"))
    assert kernels.fidelity_ids(only) == ["close-on-syn-sent"]


def test_a_catalog_on_veth_is_the_kernel_netem_side_itself() -> None:
    ids = kernels.fidelity_ids(kernels.Settings(topology="both"))
    steps = kernels.passes(Path("out"), kernels.Settings(topology="both"), 2, ids)
    assert [(p["name"], p["env"]) for p in steps] == [
        ("catalog", {"HARNESS_LINK": "kernel"}), ("link-user", {"HARNESS_LINK": "user"})]
    user = kernels.passes(Path("out"), kernels.Settings(topology="veth", link="user"), 2, ids)
    assert [p["name"] for p in user] == ["catalog", "link-kernel", "link-user"]
    asked = kernels.passes(Path("out"), kernels.Settings(topology="veth", link="kernel"), 2, ids)
    assert [p["name"] for p in asked] == ["catalog", "link-user"]
    # the column says what the catalog ran with, not what was asked
    assert kernels.catalog_link(kernels.Settings(topology="both"), ids) == "kernel"
    assert kernels.catalog_link(kernels.Settings(topology="loopback"), ids) == "auto"
    assert kernels.catalog_link(kernels.Settings(topology="both", link="user"), ids) == "user"


@pytest.mark.capture
def test_verify_without_pages_writes_results_and_the_host_renders_them(tmp_path: Path,
                                                                      capsys) -> None:
    out = tmp_path / "guest"
    assert main(["verify", "default-close", "--family", "ipv4", "--topology", "loopback",
                 "--pcap-dir", str(out), "--no-pages"]) == 0
    assert (out / "results.json").is_file()
    assert not (out / "index.html").exists() and not (out / "REPORT.md").exists()
    kernels._pages(out, Results.from_json(json.loads((out / "results.json").read_text())))
    assert "default-close" in (out / "index.html").read_text()
    assert (out / "REPORT.md").is_file()
