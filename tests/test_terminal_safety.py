"""Text that reaches a terminal: control characters escaped, source lines cut around the
caret, and a standard output whose reader left or that was closed."""

from __future__ import annotations

import io

from lbdsl.errors import QUOTE_WIDTH, Diagnostic, SourceSpan
from lbdsl.terminal import Guarded, is_control, visible


def test_visible_escapes_every_control_but_newline() -> None:
    assert visible("a\x1b]0;t\x07\nb\tc\x9b\u2028") == "a\\x1b]0;t\\x07\nb\tc\\x9b\\u2028"
    assert visible("x\ny", keep_newlines=False) == "x\\x0ay"
    assert visible("λ ρ ⪰ é") == "λ ρ ⪰ é"      # printable text is untouched
    everything = "".join(map(chr, range(0x3000)))
    assert not any(is_control(c) for c in visible(everything, keep_newlines=False))


def test_a_quoted_line_is_escaped_and_the_caret_stays_under_its_target() -> None:
    source = 'x = load("\x1b[2J.npy") + y'
    column = source.index("y") + 1
    text = Diagnostic(SourceSpan("f", 1, column, 1, column + 1), "bad").render(source)
    code, caret = text.splitlines()[1:3]
    assert "\x1b" not in text
    assert code[caret.index("^")] == "y"


def test_a_long_line_is_cut_around_the_caret() -> None:
    source = "a" * 5000 + "Z" + "b" * 5000
    column = 5001
    text = Diagnostic(SourceSpan("f", 1, column, 1, column + 1), "bad").render(source)
    code, caret = text.splitlines()[1:3]
    assert len(code) < QUOTE_WIDTH + 20
    assert code[caret.index("^")] == "Z"


class _Pipe(io.StringIO):
    """A stream whose reader leaves after ``n`` writes."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def write(self, text: str) -> int:
        if self.n <= 0:
            raise BrokenPipeError(32, "Broken pipe")
        self.n -= 1
        return super().write(text)


def test_guarded_drops_what_a_departed_reader_would_get() -> None:
    pipe = _Pipe(1)
    out = Guarded(pipe)
    out.write("first\n")
    out.write("second\n")      # the reader left: dropped, not raised
    out.flush()
    assert out.broken and pipe.getvalue() == "first\n"


def test_bidirectional_overrides_are_controls() -> None:
    """'Trojan Source': U+202E and its kin reorder what a reviewer sees."""
    for code in (0x202A, 0x202E, 0x2066, 0x2069, 0x200F, 0x061C):
        assert is_control(chr(code)) and visible(chr(code)) == f"\\u{code:04x}"
    assert not is_control("\u2030")     # per mille: printable
