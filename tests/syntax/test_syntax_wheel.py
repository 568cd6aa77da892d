"""An installed wheel carries the grammar and finds it without the source tree."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-input", "-q", "-w", str(out),
         str(REPOSITORY)],
        capture_output=True, text=True, timeout=300,
    )
    if result.returncode != 0 and "No matching distribution found for hatchling" in result.stderr:
        pytest.skip("the build backend (hatchling) cannot be fetched here")
    assert result.returncode == 0, result.stderr
    (built,) = out.glob("lbdsl-*.whl")
    return built


@pytest.mark.slow
def test_wheel_contains_the_grammar(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        assert "lbdsl/grammar/lbn.lark" in archive.namelist()
        packaged = archive.read("lbdsl/grammar/lbn.lark").decode("utf-8")
    assert packaged == (REPOSITORY / "grammar" / "lbn.lark").read_text(encoding="utf-8")


@pytest.mark.slow
def test_unpacked_wheel_parses_from_its_own_grammar(wheel: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(tmp_path)
    probe = (
        "import lbdsl, pathlib, sys\n"
        "from lbdsl.syntax.parser import grammar_locations, parse\n"
        "assert pathlib.Path(lbdsl.__file__).is_relative_to(sys.argv[1]), lbdsl.__file__\n"
        "package, repository = grammar_locations()\n"
        "assert package.is_file() and not repository.is_file()\n"
        "m = parse('network p { input u : 3 output u }')\n"
        "print(m.networks[0].name.id)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], capture_output=True,
                            text=True, env=env, cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "p"
