"""The command line end to end: exit codes, JSON, errors without tracebacks, init, show."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lbdsl import __version__
from lbdsl.cli import main

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m lbdsl ARGS`` in a fresh process (what a user's shell does)."""
    return subprocess.run([sys.executable, "-m", "lbdsl", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)


def test_version() -> None:
    proc = run("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"lbdsl {__version__}"


def test_help_of_every_command_shows_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("check", "show", "solve", "init"):
        with pytest.raises(SystemExit) as info:
            main([command, "--help"])
        assert info.value.code == 0
        out = capsys.readouterr().out
        assert "example:" in out and f"lbdsl {command}" in out


def test_check_certified_exits_0_and_json_parses(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(SPECS / "residual_tied_5.lbn"), "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    net = obj["networks"]["residual_tied_5"]
    assert net["certified"] is True and net["kind"] == "symbolic"
    assert net["rho_min"] == pytest.approx(17.2069, abs=1e-3)


def test_check_not_certified_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(SPECS / "residual_tied_minus.lbn")]) == 3
    out = capsys.readouterr().out
    assert "NOT certified" in out and "culprit" in out and "line" in out


def test_check_rho_override(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(SPECS / "residual_tied_5.lbn"), "--rho", "10"]) == 3
    assert main(["check", str(SPECS / "residual_tied_5.lbn"), "--rho", "20"]) == 0


def test_spec_error_exits_2_with_caret_and_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.lbn"
    bad.write_text("network n {\n  input u : 3\n  h = gelu(dense(u, 2))\n  output h\n}\n")
    proc = run("check", str(bad))
    assert proc.returncode == 2
    assert f"{bad}:3:7: error:" in proc.stderr
    assert "^^^^" in proc.stderr and "not monotone" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_file_is_a_one_line_error(tmp_path: Path) -> None:
    proc = run("show", str(tmp_path / "nope.lbn"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "nope.lbn" in proc.stderr


def test_without_a_command_the_help_goes_to_stderr_with_status_2(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "examples (a first session):" in captured.err
    assert "lbdsl init mynet" in captured.err and "lbdsl COMMAND --help" in captured.err


def test_show_lifted_and_dot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dot = tmp_path / "g.dot"
    assert main(["show", str(SPECS / "residual_tied_2.lbn"), "--lifted", "--dot", str(dot)]) == 0
    out = capsys.readouterr().out
    assert "M  (" in out and "−I" in out and "W_1ᵀ" in out
    # each u block by its SSA version, as the layer table names them
    assert "u[1] u#2[1] u#3[1]" in out and "u#2 " in out
    assert dot.read_text().lstrip().startswith("digraph")


def test_demo_spec_runs_without_a_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show"]) == 0
    assert "perceptron" in capsys.readouterr().out
    assert main(["check"]) == 0


def test_init_writes_a_spec_that_checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init", "mynet"]) == 0
    assert (tmp_path / "mynet.lbn").exists()
    assert main(["check", "mynet.lbn"]) == 0
    assert main(["init", "mynet"]) == 1  # refuses to overwrite
    assert "exists" in capsys.readouterr().err


def test_solve_with_cupy_and_no_gpu_fails_in_one_line() -> None:
    proc = run("solve", "--backend", "cupy")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and "cupy" in proc.stderr


def test_set_override_errors_quote_the_override(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["solve", str(SPECS / "perceptron.lbn"), "--set", "alpha=-1", "--set", "rho=x"])
    err = capsys.readouterr().err
    assert code == 2
    assert "--set:1:7: error:" in err and "    1 | alpha=-1" in err
    assert "--set:2:5: error:" in err and "    2 | rho=x" in err
    assert err.count("--set:1:7") == 1  # the same mistake in two tasks is reported once


def test_show_prints_task_settings_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", str(SPECS / "perceptron.lbn")]) == 0
    out = capsys.readouterr().out
    assert 'image("shepp_logan", size = 64x64)' in out
    assert "regulariser" in out and "0.015 * tv" in out
    assert "rho" in out and "(default)" in out


def test_output_into_a_closed_pipe_is_not_an_internal_error(tmp_path: Path) -> None:
    deep = tmp_path / "deep.lbn"  # ~1500 lines of output: more than a pipe buffer holds
    deep.write_text("network deep { input u : 2\n repeat 1500 { param W : 2x2 = eye\n"
                    " u = u + W.T @ relu(W @ u) }\n output u }\n")
    proc = subprocess.run(f"{sys.executable} -m lbdsl show {deep} | head -1", shell=True,
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.stdout.startswith("network deep")
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("argv, hint", [
    (["solve", "--outdir", "x"], "did you mean --out?"),
    (["check", "--jsn"], "did you mean --json?"),
])
def test_an_unknown_option_names_the_closest_known_one(argv, hint, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2 and hint in capsys.readouterr().err
