"""``lbdsl solve`` on ``train`` tasks: the folder it writes (weights, report, figures), the
progress lines, the Python API, and the other methods (backprop with Adam, one-hot labels)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from train_run_helpers import METHODS, TINY_AE, TINY_AE_NET, report, same_weights, weights

import lbdsl
from lbdsl.cli import main

PNG = b"\x89PNG\r\n\x1a\n"


def test_the_cli_writes_weights_report_and_figures(write_spec, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(TINY_AE)
    assert main(["solve", str(spec), "--out", str(tmp_path / "o")]) == 0
    folder = tmp_path / "o" / "train-ae"
    w = weights(folder)
    assert {k: v.shape for k, v in w.items()} == {"W1": (6, 64), "b1": (6,), "W2": (64, 6),
                                                  "b2": (64,)}
    assert all(v.dtype == np.float64 and np.all(np.isfinite(v)) for v in w.values())
    rep = report(folder)
    assert rep["kind"] == "train" and rep["loss"] == "bregman" and rep["method"] == "lifted"
    assert rep["epochs"] == 2 and rep["stop_reason"] == "max_iter" and rep["time_s"] >= 0
    assert rep["optimizer"] == {"name": "implicit_sgd",
                                "settings": {"epochs": 2, "batch": 8, "patience": None, "tau": 1.0,
                                             "inner": 2, "precondition": False}}
    assert rep["history"]["epoch"] == [0, 1, 2]
    assert rep["history"]["mse_loss"][-1] < rep["history"]["mse_loss"][0]
    assert rep["validation_psnr"] == rep["history"]["validation_psnr"][-1] > 0
    assert 0 < rep["residual"] < 1 and rep["penalty"] == [
        {"name": "l1", "variable": "code", "weight": 0.001}]
    assert rep["data"] == {"kind": "digits", "split": "train", "n": 30, "noise": 0.1, "seed": 0,
                           "targets": "images"}
    assert rep["validation"]["split"] == "test" and rep["validation"]["n"] == 10
    assert rep["seed"] == 0 and rep["backend"] == "numpy" and rep["dtype"] == "float64"
    assert {"lbdsl", "numpy", "python"} <= set(rep["versions"])
    assert len(rep["spec"]["sha256"]) == 64 and rep["certificate"]["network"] == "ae"
    assert rep["checkpoint"] == {"file": "checkpoint.npz", "epoch": 2}
    assert rep["settings"]["written"]["penalty"] == "0.001 * l1(code)"
    assert rep["files"] == ["weights.npz", "checkpoint.npz", "training.png", "denoising.png",
                            "report.json"]
    for name in ("training.png", "denoising.png"):
        assert (folder / name).read_bytes().startswith(PNG)
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ": epoch " in ln]
    assert len(lines) == 3 and "epoch 2/2" in lines[-1]
    assert "loss" in lines[-1] and "lifted residual" in lines[-1] and "val PSNR" in lines[-1]
    assert "\x1b[" not in out and "train ae" in out  # plain lines and the summary row
    row = next(ln for ln in out.splitlines() if ln.strip().startswith("train ae"))
    assert " epochs " in row and "max_iter" not in row   # every epoch done: said as such
    # the certificate is about inverting the network, not training it: no "not certified"
    assert "not certified" not in out and "certificate (inverting" not in out


def test_a_certified_network_is_noted_as_such_and_an_uncertified_one_not_at_all() -> None:
    from lbdsl.tasks.train import certificate_note

    net = TINY_AE_NET.replace("    y    = W2 @ code + b2\n", "").replace("output y", "output code")
    (cert,) = lbdsl.loads(net + "check ae { lambda = 1 }").check().values()
    assert cert.certified
    note = certificate_note("ae", cert)
    assert note is not None and note.startswith("  note: inverting ae as written (before "
                                                "training) is certified convex (")
    assert "λ = 1" in note
    (uncertified,) = lbdsl.loads(TINY_AE_NET + "check ae { lambda = 1 }").check().values()
    assert not uncertified.certified and certificate_note("ae", uncertified) is None


def test_the_python_api_trains_the_same_weights(write_spec, tmp_path: Path) -> None:
    spec = write_spec(TINY_AE)
    assert main(["solve", str(spec), "--out", str(tmp_path / "cli")]) == 0
    (result,) = lbdsl.load(spec).solve(out=tmp_path / "api", verbose=False)
    assert result.ok and result.kind == "train" and result.u is None
    assert result.path == tmp_path / "api" / "train-ae"
    assert same_weights(result.weights, weights(tmp_path / "cli" / "train-ae"))
    assert result.report["history"] == report(tmp_path / "cli" / "train-ae")["history"]


def test_backprop_with_adam_has_no_lifted_residual(write_spec, tmp_path: Path) -> None:
    spec = write_spec(TINY_AE)
    sets = [a for s in METHODS["adam"] for a in ("--set", s)]
    assert main(["solve", str(spec), "--out", str(tmp_path / "o"), *sets]) == 0
    rep = report(tmp_path / "o" / "train-ae")
    assert rep["method"] == "backprop" and rep["optimizer"]["name"] == "adam"
    assert rep["residual"] is None and "residual" not in rep["history"]
    assert rep["history"]["objective"][-1] < rep["history"]["objective"][0]


def test_figures_false_removes_an_earlier_runs_figures(write_spec, tmp_path: Path) -> None:
    spec = write_spec(TINY_AE)
    out = tmp_path / "o"
    (out / "train-ae").mkdir(parents=True)
    (out / "train-ae" / "notes.txt").write_text("mine")
    assert main(["solve", str(spec), "--out", str(out)]) == 0
    assert (out / "train-ae" / "training.png").exists()
    assert main(["solve", str(spec), "--out", str(out), "--set", "figures=false"]) == 0
    assert not list((out / "train-ae").glob("*.png"))
    assert (out / "train-ae" / "notes.txt").read_text() == "mine"
    assert report(out / "train-ae")["files"] == ["weights.npz", "checkpoint.npz", "report.json"]


def test_one_hot_labels_report_accuracy_and_draw_no_image_grid(write_spec,
                                                               tmp_path: Path) -> None:
    spec = write_spec("""
network clf {
    input  u : 64
    param  W : 10x64 = normal(std = 0.1, seed = 0)
    param  b : 10    = zeros
    p = softmax(W @ u + b)
    output p
}
train clf {
    data       = digits(n = 40, targets = "labels")
    validation = digits(n = 20, split = "test", targets = "labels")
    optimizer  = implicit_sgd(epochs = 2, batch = 10, inner = 2)
}
""")
    assert main(["solve", str(spec), "--out", str(tmp_path / "o")]) == 0
    folder = tmp_path / "o" / "train-clf"
    rep = report(folder)
    assert 0 <= rep["validation_accuracy"] <= 1 and len(rep["history"]["epoch"]) == 3
    assert (folder / "training.png").exists() and not (folder / "denoising.png").exists()
