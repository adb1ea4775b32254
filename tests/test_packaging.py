"""The container and the CI workflow agree with the Makefile: one list of system packages
(the Makefile's), the same capabilities wherever the image is run, capture tests required."""

from __future__ import annotations

import json
import re
from pathlib import Path

from harness.lab.privileges import NEEDED

ROOT = Path(__file__).resolve().parent.parent
MAKEFILE = (ROOT / "Makefile").read_text()
DOCKERFILE = (ROOT / "docker/Dockerfile").read_text()
DOCKER_README = (ROOT / "docker/README.md").read_text()
WORKFLOW = (ROOT / ".github/workflows/verify.yml").read_text()
# What the image may install itself: enough to run make (and apt, and pip).
BOOTSTRAP = {"make", "python3", "python3-venv", "ca-certificates"}


def _joined(text: str) -> list[str]:
    """Lines with backslash continuations joined."""
    return re.sub(r"\\\n", " ", text).splitlines()


def _makefile_packages() -> set[str]:
    """SYSTEM_TOOLS's packages (every `cmd:pkg`, `:=` or `+=`) and the ones the system target
    names itself (libpcap0.8, python3-venv)."""
    packages = set()
    for tools in re.findall(r"SYSTEM_TOOLS\s*[:+]?=(.*)", MAKEFILE):
        packages.update(pair.split(":", 1)[1] for pair in tools.split() if ":" in pair)
    packages.update(re.findall(r'missing="\$\$missing ([\w.+-]+)"', MAKEFILE))
    return packages


def _apt_installs(dockerfile: str) -> set[str]:
    """Every package a RUN line of the Dockerfile installs with apt-get or apt."""
    named = set()
    for line in _joined(dockerfile):
        if not line.startswith("RUN "):
            continue
        for command in re.split(r"&&|;|\|\|", line[4:]):
            words = command.split()
            if "install" in words and {"apt-get", "apt"} & set(words):
                after = words[words.index("install") + 1:]
                named.update(w for w in after if not w.startswith("-") and "=" not in w)
    return named


def _caps(text: str) -> list[str]:
    return sorted(re.findall(r"--cap-add[ =]([A-Z_]+)", text))


def _recipe(target: str) -> str:
    """The recipe of a Makefile target, continuations joined."""
    lines = _joined(MAKEFILE)
    start = lines.index(f"{target}:")
    body = []
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        body.append(line)
    return "\n".join(body)


def _readme_run_line() -> str:
    runs = [line for line in _joined(DOCKER_README) if line.startswith("docker run ")]
    assert len(runs) == 1, f"docker/README.md should show one `docker run` line, not {runs}"
    return runs[0]


def test_the_image_takes_its_system_packages_from_the_makefile() -> None:
    packages = _makefile_packages()
    assert {"iproute2", "tcpdump", "tshark", "libpcap0.8"} <= packages, (
        f"could not read the Makefile's system packages (found {sorted(packages)})")
    twice = (_apt_installs(DOCKERFILE) & packages) - BOOTSTRAP
    assert not twice, (f"docker/Dockerfile installs {sorted(twice)} itself; the Makefile's "
                       "SYSTEM_TOOLS names them: leave them to `make system`")
    extra = _apt_installs(DOCKERFILE) - BOOTSTRAP - packages
    assert not extra, (f"docker/Dockerfile installs {sorted(extra)}; add system packages to the "
                       "Makefile's SYSTEM_TOOLS instead")
    makes = [line for line in _joined(DOCKERFILE)
             if line.startswith("RUN ") and re.search(r"\bmake\b", line)]
    for target in ("system", "venv"):
        assert any(re.search(rf"\bmake\b[^&;]*\b{target}\b", line) for line in makes), (
            f"docker/Dockerfile never runs `make {target}`, so the image does not get what the "
            "Makefile installs")


def test_the_image_runs_make_verify() -> None:
    cmds = [line[4:].strip() for line in _joined(DOCKERFILE) if line.startswith("CMD ")]
    assert cmds, "docker/Dockerfile has no CMD"
    cmd = cmds[-1]
    words = json.loads(cmd) if cmd.startswith("[") else cmd.split()
    assert words == ["make", "verify"], f"docker/Dockerfile's CMD is {cmd}, not `make verify`"


def test_docker_verify_runs_the_image_as_the_readme_says() -> None:
    recipe, run = _recipe("docker-verify"), _readme_run_line()
    assert _caps(recipe) == _caps(run), (
        f"make docker-verify adds {_caps(recipe)}, docker/README.md's run line {_caps(run)}")
    needed = sorted(name.removeprefix("CAP_") for name in NEEDED)
    assert _caps(run) == needed, (f"the harness needs {needed} (harness/privileges.py); "
                                  f"docker/README.md's run line adds {_caps(run)}")
    for where, text in (("make docker-verify", recipe), ("docker/README.md's run line", run)):
        assert "--privileged" not in text, f"{where} uses --privileged"
        assert ":/app/pcaps" in text, f"{where} mounts no host folder on /app/pcaps"
    assert re.search(r"^\.PHONY:.*\bdocker-verify\b", MAKEFILE, re.M), "docker-verify not .PHONY"


def test_the_workflow_requires_capture_and_keeps_the_pcaps() -> None:
    lines = [line.strip() for line in WORKFLOW.splitlines()]
    test = [line for line in lines if re.search(r"\bsudo\b.*\bmake test\b", line)]
    assert test, "the workflow never runs `sudo ... make test`"
    assert all("HARNESS_REQUIRE_CAPTURE=1" in line for line in test), (
        "the workflow runs make test without HARNESS_REQUIRE_CAPTURE=1: capture tests could skip")
    assert all("--junitxml=" in line for line in test), (
        "the workflow's make test asks pytest for no JUnit XML (PYTEST_ARGS=--junitxml=...)")
    assert any(re.search(r"\bsudo\b.*\bmake verify\b", line) for line in lines), (
        "the workflow never runs `sudo make verify`")
    steps = re.split(r"\n(?=\s+- )", WORKFLOW)
    uploads = [step for step in steps if "actions/upload-artifact@" in step]
    assert uploads, "the workflow uploads no artifact"
    assert any(re.search(r"^\s*path:\s*pcaps/?\s*$", step, re.M) and "if: always()" in step
               for step in uploads), "the workflow does not upload pcaps/ with `if: always()`"


def test_make_verify_writes_the_junit_xml_the_workflow_publishes() -> None:
    recipe = re.search(r"^verify:.*\n((?:\t.*\n)+)", MAKEFILE, re.M)
    assert recipe and "--junit pcaps/junit-verify.xml" in recipe.group(1)
    assert "report_paths: pcaps/junit-verify.xml" in WORKFLOW
