"""The checked catalog kept for the next command (harness.core.catalog_cache): used only for
exactly the files and code it was made from, and never in the way when it cannot be."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.core import catalog, catalog_cache


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(catalog_cache.CACHE_ENV, str(folder))
    return folder


def _files() -> list[tuple[str, bytes]]:
    names = sorted(n for n in os.listdir(catalog.CATALOG) if n.endswith(".toml"))
    return [(os.path.join(catalog.CATALOG, n), Path(catalog.CATALOG, n).read_bytes())
            for n in names]


def test_the_second_load_reads_nothing_again(monkeypatch: pytest.MonkeyPatch,
                                             _own_cache: Path) -> None:
    first = catalog.load_catalog()
    assert (_own_cache / "catalog.pickle").is_file()

    def parse(*_args: object) -> None:
        raise AssertionError("the catalog was parsed again")

    monkeypatch.setattr(catalog, "_from_bytes", parse)
    assert catalog.load_catalog() == first


def test_a_changed_file_or_changed_code_is_not_answered_from_the_cache(
        monkeypatch: pytest.MonkeyPatch) -> None:
    files = _files()
    catalog_cache.write(files, ["kept"])
    assert catalog_cache.read(files) == ["kept"]
    changed = [files[0], (files[1][0], files[1][1] + b"\n"), *files[2:]]
    assert catalog_cache.read(changed) is None
    assert catalog_cache.read(files[1:]) is None  # a file removed
    monkeypatch.setattr(catalog_cache, "_code_stamp", lambda: b"other code")
    assert catalog_cache.read(files) is None


def test_a_broken_cache_is_read_past(_own_cache: Path) -> None:
    _own_cache.mkdir()
    (_own_cache / "catalog.pickle").write_bytes(b"not a pickle")
    assert len(catalog.load_catalog()) == len(_files())


def test_a_cache_that_cannot_be_written_is_not_in_the_way(monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setenv(catalog_cache.CACHE_ENV, str(blocked / "cache"))  # under a file
    assert len(catalog.load_catalog()) == len(_files())
