"""Same spec + seed + backend → bit-identical results on NumPy; the report says what produced them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from lbdsl.cli import main
from run_helpers import TINY_NET

SPEC = TINY_NET + """
invert tiny {
    truth       = image("shepp_logan", size = 8x8)
    data        = forward(truth) + gaussian(sigma = 0.5, seed = 3)
    regulariser = 0.01 * tv + nonneg
    baseline    = true
    solver      = pdhg(max_iter = 60)
    seed        = 11
}
"""


def test_two_runs_give_bit_identical_arrays(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    spec = tmp_path / "tiny.lbn"
    spec.write_text(SPEC)
    for out in ("a", "b"):
        assert main(["solve", str(spec), "--out", str(tmp_path / out)]) == 0
    capsys.readouterr()
    with np.load(tmp_path / "a/invert-tiny/result.npz", allow_pickle=False) as a, \
            np.load(tmp_path / "b/invert-tiny/result.npz", allow_pickle=False) as b:
        assert sorted(a.files) == sorted(b.files) and "u" in a.files
        for key in a.files:
            assert a[key].dtype == b[key].dtype
            assert a[key].tobytes() == b[key].tobytes(), key
    report = json.loads((tmp_path / "a/invert-tiny/report.json").read_text())
    assert report["backend"] == "numpy" and report["dtype"] == "float64" and report["seed"] == 11
    assert report["certificate_applies"] is True   # a Bregman task
    assert report["versions"]["lbdsl"] and report["versions"]["numpy"] == np.__version__
    assert report["spec"]["sha256"] == hashlib.sha256(spec.read_bytes()).hexdigest()
