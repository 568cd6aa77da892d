"""The project's error types: every failure a user can cause is one of these.

``SpecError`` (exit status 2) carries one or more :class:`Diagnostic` s, each with a
:class:`SourceSpan` and a hint, and renders as ``FILE:LINE:COL: error: MESSAGE`` followed by
the source line and a caret.  Runtime failures (exit status 1) are one line each.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .terminal import visible

__all__ = [
    "SourceSpan",
    "span_text",
    "Diagnostic",
    "LbdslError",
    "ExportRefused",
    "SpecError",
    "SolveError",
    "BackendError",
    "DataError",
]


@dataclass(frozen=True, slots=True)
class SourceSpan:
    """A region of a source file; lines and columns are 1-based, ``end_column`` exclusive."""

    file: str
    line: int
    column: int
    end_line: int | None = None
    end_column: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One error in a spec: where, what, and what to do about it."""

    span: SourceSpan | None
    message: str
    hint: str | None = None

    def render(self, source: str | None = None) -> str:
        """``FILE:LINE:COL: error: MESSAGE``, the source line with a caret, then the hint."""
        where = f"{self.span}: " if self.span is not None else ""
        # every text here may quote the spec, and a spec may be anybody's: no control
        # character reaches the terminal (see terminal.visible)
        lines = [f"{where}error: {visible(self.message, keep_newlines=False)}"]
        if self.span is not None and source is not None:
            # lark counts lines by "\n" only; splitlines() would also split on \x0c, \u2028…
            text = [line.rstrip("\r") for line in source.split("\n")]
            if 1 <= self.span.line <= len(text):
                code = text[self.span.line - 1].expandtabs(1)
                gutter = f"{self.span.line:>5} | "
                start = max(self.span.column - 1, 0)
                width = 1
                if self.span.end_line == self.span.line and self.span.end_column is not None:
                    width = max(self.span.end_column - self.span.column, 1)
                code, start, width = _window(code, start, width)
                lines.append(gutter + visible(code, keep_newlines=False))
                width = max(min(width, len(code) - start), 1)
                # the caret under the escaped text: columns counted after escaping
                shown = len(visible(code[start:start + width], keep_newlines=False))
                start = len(visible(code[:start], keep_newlines=False))
                lines.append(" " * (len(gutter) - 2) + "| " + " " * start + "^" * shown)
        if self.hint:
            lines.append(f"  hint: {visible(self.hint, keep_newlines=False)}")
        return "\n".join(lines)


#: the widest source line a diagnostic quotes whole; a longer one is cut around the caret
QUOTE_WIDTH = 120


def _window(code: str, start: int, width: int) -> tuple[str, int, int]:
    """``(code, start, width)`` cut to about :data:`QUOTE_WIDTH` characters around the caret
    (``…`` where it was cut): a generated or hostile line can be megabytes long."""
    if len(code) <= QUOTE_WIDTH:
        return code, start, width
    width = min(width, QUOTE_WIDTH // 2)
    left = max(0, min(start - QUOTE_WIDTH // 3, len(code) - QUOTE_WIDTH))
    right = left + QUOTE_WIDTH
    cut = code[left:right]
    head, tail = ("…" if left > 0 else ""), ("…" if right < len(code) else "")
    return head + cut + tail, start - left + len(head), width


def span_text(text: str, span: SourceSpan) -> str:
    """The text ``span`` covers in ``text``, on one line (multi-line spans joined by spaces)."""
    lines = text.split("\n")
    if not 1 <= span.line <= len(lines):
        return ""
    end_line = span.end_line or span.line
    end_col = span.end_column or span.column + 1
    if end_line == span.line:
        return lines[span.line - 1][span.column - 1:end_col - 1]
    parts = [lines[span.line - 1][span.column - 1:]]
    parts += lines[span.line:end_line - 1]
    parts.append(lines[min(end_line, len(lines)) - 1][:end_col - 1])
    return " ".join(p.strip() for p in parts)


class LbdslError(Exception):
    """Base of every error lbdsl reports to a user; ``exit_status`` is the CLI's exit code."""

    exit_status = 1


@dataclass(eq=False)
class SpecError(LbdslError):
    """A syntax or semantic error in a spec; may hold several independent diagnostics."""

    diagnostics: list[Diagnostic] = field(default_factory=list)
    source: str | None = None
    #: texts of other "files" a diagnostic may point into (``--set`` overrides), by file name
    sources: dict[str, str] = field(default_factory=dict)

    exit_status = 2

    def __post_init__(self) -> None:
        super().__init__(self.render())

    @classmethod
    def at(cls, span: SourceSpan | None, message: str, hint: str | None = None,
           source: str | None = None) -> "SpecError":
        """A spec error with a single diagnostic."""
        return cls([Diagnostic(span, message, hint)], source)

    def with_source(self, source: str) -> "SpecError":
        """The same error, able to quote its source lines."""
        return SpecError(list(self.diagnostics), source, dict(self.sources))

    def with_sources(self, sources: dict[str, str]) -> "SpecError":
        """The same error, also able to quote lines of the named extra sources."""
        return SpecError(list(self.diagnostics), self.source, {**self.sources, **sources})

    def render(self) -> str:
        """Every diagnostic, each quoting the text its span points into; duplicates once."""
        seen: set[tuple[object, str]] = set()
        out = []
        for d in self.diagnostics:
            if (d.span, d.message) in seen:  # the same override applied to two tasks
                continue
            seen.add((d.span, d.message))
            source = self.sources.get(d.span.file, self.source) if d.span else self.source
            out.append(d.render(source))
        return "\n".join(out)

    def __str__(self) -> str:
        return self.render()


class SolveError(LbdslError):
    """A runtime failure of a solver or a task (diverged, bad setting, unwritable output)."""


class BackendError(LbdslError):
    """The requested array backend cannot be used here (e.g. cupy without a GPU)."""


class DataError(LbdslError):
    """A data or weights file that is missing, unreadable, of the wrong shape, or not finite."""


class ExportRefused(LbdslError):
    """A network that an export format cannot express (a layer type or a Ψ that declares no
    counterpart there): refused in one line, never written as a different model."""
