"""What blocks the user-namespace route, said in one line, from fake /proc readings (no root)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from harness.lab import userns
from harness.lab.privileges import capture_problem

PERMISSIVE = {"user/max_user_namespaces": "63936", "user/max_net_namespaces": "63936",
              "kernel/unprivileged_userns_clone": "1",
              "kernel/apparmor_restrict_unprivileged_userns": "0"}
ALL_CAPS = "000001ffffffffff"
NO_NET_RAW = f"{0x1ffffffffff & ~(1 << 13):016x}"


def fake_root(tmp_path: Path, sysctls: dict[str, str] | None = None, seccomp: str = "2",
              cap_eff: str = ALL_CAPS, uid: int = 1000) -> Path:
    """A folder laid out like / with the given /proc/sys values and /proc/self/status."""
    for name, value in (PERMISSIVE if sysctls is None else sysctls).items():
        path = tmp_path / "proc/sys" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{value}\n")
    status = tmp_path / "proc/self/status"
    status.parent.mkdir(parents=True, exist_ok=True)
    status.write_text(f"Name:\tpython\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n"
                      f"CapEff:\t{cap_eff}\nSeccomp:\t{seccomp}\n")
    return tmp_path


@pytest.mark.parametrize(("sysctl", "value", "says", "fix"), [
    ("user/max_user_namespaces", "0", "user namespaces are disabled (user.max_user_namespaces=0)",
     "`sudo sysctl -w user.max_user_namespaces=10000`"),
    ("kernel/unprivileged_userns_clone", "0",
     "disabled (Debian's kernel.unprivileged_userns_clone=0)",
     "`sudo sysctl -w kernel.unprivileged_userns_clone=1`"),
    ("kernel/apparmor_restrict_unprivileged_userns", "1",
     "unprivileged user namespaces are blocked by AppArmor "
     "(kernel.apparmor_restrict_unprivileged_userns=1)",
     "`sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`"),
    ("user/max_net_namespaces", "0", "network namespaces are disabled",
     "`sudo sysctl -w user.max_net_namespaces=10000`"),
])
def test_each_blocking_sysctl_names_itself_and_its_fix(tmp_path, sysctl, value, says,
                                                       fix) -> None:
    root = fake_root(tmp_path, {**PERMISSIVE, sysctl: value})
    line = userns.explain("unshare(CLONE_NEWUSER)", errno.EPERM, root)
    assert says in line and line.endswith(fix)
    assert "\n" not in line
    assert userns.sysctl_block(root) == line


def test_a_sysctl_explains_a_later_failure_too(tmp_path) -> None:
    # AppArmor lets unshare succeed and refuses the uid_map write (Ubuntu 24.04)
    root = fake_root(tmp_path, {**PERMISSIVE, "kernel/apparmor_restrict_unprivileged_userns": "1"})
    assert "AppArmor" in userns.explain("/proc/self/uid_map", errno.EPERM, root)


def test_missing_sysctls_do_not_block(tmp_path) -> None:
    assert userns.sysctl_block(fake_root(tmp_path, {})) is None  # an older or other kernel


def test_eperm_with_permissive_sysctls_is_a_seccomp_profile(tmp_path) -> None:
    line = userns.explain("unshare(CLONE_NEWUSER)", errno.EPERM, fake_root(tmp_path))
    assert line == userns.SECCOMP
    assert line.startswith("a seccomp profile (a container?) forbids unshare(CLONE_NEWUSER)")
    assert "--cap-add NET_ADMIN --cap-add NET_RAW" in line


def test_eperm_without_any_seccomp_filter_says_it_is_something_else(tmp_path) -> None:
    line = userns.explain("unshare(CLONE_NEWUSER)", errno.EPERM, fake_root(tmp_path, seccomp="0"))
    assert "though no sysctl or seccomp filter forbids it" in line and "EPERM" in line


def test_other_failures_name_the_step_and_the_errno(tmp_path) -> None:
    root = fake_root(tmp_path)
    assert "limit of namespaces is reached" in userns.explain("unshare(CLONE_NEWNET)",
                                                              errno.ENOSPC, root)
    line = userns.explain("socket(AF_PACKET)", errno.EAFNOSUPPORT, root)
    assert line.startswith("entering a user namespace failed at socket(AF_PACKET): ")
    assert "(EAFNOSUPPORT): run as root" in line


def test_root_without_capabilities_may_not_map_uid_0(tmp_path) -> None:
    line = userns.explain("/proc/self/uid_map", errno.EPERM, fake_root(tmp_path, uid=0))
    assert line.startswith("uid 0 without CAP_SETFCAP may not map itself into a user namespace")
    assert userns.explain("/proc/self/uid_map", errno.EPERM, fake_root(tmp_path, uid=1000)) == (
        "entering a user namespace failed at /proc/self/uid_map: Operation not permitted "
        "(EPERM): run as root")


def test_capabilities_decide_whether_a_namespace_is_needed(tmp_path) -> None:
    assert not userns.needs_namespace(fake_root(tmp_path / "a", cap_eff=ALL_CAPS))
    assert userns.needs_namespace(fake_root(tmp_path / "b", cap_eff=NO_NET_RAW))
    assert userns.needs_namespace(fake_root(tmp_path / "c", cap_eff="0000000000000000"))


@pytest.fixture
def unprivileged(monkeypatch) -> None:
    """A process that lacks the capabilities and has not tried the route yet."""
    monkeypatch.setenv(userns.ENV, "")  # "" is untried; and the outcome is undone afterwards
    monkeypatch.setattr(userns, "needs_namespace", lambda: True)
    monkeypatch.setattr("harness.lab.privileges._effective", lambda: 0)


def test_a_busy_process_says_so_and_never_tries_again(monkeypatch, unprivileged) -> None:
    monkeypatch.setattr(userns, "threads", lambda: 3)
    monkeypatch.setattr(userns, "_probe", lambda *a: pytest.fail("tried with threads running"))
    reason = userns.enter_if_unprivileged()
    assert reason and reason.startswith("this process already runs 3 threads")
    assert userns.enter_if_unprivileged() == reason  # kept in the environment, for children too
    problem = capture_problem()
    assert problem == ("capture runs need CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_NET_RAW or a user "
                       f"namespace of their own, but {reason}")


def test_a_failed_probe_is_explained_and_leaves_the_process_alone(monkeypatch,
                                                                  unprivileged) -> None:
    monkeypatch.setattr(userns, "threads", lambda: 1)
    monkeypatch.setattr(userns, "_probe", lambda *a: ("unshare(CLONE_NEWUSER)", errno.EPERM))
    monkeypatch.setattr(userns, "_enter", lambda *a: pytest.fail("entered after a failed probe"))
    monkeypatch.setattr(userns, "sysctl_block", lambda root=None: None)
    monkeypatch.setattr(userns, "_status", lambda root, field: "2")
    assert userns.enter_if_unprivileged() == userns.SECCOMP
    assert capture_problem().endswith(f"but {userns.SECCOMP}")


def test_entered_or_privileged_means_nothing_to_say(monkeypatch) -> None:
    monkeypatch.setenv(userns.ENV, userns.ENTERED)
    assert userns.enter_if_unprivileged() is None and userns.route_problem() is None
    monkeypatch.delenv(userns.ENV)
    monkeypatch.setattr(userns, "needs_namespace", lambda: False)
    assert userns.enter_if_unprivileged() is None
    assert userns.ENV not in os.environ


def test_the_route_can_be_turned_off(monkeypatch, unprivileged) -> None:
    monkeypatch.setenv(userns.ENV, "0")
    monkeypatch.setattr(userns, "_attempt", lambda: pytest.fail("tried while turned off"))
    assert userns.enter_if_unprivileged() == (
        "the user-namespace route is turned off (HARNESS_USERNS=0): run as root, or unset "
        "HARNESS_USERNS")
    assert "or a user namespace of their own, but the user-namespace route is turned off" in (
        capture_problem() or "")


def test_untried_keeps_the_old_message(unprivileged) -> None:
    assert (capture_problem() or "").startswith(
        "capture runs need CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_NET_RAW (CAP_SYS_ADMIN to make")
