"""What an atomic write does to a target that is not a plain file, and the folder lock's link
check: nothing is written through a link, and a stream is written, never replaced."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from lbdsl.errors import SolveError
from lbdsl.outputs import write_bytes_atomic, write_text_atomic
from lbdsl.tasks.layout import NAME_LIMIT, locked, sanitise


def test_a_link_at_the_target_is_replaced_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("theirs")
    (tmp_path / "out").mkdir()
    link = tmp_path / "out" / "report.json"
    link.symlink_to(outside)
    write_text_atomic(link, "ours")
    assert outside.read_text() == "theirs"
    assert not link.is_symlink() and link.read_text() == "ours"


@pytest.mark.parametrize("streams", [False, True])
def test_a_directory_is_refused_in_one_line(tmp_path: Path, streams: bool) -> None:
    (tmp_path / "d").mkdir()
    with pytest.raises(SolveError, match="it is a directory, not a regular file"):
        write_text_atomic(tmp_path / "d", "x", streams=streams)
    assert (tmp_path / "d").is_dir()


def test_a_fifo_is_refused_unless_streams_are_asked_for(tmp_path: Path) -> None:
    fifo = tmp_path / "f"
    os.mkfifo(fifo)
    with pytest.raises(SolveError, match="it is a FIFO"):
        write_text_atomic(fifo, "x")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    write_text_atomic(fifo, "through", streams=True)
    reader.join(timeout=30)
    assert got == ["through"] and stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_link_to_a_character_device_is_written_through(tmp_path: Path) -> None:
    link = tmp_path / "null"
    link.symlink_to("/dev/null")
    write_text_atomic(link, "gone", streams=True)
    assert link.is_symlink() and os.readlink(link) == "/dev/null"
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_nul_byte_in_the_name_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(SolveError, match="null"):
        write_bytes_atomic(tmp_path / "a\x00b", b"x")


def test_the_lock_is_never_taken_through_a_link(tmp_path: Path) -> None:
    folder = tmp_path / "out" / "invert-p"
    folder.mkdir(parents=True)
    target = tmp_path / "planted"
    (folder / ".lbdsl.lock").symlink_to(target)
    with pytest.raises(SolveError, match="is a symbolic link"):
        with locked(folder):
            pass
    assert not target.exists()


def test_long_names_are_cut_and_stay_distinct() -> None:
    a, b = sanitise("n" * 300), sanitise("n" * 299 + "m")
    assert len(a) == len(b) == NAME_LIMIT and a != b
    assert sanitise("n" * NAME_LIMIT) == "n" * NAME_LIMIT   # short enough: unchanged
    assert sanitise("p") == "p"
