"""Atomic writers: complete or absent, ordinary permissions, no pickles."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from lbdsl.errors import SolveError
from lbdsl.outputs import write_json_atomic, write_npz_atomic, write_text_atomic


def test_files_get_the_umask_permissions_not_mkstemps_0600(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "a.txt", "hello")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644


def test_a_failed_write_leaves_neither_file_nor_temporary(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    write_text_atomic(tmp_path / "r.json", "old")

    def boom(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(SolveError, match="No space left"):
        write_json_atomic(tmp_path / "r.json", {"a": 1})
    assert (tmp_path / "r.json").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_object_arrays_are_refused_and_nan_json_too(tmp_path: Path) -> None:
    with pytest.raises(SolveError, match="object arrays"):
        write_npz_atomic(tmp_path / "x.npz", {"bad": np.array([{"a": 1}], dtype=object)})
    assert not (tmp_path / "x.npz").exists()
    with pytest.raises(ValueError):
        write_json_atomic(tmp_path / "r.json", {"a": float("nan")})
    write_npz_atomic(tmp_path / "ok.npz", {"u": np.arange(3.0)})
    with np.load(tmp_path / "ok.npz", allow_pickle=False) as data:
        assert np.array_equal(data["u"], np.arange(3.0))
