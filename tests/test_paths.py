"""lbdsl.paths: where a spec's relative names start, in this process and (on a Dask worker)
from another process's working directory."""

from __future__ import annotations

import threading
from pathlib import Path

from lbdsl.paths import cwd, spec_dir, spec_file, working_directory


def test_by_default_names_start_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    assert cwd() == Path.cwd()
    assert spec_file("<string>") is None and spec_file("") is None
    assert spec_dir("<demo>") == tmp_path
    assert spec_file("sub/s.lbn") == tmp_path / "sub" / "s.lbn"
    assert spec_dir("sub/s.lbn") == (tmp_path / "sub").resolve()
    assert spec_dir(str(tmp_path / "sub" / "s.lbn")) == (tmp_path / "sub").resolve()


def test_working_directory_moves_relative_names_in_this_thread_only(tmp_path, monkeypatch):
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    monkeypatch.chdir(here)
    seen: list[Path] = []
    with working_directory(there):
        assert cwd() == there and Path.cwd() == here.resolve()     # no chdir
        assert spec_dir("<string>") == there
        assert spec_file("s.lbn") == there / "s.lbn"
        assert spec_file(str(here / "s.lbn")) == here / "s.lbn"    # absolute stays
        with working_directory(here / "x"):
            assert cwd() == here / "x"
        assert cwd() == there                                      # restored
        other = threading.Thread(target=lambda: seen.append(cwd()))
        other.start()
        other.join()
    assert seen == [Path.cwd()]                                    # another thread: its own
    assert cwd() == Path.cwd()
