"""The kernel cache: a `--kernel` found (apt-cache), fetched (apt-get download), unpacked
(dpkg -x) and indexed (depmod -b) into a folder of its own, once; a vmlinuz given by path is
taken as it is, beside its modules.

CACHE/PACKAGE/ holds boot/vmlinuz-REL and lib/modules/REL of one package. It is unpacked in
a hidden folder beside it and renamed into place only once depmod is done, so a fetch that
failed or was interrupted leaves nothing that looks like a kernel (and the next one starts
again). Naming a kernel apt does not know is the user's mistake (UserError, one line, before
anything boots); a download or an unpacking that fails is that kernel's ERROR (LabError).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.core import kernel_choice as choice
from harness.core.errors import LabError, UsageError

#: Seconds apt-get download, dpkg -x and depmod may each take.
TOOL_DEADLINE = 600.0


@dataclass(frozen=True)
class Kernel:
    """A kernel to boot: how it was asked for, its release, the package it comes from ("" for
    a path), its vmlinuz and modules (known once fetched)."""

    asked: str
    release: str
    package: str = ""
    vmlinuz: Path | None = None
    modules: Path | None = None


def default_cache() -> Path:
    """~/.cache/tcp-close-harness/kernels (XDG_CACHE_HOME's, when it is set)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tcp-close-harness" / "kernels"


def resolve(text: str) -> Kernel:
    """The kernel a `--kernel` value names; UserError (one line) for one that is not there."""
    asked = choice.request(text)
    if asked.kind == "path":
        return _from_path(Path(asked.text).expanduser())
    if asked.kind == "version":
        packages = choice.image_packages(_apt_cache("search", "--names-only", r"^linux-image-"))
        package = choice.choose_package(asked.text, packages)
        if package is None:
            raise choice.no_such_version(asked.text, packages)
    else:
        package = asked.text
        if not _apt_cache("show", "--no-all-versions", package, missing_ok=True).strip():
            raise choice.no_such_package(package)
    return Kernel(text, choice.release_of_package(package), package)


def _from_path(vmlinuz: Path) -> Kernel:
    if not vmlinuz.is_file():
        raise UsageError(f"--kernel {vmlinuz}: no such file; give a vmlinuz beside its modules "
                         "(ROOT/boot/vmlinuz-REL with ROOT/lib/modules/REL), or a version (6.1)")
    release = choice.release_of_vmlinuz(vmlinuz)
    modules = next((Path(m) for m in choice.modules_candidates(vmlinuz, release)
                    if Path(m).is_dir()), None)
    if modules is None:
        where = " or ".join(str(m) for m in choice.modules_candidates(vmlinuz, release))
        raise UsageError(f"--kernel {vmlinuz}: no modules beside it (looked in {where}); "
                         "unpack the kernel's package whole (dpkg -x) and give its vmlinuz")
    return Kernel(str(vmlinuz), release, "", vmlinuz.resolve(), modules.resolve())


def _apt_cache(*args: str, missing_ok: bool = False) -> str:
    if shutil.which("apt-cache") is None:
        raise UsageError("--kernel: apt-cache is not installed, so no Debian kernel package can "
                         "be found; give the path of a vmlinuz beside its modules instead")
    done = subprocess.run(["apt-cache", *args], capture_output=True, text=True,
                          timeout=TOOL_DEADLINE, check=False)
    if done.returncode and not missing_ok:
        raise UsageError(f"--kernel: apt-cache {' '.join(args)} failed: {_last(done.stderr)}")
    return done.stdout


def fetch(kernel: Kernel, cache: Path) -> Kernel:
    """The kernel with its vmlinuz and modules, fetched into cache unless already there."""
    if kernel.vmlinuz is not None:
        return kernel
    home = cache / kernel.package
    vmlinuz, modules = _files(home, kernel.release)
    if not _ready(home, kernel.release):
        _unpack(kernel, cache, home)
    return Kernel(kernel.asked, kernel.release, kernel.package, vmlinuz, modules)


def _files(home: Path, release: str) -> tuple[Path, Path]:
    return home / "boot" / f"vmlinuz-{release}", home / "lib" / "modules" / release


def _ready(home: Path, release: str) -> bool:
    vmlinuz, modules = _files(home, release)
    return vmlinuz.is_file() and (modules / "modules.dep").is_file()


def _unpack(kernel: Kernel, cache: Path, home: Path) -> None:
    try:
        cache.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{kernel.package}.", dir=cache))
    except OSError as exc:
        raise LabError(f"kernel cache {cache}: cannot write there ({exc.strerror}); give "
                       "another with --cache") from None
    try:
        _tool(["apt-get", "download", kernel.package], work, "download it")
        debs = sorted(work.glob("*.deb"))
        if len(debs) != 1:
            raise LabError(f"{kernel.package}: apt-get download left {len(debs)} .deb files")
        _tool(["dpkg", "-x", debs[0].name, "root"], work, "unpack it")
        debs[0].unlink()
        root = work / "root"
        if (root / "usr/lib/modules").is_dir() and not (root / "lib/modules").exists():
            (root / "lib").mkdir(exist_ok=True)
            (root / "lib/modules").symlink_to("../usr/lib/modules")
        _tool(["depmod", "-b", str(root), kernel.release], work, "index its modules")
        if not _files(root, kernel.release)[0].is_file():
            raise LabError(f"{kernel.package}: holds no boot/vmlinuz-{kernel.release}; give an "
                           "image package (linux-image-…-amd64)")
        if _ready(home, kernel.release):
            return  # another harness unpacked it meanwhile
        if home.exists():
            shutil.rmtree(home)  # an unpacking of before that lost its files
        root.rename(home)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _tool(argv: list[str], cwd: Path, doing: str) -> None:
    if shutil.which(argv[0]) is None:
        package = {"depmod": "kmod", "dpkg": "dpkg", "apt-get": "apt"}[argv[0]]
        raise LabError(f"{argv[0]} is not installed, so the kernel cannot be fetched; "
                       f"apt-get install {package} (or run make kernels as root)")
    try:
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True,
                              timeout=TOOL_DEADLINE, check=False)
    except subprocess.TimeoutExpired:
        raise LabError(f"{' '.join(argv)}: did not {doing} within {TOOL_DEADLINE:g} s") from None
    if done.returncode:
        raise LabError(f"{' '.join(argv)} could not {doing} (status {done.returncode}): "
                       f"{_last(done.stderr)}")


def _last(text: str) -> str:
    """The last line of a tool's complaint that says something (apt's W: lines are noise)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    said = [line for line in lines if not line.startswith("W:")] or lines
    return said[-1][:300] if said else "(it said nothing)"
