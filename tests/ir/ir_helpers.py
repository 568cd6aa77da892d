"""Helpers for the IR tests: building a spec, and the data files the bad specs under ``bad/``
load (written at test time, so that no binaries are committed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_load_fixtures(folder: Path) -> None:
    """``corrupt.npy``, ``truncated.npy``, ``weights.npz``, ``nan.npy``, ``object.npy``,
    ``strings.npy`` and ``good.npy`` in ``folder``."""
    folder = Path(folder)
    (folder / "corrupt.npy").write_bytes(b"this is not a numpy file\n" * 4)
    np.save(folder / "good.npy", np.arange(12.0).reshape(3, 4))
    whole = (folder / "good.npy").read_bytes()
    (folder / "truncated.npy").write_bytes(whole[: len(whole) - 40])
    np.savez(folder / "weights.npz", W=np.ones((4, 3)), b=np.zeros(3))
    nan = np.ones((3, 4))
    nan[0, 1] = np.nan
    nan[2, 2] = np.inf
    nan[2, 3] = np.nan
    np.save(folder / "nan.npy", nan)
    obj = np.empty((3, 4), dtype=object)
    obj[...] = 1.0
    np.save(folder / "object.npy", obj, allow_pickle=True)
    np.save(folder / "strings.npy", np.full((3, 4), "abc"))


def build(source: str, folder: Path | None = None, name: str = "spec.lbn"):
    """Parse ``source`` (as the file ``folder/name``) and build its module IR."""
    from lbdsl.program import build_module
    from lbdsl.syntax.parser import parse

    file = str(Path(folder) / name) if folder is not None else name
    return build_module(parse(source, file))


def build_net(source: str, folder: Path | None = None):
    """The one network of ``source``."""
    module = build(source, folder)
    (net,) = module.networks.values()
    return net
