"""Which kernel a `--kernel` asks for: a version (`6.1`, `6.12`), a Debian image package
(`linux-image-6.1.0-57-amd64`) or the path of a vmlinuz beside its modules; the package a
version means among apt's (the newest plain amd64 image); where a kernel's files lie.

Pure: apt's output comes in as text, the answers go out as values; `harness.lab.kernel_cache`
runs apt-cache, apt-get download, dpkg -x and depmod.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePath

from harness.core.errors import UsageError, quoted

#: A plain amd64 image package: `linux-image-6.1.0-57-amd64`, `linux-image-6.12.38+deb12-amd64`.
#: Not the -dbg symbols, the -rt or -cloud flavours, the -unsigned twin (the same image and
#: modules) nor the meta-packages (`linux-image-6.12-amd64`, `linux-image-amd64`), which hold
#: no kernel.
IMAGE = re.compile(r"linux-image-(?P<abi>\d+\.\d+\.\d+(?:-\d+|\+deb\d+))-amd64")
#: Any package name a user may give: a Debian image, with or without -unsigned.
PACKAGE = re.compile(r"linux-image-(?P<release>[0-9][\w.+~-]*?)(?:-unsigned)?")
VERSION = re.compile(r"\d+\.\d+(?:\.\d+)?(?:-\d+)?")


@dataclass(frozen=True)
class KernelRequest:
    """One `--kernel` value: `kind` is "version", "package" or "path"; `text` as given."""

    kind: str
    text: str


def request(text: str) -> KernelRequest:
    """What a `--kernel` value asks for; UsageError (one line) when it is none of them."""
    text = text.strip()
    if "/" in text or text.startswith((".", "~")) or "vmlinuz" in text:
        return KernelRequest("path", text)
    if PACKAGE.fullmatch(text):
        if text.endswith("-dbg"):
            raise UsageError(f"--kernel {text}: that package holds debug symbols, not a kernel; "
                             "give the image package (without -dbg)")
        return KernelRequest("package", text)
    if VERSION.fullmatch(text):
        return KernelRequest("version", text)
    raise UsageError(f"--kernel {quoted(text)}: not a kernel version (6.1), a Debian image "
                     "package (linux-image-6.1.0-57-amd64) or a path to a vmlinuz beside its "
                     "modules (ROOT/boot/vmlinuz-VER with ROOT/lib/modules/VER)")


def image_packages(search: str) -> list[str]:
    """The plain image packages in `apt-cache search --names-only` output ("NAME - TEXT")."""
    names = (line.split(" - ", 1)[0].strip() for line in search.splitlines())
    return sorted({name for name in names if IMAGE.fullmatch(name)}, key=_natural)


def _natural(name: str) -> tuple[tuple[int, int | str], ...]:
    """A key that orders numbers as numbers: 6.1.0-9 before 6.1.0-10, 6.12.9 before 6.12.38."""
    return tuple((0, int(part)) if part.isdigit() else (1, part)
                 for part in re.findall(r"\d+|\D+", name))


def matches(version: str, package: str) -> bool:
    """Whether an image package is of a version: `6.1` takes 6.1.0-57 but not 6.12.38."""
    found = IMAGE.fullmatch(package)
    if not found:
        return False
    abi = found["abi"]
    return abi == version or (abi.startswith(version) and abi[len(version)] in ".-+")


def choose_package(version: str, packages: Iterable[str]) -> str | None:
    """The newest image package of a version, None when apt knows none."""
    chosen = [name for name in packages if matches(version, name)]
    return max(chosen, key=_natural) if chosen else None


def series(packages: Iterable[str]) -> list[str]:
    """The versions apt offers (`6.1`, `6.12`), for the hint of a version it has not."""
    found = {".".join(IMAGE.fullmatch(n)["abi"].split(".")[:2])  # type: ignore[index]
             for n in packages if IMAGE.fullmatch(n)}
    return sorted(found, key=_natural)


def no_such_version(version: str, packages: Iterable[str]) -> UsageError:
    """The one line for a version apt has no image of."""
    offered = ", ".join(series(packages)) or "none (are apt's lists there? apt-get update)"
    return UsageError(f"--kernel {version}: apt knows no linux-image-{version}…-amd64 package; "
                      f"run apt-get update, or give one of the versions it has: {offered}")


def no_such_package(package: str) -> UsageError:
    """The one line for a package name apt does not know."""
    return UsageError(f"--kernel {package}: no such package in apt's lists; run apt-get "
                      "update, check the name (apt-cache search linux-image), or give a "
                      "version (6.1) to take its newest")


def release_of_package(package: str) -> str:
    """The kernel release a package holds: `linux-image-6.1.0-57-amd64` -> `6.1.0-57-amd64`."""
    found = PACKAGE.fullmatch(package)
    if not found:
        raise no_such_package(package)
    return found["release"]


def release_of_vmlinuz(path: PurePath) -> str:
    """`6.1.0-57-amd64` of `ROOT/boot/vmlinuz-6.1.0-57-amd64`; UsageError for another name."""
    if not path.name.startswith("vmlinuz-") or path.name == "vmlinuz-":
        raise UsageError(f"--kernel {path}: name the kernel as vmlinuz-RELEASE (its modules "
                         "are found at ROOT/lib/modules/RELEASE beside ROOT/boot)")
    return path.name.removeprefix("vmlinuz-")


def modules_candidates(vmlinuz: PurePath, release: str) -> tuple[PurePath, ...]:
    """Where a vmlinuz's modules may be: ROOT/lib/modules/REL or ROOT/usr/lib/modules/REL,
    ROOT being the folder above boot/ (or the vmlinuz's own folder when it is not in boot/)."""
    root = vmlinuz.parent.parent if vmlinuz.parent.name == "boot" else vmlinuz.parent
    return (root / "lib/modules" / release, root / "usr/lib/modules" / release)
