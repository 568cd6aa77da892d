"""Output that works on any terminal and in any locale.

Where a stream cannot encode lbdsl's mathematical characters (``LANG=C``, ``PYTHONIOENCODING=
ascii``, an old console), :func:`degrade` makes it write their ASCII spellings instead — ``λ`` as
``lambda``, ``ρ`` as ``rho``, ``⪰`` and ``≥`` as ``>=`` — and ``?`` for anything else, rather than
fail with ``UnicodeEncodeError``.  JSON is always written as UTF-8 bytes (:func:`write_utf8`).
"""

from __future__ import annotations

import codecs
import sys
from typing import Any

__all__ = ["ASCII", "degrade", "write_utf8"]

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
