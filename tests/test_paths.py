"""lbdsl.paths: where a spec's relative names start, in this process and (on a Dask worker)
from another process's working directory."""

from __future__ import annotations

import threading
from pathlib import Path

from lbdsl.paths import cwd, spec_dir, spec_file, tidy, working_directory


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


def test_tidy_removes_dot_dot_by_following_the_path_not_by_text(tmp_path, monkeypatch):
    """``specs/../lbdsl-out/x`` is printed ``lbdsl-out/x``; a ``..`` after a symbolic link
    goes where the system goes (the link's target's parent), never a textual shortcut."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "specs").mkdir()
    (tmp_path / "deep" / "in").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "deep" / "in", target_is_directory=True)
    assert tidy("specs/../lbdsl-out/x") == Path("lbdsl-out/x")
    assert tidy(tmp_path / "specs" / ".." / "out") == Path("out")       # inside: relative
    assert tidy("link/../y") == Path("deep/y")                          # not `y`
    outside = tmp_path.parent / "elsewhere"
    assert tidy(tmp_path / ".." / "elsewhere") == outside.resolve()      # outside: absolute
    assert tidy("lbdsl-out/demo") == Path("lbdsl-out/demo")             # no `..`: as it is
    assert tidy(tmp_path / "o") == tmp_path / "o"
    with working_directory(tmp_path / "specs"):     # relative to the caller's directory
        assert tidy("../out") == (tmp_path / "out").resolve()
        assert tidy("sub/../out") == Path("out")
