"""Every spec under ``bad/`` fails with exactly the diagnostics its header announces.

Header lines ``# expect: LINE:COL substring`` list the diagnostics in source order; each must
be at exactly LINE:COL and its message or hint must contain the substring.  Specs are copied into
a temporary folder next to the data files they load (see :func:`write_load_fixtures`).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from ir_helpers import write_load_fixtures
from lbdsl.errors import SpecError
from lbdsl.program import build_module
from lbdsl.syntax.parser import parse_file

BAD = Path(__file__).parent / "bad"
SPECS = sorted(BAD.glob("*.lbn"))
EXPECT = re.compile(r"^# expect: (\d+):(\d+) (.+)$")


def expectations(path: Path) -> list[tuple[int, int, str]]:
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = EXPECT.match(line)
        if match:
            found.append((int(match[1]), int(match[2]), match[3].strip()))
    return found


def test_catalogue_is_large_enough():
    assert len(SPECS) >= 30
    for path in SPECS:
        assert expectations(path), f"{path.name} has no `# expect:` header"


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_bad_spec(path: Path, tmp_path: Path):
    write_load_fixtures(tmp_path)
    spec = tmp_path / path.name
    shutil.copy(path, spec)
    with pytest.raises(SpecError) as info:
        build_module(parse_file(spec))
    error = info.value
    got = [(d.span.line if d.span else 0, d.span.column if d.span else 0,
            d.message + (f" | hint: {d.hint}" if d.hint else "")) for d in error.diagnostics]
    want = expectations(path)
    assert len(got) == len(want), f"diagnostics: {got}"
    for (line, col, text), (gl, gc, gtext) in zip(want, got):
        assert (gl, gc) == (line, col), f"expected {line}:{col} {text!r}, got {gl}:{gc} {gtext!r}"
        assert text in gtext, f"expected {text!r} in {gtext!r}"
    # every diagnostic renders with the file, a caret and the source line
    rendered = error.render()
    assert f"{spec}:{want[0][0]}:{want[0][1]}: error:" in rendered
    assert "^" in rendered
