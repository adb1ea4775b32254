"""Which kernel a --kernel names: a version takes apt's newest plain amd64 image of it (never
a -dbg, -rt, -cloud, -unsigned twin or meta-package, and 6.1 never 6.12), a package or a
vmlinuz path is taken as given; each mistake is one line saying what to give instead."""

from __future__ import annotations

from pathlib import PurePath

import pytest

from harness.core import kernel_choice as choice
from harness.core.errors import UsageError

SEARCH = """\
linux-image-6.1.0-9-amd64 - Linux 6.1 for 64-bit PCs (signed)
linux-image-6.1.0-57-amd64-dbg - Debug symbols for linux-image-6.1.0-57-amd64
linux-image-6.1.0-57-amd64-unsigned - Linux 6.1 for 64-bit PCs
linux-image-6.1.0-57-cloud-amd64 - Linux 6.1 for x86-64 cloud (signed)
linux-image-6.1.0-57-rt-amd64 - Linux 6.1 for 64-bit PCs, PREEMPT_RT (signed)
linux-image-6.1.0-57-amd64 - Linux 6.1 for 64-bit PCs (signed)
linux-image-6.1.0-10-amd64 - Linux 6.1 for 64-bit PCs (signed)
linux-image-6.12-amd64 - Linux 6.12 for 64-bit PCs (meta-package)
linux-image-6.12.9+deb12-amd64 - Linux 6.12 for 64-bit PCs (signed)
linux-image-6.12.117+deb12-amd64 - Linux 6.12 for 64-bit PCs (signed)
linux-image-6.12.38+deb12-amd64 - Linux 6.12 for 64-bit PCs (signed)
linux-image-amd64 - Linux for 64-bit PCs (meta-package)
linux-image-amd64-signed-template - Template for signed linux-image packages for amd64
"""


def test_only_plain_images_are_offered_in_numeric_order() -> None:
    assert choice.image_packages(SEARCH) == [
        "linux-image-6.1.0-9-amd64", "linux-image-6.1.0-10-amd64", "linux-image-6.1.0-57-amd64",
        "linux-image-6.12.9+deb12-amd64", "linux-image-6.12.38+deb12-amd64",
        "linux-image-6.12.117+deb12-amd64"]


@pytest.mark.parametrize(("version", "package"), [
    ("6.1", "linux-image-6.1.0-57-amd64"), ("6.1.0", "linux-image-6.1.0-57-amd64"),
    ("6.1.0-10", "linux-image-6.1.0-10-amd64"), ("6.12", "linux-image-6.12.117+deb12-amd64"),
    ("6.12.38", "linux-image-6.12.38+deb12-amd64"), ("6.6", None), ("6.1.0-5", None)])
def test_a_version_takes_its_newest_image_and_no_other_series(version: str,
                                                             package: str | None) -> None:
    assert choice.choose_package(version, choice.image_packages(SEARCH)) == package


def test_a_version_apt_lacks_names_the_versions_it_has() -> None:
    error = choice.no_such_version("6.6", choice.image_packages(SEARCH))
    assert str(error) == ("--kernel 6.6: apt knows no linux-image-6.6…-amd64 package; run "
                          "apt-get update, or give one of the versions it has: 6.1, 6.12")
    assert "apt-get update" in str(choice.no_such_version("6.6", []))


@pytest.mark.parametrize(("text", "kind"), [
    ("6.1", "version"), ("6.12", "version"), ("6.1.0-57", "version"),
    ("linux-image-6.1.0-57-amd64", "package"), ("linux-image-6.1.0-57-amd64-unsigned", "package"),
    ("/srv/k/boot/vmlinuz-6.1.0-57-amd64", "path"), ("./vmlinuz-6.9", "path"),
    ("vmlinuz-6.9", "path"), ("~/k/boot/vmlinuz-6.9", "path")])
def test_each_way_of_naming_a_kernel_is_told_apart(text: str, kind: str) -> None:
    assert choice.request(text) == choice.KernelRequest(kind, text)


@pytest.mark.parametrize(("text", "says"), [
    ("latest", r"not a kernel version \(6\.1\), a Debian image package"),
    ("6", "not a kernel version"),
    ("linux-image-6.1.0-57-amd64-dbg", "holds debug symbols, not a kernel")])
def test_a_kernel_that_cannot_be_named_so_is_one_line(text: str, says: str) -> None:
    with pytest.raises(UsageError, match=says) as caught:
        choice.request(text)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("package", "release"), [
    ("linux-image-6.1.0-57-amd64", "6.1.0-57-amd64"),
    ("linux-image-6.1.0-57-amd64-unsigned", "6.1.0-57-amd64"),
    ("linux-image-6.12.38+deb12-amd64", "6.12.38+deb12-amd64")])
def test_a_package_holds_the_release_of_its_name(package: str, release: str) -> None:
    assert choice.release_of_package(package) == release


def test_a_vmlinuz_finds_its_modules_above_boot() -> None:
    vmlinuz = PurePath("/k/boot/vmlinuz-6.1.0-57-amd64")
    release = choice.release_of_vmlinuz(vmlinuz)
    assert release == "6.1.0-57-amd64"
    assert choice.modules_candidates(vmlinuz, release) == (
        PurePath("/k/lib/modules/6.1.0-57-amd64"), PurePath("/k/usr/lib/modules/6.1.0-57-amd64"))
    assert choice.modules_candidates(PurePath("/k/vmlinuz-6.9"), "6.9")[0] == PurePath(
        "/k/lib/modules/6.9")


def test_a_vmlinuz_without_its_release_in_its_name_is_refused() -> None:
    with pytest.raises(UsageError, match="name the kernel as vmlinuz-RELEASE"):
        choice.release_of_vmlinuz(PurePath("/k/bzImage"))
