"""Output that works on any terminal and in any locale.

Where a stream cannot encode lbdsl's mathematical characters (``LANG=C``, ``PYTHONIOENCODING=
ascii``, an old console), :func:`degrade` makes it write their ASCII spellings instead — ``λ`` as
``lambda``, ``ρ`` as ``rho``, ``⪰`` and ``≥`` as ``>=`` — and ``?`` for anything else, rather than
fail with ``UnicodeEncodeError``.  JSON is always written as UTF-8 bytes (:func:`write_utf8`).

Text that came from a file (a spec line quoted under an error, a name in a message) reaches the
terminal through :func:`visible`: a control character would otherwise drive the terminal
(``ESC ]0;…BEL`` retitles it, other sequences rewrite the screen), so it is shown as its escape.
"""

from __future__ import annotations

import codecs
import os
import re
import sys
from typing import Any

__all__ = ["ASCII", "Guarded", "degrade", "first_control", "guard_stdout", "is_control",
           "quiet_console",
           "plain_console", "visible", "write_utf8"]

#: ASCII spellings of the characters lbdsl prints.
ASCII = {
    "λ": "lambda", "ρ": "rho", "α": "alpha", "δ": "delta", "τ": "tau", "σ": "sigma",
    "μ": "mu", "θ": "theta", "ε": "eps", "γ": "gamma", "β": "beta", "κ": "kappa",
    "Ψ": "Psi", "Φ": "Phi", "Θ": "Theta", "Σ": "sum", "∇": "grad", "∂": "d",
    "⪰": ">=", "≥": ">=", "≤": "<=", "≠": "!=", "≈": "~", "→": "->", "←": "<-", "↦": "|->",
    "−": "-", "–": "-", "—": "--", "×": "x", "·": "*", "⊗": "(x)", "∘": "o", "√": "sqrt",
    "∞": "inf", "‖": "||", "½": "1/2", "²": "^2", "³": "^3", "ᵀ": "^T", "⁻¹": "^-1", "⁻": "^-",
    "¹": "^1", "₀": "_0", "₁": "_1", "₂": "_2", "…": "...", "∈": " in ", "∉": " not in ",
    "⊆": " subset of ", "∪": "u", "∩": "n", "†": "+", "‘": "'", "’": "'", "“": '"', "”": '"',
    "✓": "ok", "✗": "x",
}
_NAME = "lbdsl-ascii"


def _spell(err: UnicodeError) -> tuple[str, int]:
    if not isinstance(err, UnicodeEncodeError):  # pragma: no cover - only encoding is wired
        raise err
    text = err.object[err.start:err.end]
    return "".join(ASCII.get(c, "?") for c in text), err.end


codecs.register_error(_NAME, _spell)


def _encodes(stream: Any) -> bool:
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        "λρ⪰‖−½ᵀ".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def degrade(*streams: Any) -> None:
    """Make each stream (default: stdout and stderr) spell what it cannot encode in ASCII."""
    for stream in streams or (sys.stdout, sys.stderr):
        if not _encodes(stream) and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors=_NAME)


def write_utf8(text: str, stream: Any = None) -> None:
    """``text`` and a newline, as UTF-8 bytes whatever the stream's encoding."""
    stream = sys.stdout if stream is None else stream
    buffer = getattr(stream, "buffer", None)
    if buffer is None:                  # a StringIO (tests, notebooks): text is fine there
        stream.write(text + "\n")
        return
    stream.flush()
    buffer.write((text + "\n").encode("utf-8"))
    buffer.flush()


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


#: the characters that move or drive a terminal rather than print — C0 and C1 controls but
#: tab (it prints as space), DEL, the Unicode line and paragraph separators — or that reorder
#: what is displayed: the bidirectional marks and overrides ("Trojan Source": text displays
#: in another order than it reads)
_CONTROLS = ("\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e"
             "\u2066-\u2069")
_CONTROL = re.compile(f"[{_CONTROLS}]")
_CONTROL_BUT_NEWLINE = re.compile(f"(?!\n)[{_CONTROLS}]")
_CONTROL_BUT_LINE_BREAKS = re.compile(f"(?![\n\r])[{_CONTROLS}]")


def is_control(ch: str) -> bool:
    """``ch`` is one of the characters :func:`visible` escapes."""
    return _CONTROL.fullmatch(ch) is not None


def first_control(text: str, line_breaks: bool = False) -> int | None:
    """The index of the first control character in ``text`` (``line_breaks``: ``\\n`` and
    ``\\r`` allowed), or None."""
    match = (_CONTROL_BUT_LINE_BREAKS if line_breaks else _CONTROL).search(text)
    return None if match is None else match.start()


def visible(text: str, keep_newlines: bool = True) -> str:
    """``text`` with every control character written as its escape (``\\x1b``), so that it
    prints as what it is; line breaks kept when ``keep_newlines``."""
    return (_CONTROL_BUT_NEWLINE if keep_newlines else _CONTROL).sub(_escape, text)

class Guarded:
    """A standard stream whose reader may leave (``lbdsl solve spec.lbn | head -1``), that
    cannot be written (``> /dev/full``) or that was closed before the start (``>&-``): writes
    after that are dropped, not raised, so the run goes on and writes its results;
    :attr:`broken`, :attr:`failed` and :attr:`closed_at_start` say what happened, for the exit
    status.  Everything else is the wrapped stream's."""

    def __init__(self, stream: Any, closed_at_start: bool = False) -> None:
        self._stream = stream
        self.closed_at_start = closed_at_start
        self.broken = False
        self.failed: OSError | None = None   # another write error (a full disk: /dev/full)

    def _lost(self, exc: OSError) -> None:
        if isinstance(exc, BrokenPipeError):
            self.broken = True
        else:
            self.failed = self.failed or exc
        try:  # the interpreter's last flush must not meet the broken pipe again
            os.dup2(os.open(os.devnull, os.O_WRONLY), self._stream.fileno())
        except (OSError, ValueError, AttributeError):
            pass

    @property
    def lost(self) -> bool:
        return self.broken or self.failed is not None

    def attempt(self, call: Any, *args: Any) -> Any:
        """``call(*args)`` on a stream of this fate, unless it is lost already or loses it."""
        if not self.lost:
            try:
                return call(*args)
            except OSError as exc:
                self._lost(exc)
        return None

    def write(self, text: Any) -> int:
        written = self.attempt(self._stream.write, text)
        return len(text) if written is None else written

    def flush(self) -> None:
        self.attempt(self._stream.flush)

    @property
    def buffer(self) -> Any:
        raw = getattr(self._stream, "buffer", None)
        return None if raw is None else _GuardedBuffer(raw, self)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _GuardedBuffer:
    """The byte stream under a :class:`Guarded` text stream, sharing its fate."""

    def __init__(self, raw: Any, owner: Guarded) -> None:
        self._raw, self._owner = raw, owner

    def write(self, data: bytes) -> int:
        written = self._owner.attempt(self._raw.write, data)
        return len(data) if written is None else written

    def flush(self) -> None:
        self._owner.attempt(self._raw.flush)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


def guard_stdout() -> Guarded:
    """Put a :class:`Guarded` stream in ``sys.stdout`` (over ``os.devnull`` when standard
    output was closed) and return it; the caller puts the old one back."""
    stream = sys.stdout
    if stream is None:
        return Guarded(open(os.devnull, "w", encoding="utf-8"), closed_at_start=True)
    return Guarded(stream)


def plain_console(**options: Any) -> Any:
    """A ``rich`` console for lbdsl's messages: no markup, no highlighting, and every text it
    prints passed through :func:`visible` first (a message may quote a file's contents;
    ``rich`` itself strips BEL and CR but not ESC)."""
    from rich.console import Console

    class _Plain(Console):
        def print(self, *objects: Any, **kw: Any) -> None:
            super().print(*(visible(o) if isinstance(o, str) else o for o in objects), **kw)

    return _Plain(markup=False, highlight=False, **options)


def quiet_console() -> Any:
    """A ``rich`` console that prints nowhere — also in Jupyter, where ``rich`` would otherwise
    display what it is given whatever its file (``force_jupyter=False``)."""
    import io

    from rich.console import Console

    return Console(file=io.StringIO(), markup=False, highlight=False, force_jupyter=False,
                   force_terminal=False)
