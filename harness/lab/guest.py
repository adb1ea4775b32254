"""A guest: another kernel booted with virtme-ng (`vng`), the host's root filesystem shared
read-only so the project's venv runs inside, one folder shared writable for what the guest
writes, a command run as root and the guest powered off after it.

KVM is used where it works, found out by trying (`kvm_problem`): /dev/kvm opened and asked for
a VM, then QEMU started with `-accel kvm -cpu host` on the kernel itself, which must get as
far as its console (without a root filesystem it panics, and with panic=-1 and -no-reboot
QEMU exits). Where it does not, guests run under TCG: slower, but the same kernel.
"""

from __future__ import annotations

import fcntl
import functools
import os
import shlex
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from harness.core.errors import LabError
from harness.lab import contained

QEMU = "qemu-system-x86_64"
#: What a guest needs of the system, each command with the Debian package that has it:
#: virtme-ng-init needs udevd (without it, "cannot find script I/O ports" and no output) and
#: a static busybox for its initramfs.
NEEDED = (("qemu-system-x86_64", "qemu-system-x86"), ("depmod", "kmod"),
          ("udevadm", "udev"), ("busybox", "busybox-static"))
_KVM_GET_API_VERSION, _KVM_CREATE_VM = 0xAE00, 0xAE01
#: Seconds the KVM probe's QEMU has to reach the kernel's console and stop.
KVM_PROBE_DEADLINE = 20.0


def bin_path() -> str:
    """PATH with this Python's bin folder first: vng runs virtme-run from there."""
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def missing_tools() -> str:
    """Why no guest can boot here ("" when everything is there): one line naming what to
    install."""
    vng = shutil.which("vng", path=bin_path())
    absent = [package for command, package in NEEDED if shutil.which(command) is None]
    parts = []
    if absent:
        parts.append(f"apt-get install {' '.join(absent)}")
    if vng is None:
        parts.append("pip install 'tcp-close-harness[kernels]' (virtme-ng) into the venv")
    if not parts:
        return ""
    return f"guests need virtme-ng and QEMU: {'; '.join(parts)} (or run make kernels as root)"


@functools.cache
def kvm_problem(vmlinuz: Path) -> str:
    """Why KVM cannot run this kernel here ("" when it can); the answer is kept."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        return f"/dev/kvm: {exc.strerror}"
    try:
        if fcntl.ioctl(fd, _KVM_GET_API_VERSION) != 12:
            return "/dev/kvm speaks another API version than 12"
        os.close(fcntl.ioctl(fd, _KVM_CREATE_VM, 0))
    except OSError as exc:
        return f"/dev/kvm refused to make a VM ({exc.strerror})"
    finally:
        os.close(fd)
    return _kvm_boots(vmlinuz)


def _kvm_boots(vmlinuz: Path) -> str:
    folder = Path(tempfile.mkdtemp(prefix="harness-kvm-probe-"))
    try:
        console = folder / "console"
        outcome = contained.run(
            [QEMU, "-accel", "kvm", "-cpu", "host", "-machine", "q35",
             "-display", "none", "-nodefaults", "-no-reboot", "-serial", f"file:{console}",
             "-kernel", str(vmlinuz), "-append", "console=ttyS0 panic=-1"],
            folder / "qemu.out", KVM_PROBE_DEADLINE, cwd=folder)
        if outcome.timed_out:
            return f"QEMU with KVM did not get through a boot in {KVM_PROBE_DEADLINE:g} s"
        said = contained.tail(console, 400)
        if outcome.status != 0 or not any("Linux version" in line for line in said):
            last = (outcome.tail(3) or ("(it said nothing)",))[-1].removeprefix(f"{QEMU}: ")
            return f"QEMU with KVM stopped (status {outcome.status}): {last[:160]}"
        return ""
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def vng_argv(vmlinuz: Path, shared: Path, command: Sequence[str], *, kvm: bool,
             memory: str, cpus: int, cwd: Path) -> list[str]:
    """The vng command that boots vmlinuz, runs command in cwd and powers off. The host's
    root is shared read-only over 9p (virtme-ng would first wait for a virtiofsd that
    Debian 12 does not ship), shared read-write; the kernel's console and the command's
    output both go to vng's output (--verbose)."""
    vng = shutil.which("vng", path=bin_path()) or "vng"
    script = f"cd {shlex.quote(str(cwd))} && exec {shlex.join(command)}"
    return [vng, "--run", str(vmlinuz), "--force-9p", *(() if kvm else ("--disable-kvm",)),
            "--memory", memory, "--cpus", str(cpus), f"--rwdir={shared}", "--verbose",
            "--exec", script]


def boot(vmlinuz: Path, shared: Path, command: Sequence[str], console: Path,
         deadline: float, *, marker: Path, kvm: bool, memory: str = "2G", cpus: int = 2,
         stop: threading.Event | None = None,
         lines: Callable[[str], None] | None = None) -> contained.Outcome:
    """Boot a guest that runs command; its console (and the command's output) in console,
    each line of it to `lines` as it comes."""
    if not vmlinuz.is_file():
        raise LabError(f"{vmlinuz}: no such kernel image")
    argv = vng_argv(vmlinuz, shared, command, kvm=kvm, memory=memory, cpus=cpus,
                    cwd=Path.cwd())
    env = {**os.environ, "PATH": bin_path()}
    return contained.run(argv, console, deadline, cwd=Path.cwd(), env=env, marker=marker,
                         stop=stop, lines=lines)
