"""Targeted advice for common syntax mistakes: ``:=``, a shape without ``:``, a ``param``
without an initialiser, an unclosed ``(``, a misspelt keyword, ``2W`` for ``2 * W`` …

Each rule looks at an :class:`ErrorContext` (the file's tokens, the offending one, what the
parser would have accepted) and returns one sentence or None; the first that speaks wins.
Tokens are compared by their text: a name, number or string can never spell a keyword or a
punctuation mark, so no type check is needed.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from lark import Token

from .grammar import task_kinds

__all__ = ["ErrorContext", "advise", "TASK_KINDS", "TOP_KEYWORDS", "OPENERS"]

TASK_KINDS = task_kinds()
TOP_KEYWORDS = ("network",) + TASK_KINDS
STATEMENT_KEYWORDS = ("input", "param", "output", "repeat")
OPENERS = {"(": ")", "[": "]", "{": "}"}
CLOSERS = {close: open_ for open_, close in OPENERS.items()}
VALUE_TYPES = frozenset({"NAME", "NUMBER", "STRING", "SHAPE"})


def _either(words: tuple[str, ...]) -> str:
    """```a`, `b` or `c```."""
    quoted = [f"`{w}`" for w in words]
    return ", ".join(quoted[:-1]) + f" or {quoted[-1]}" if len(quoted) > 1 else "".join(quoted)


@dataclass(frozen=True)
class OpenBracket:
    """A bracket not yet closed where the error is, and how to name it (```network p```)."""

    token: Token
    name: str

    @property
    def closer(self) -> str:
        return OPENERS[str(self.token)]

    @property
    def where(self) -> str:
        return f"{self.token.line}:{self.token.column}"


@dataclass(frozen=True)
class ErrorContext:
    """What advice on one error can look at."""

    source: str
    tokens: tuple[Token, ...]   # the file's tokens, as far as they can be lexed
    index: int                  # of the offending token (``len(tokens)`` at the end of the file)
    accepts: frozenset[str]     # texts (or types: NAME, NUMBER, …) that could have come next
    keywords: frozenset[str]    # the reserved words

    def back(self, k: int) -> Token | None:
        """The ``k``-th token before the offending one."""
        j = self.index - k
        return self.tokens[j] if 0 <= j < len(self.tokens) else None

    def ahead(self, k: int) -> Token | None:
        """The ``k``-th token after the offending one."""
        j = self.index + k
        return self.tokens[j] if 0 <= j < len(self.tokens) else None

    def open_brackets(self) -> list[OpenBracket]:
        """The brackets still open before the offending token, innermost last."""
        stack: list[OpenBracket] = []
        for j, token in enumerate(self.tokens[:self.index]):
            text = str(token)
            if text in OPENERS:
                stack.append(OpenBracket(token, self._bracket_name(j)))
            elif text in CLOSERS and stack and str(stack[-1].token) == CLOSERS[text]:
                stack.pop()
        return stack

    def _bracket_name(self, j: int) -> str:
        token, before = self.tokens[j], self.tokens[max(j - 2, 0):j]
        if str(token) == "{" and len(before) == 2 \
                and str(before[0]) in TOP_KEYWORDS + ("repeat",):
            return f"`{before[0]} {before[1]}`"
        if str(token) == "(" and before and before[-1].type == "NAME":
            return f"`{before[-1]}(`"
        return f"`{token}`"


def advise(ctx: ErrorContext, token: Token) -> str | None:
    """A suggestion for a common mistake at ``token``, or None."""
    for rule in _RULES:
        advice = rule(ctx, token)
        if advice:
            return advice
    return None


# --- the rules, in order -------------------------------------------------------------------------

def _colon_equals(ctx: ErrorContext, token: Token) -> str | None:
    if str(token) == ":" and ctx.source[token.end_pos:token.end_pos + 1] == "=":
        return "use `=` to assign, not `:=`"
    return None


def _double_equals(ctx: ErrorContext, token: Token) -> str | None:
    if str(token) == "=" and "=" in (ctx.source[token.start_pos - 1:token.start_pos],
                                     ctx.source[token.end_pos:token.end_pos + 1]):
        return "write a single `=`; there is no `==`"
    return None


def _power(ctx: ErrorContext, token: Token) -> str | None:
    before = ctx.back(1)
    if str(token) == "*" and before is not None and str(before) == "*" \
            and before.end_pos == token.start_pos:
        return "there is no power operator `**`"
    return None


def _unmatched_closer(ctx: ErrorContext, token: Token) -> str | None:
    text = str(token)
    if text not in CLOSERS:
        return None
    open_brackets = ctx.open_brackets()
    if not any(str(bracket.token) == CLOSERS[text] for bracket in open_brackets):
        return f"this `{text}` has no matching `{CLOSERS[text]}`"
    inner = open_brackets[-1]
    if inner.closer != text:
        return f"this `{text}` does not match {inner.name} opened at {inner.where}, " \
               f"which needs `{inner.closer}`"
    return None


def _missing_brace(ctx: ErrorContext, token: Token) -> str | None:
    """A network or task starts while the previous block is still open."""
    if str(token) not in TOP_KEYWORDS:
        return None
    for bracket in reversed(ctx.open_brackets()):
        if str(bracket.token) == "{":
            return f"is a `}}` missing to close {bracket.name} opened at {bracket.where}?"
    return None


def _unclosed_bracket(ctx: ErrorContext, token: Token) -> str | None:
    """A `)` or `]` is expected but the text has moved on to a new line or statement."""
    open_brackets = ctx.open_brackets()
    if not open_brackets or open_brackets[-1].closer not in ctx.accepts - {"}"}:
        return None
    before = ctx.back(1)
    moved_on = (before is not None and token.line > before.end_line) \
        or str(token) in ctx.keywords or str(token) in ("}", "=")
    inner = open_brackets[-1]
    return f"{inner.name} opened at {inner.where} is not closed" if moved_on else None


def _reserved_word(ctx: ErrorContext, token: Token) -> str | None:
    if str(token) not in ctx.keywords or "NAME" not in ctx.accepts:
        return None
    blocks = [b for b in ctx.open_brackets() if str(b.token) == "{"]
    in_task = bool(blocks) and blocks[-1].name.strip("`").split()[0] in TASK_KINDS
    if in_task and str(token) in STATEMENT_KEYWORDS:
        return f"`{token}` belongs in a network; a task holds `key = value` settings"
    return f"`{token}` is a reserved word and cannot be used as a name"


def _top_level(ctx: ErrorContext, token: Token) -> str | None:
    if token.type != "NAME" or not ctx.accepts <= {*TOP_KEYWORDS, ";", "$END"}:
        return None
    close = difflib.get_close_matches(str(token), TOP_KEYWORDS, n=1, cutoff=0.6)
    if close:
        return f"did you mean `{close[0]}`?"
    after, after2 = ctx.ahead(1), ctx.ahead(2)
    if after is not None and after.type == "NAME" and after2 is not None and str(after2) == "{":
        return f"`{token}` is not a task: a task is {_either(TASK_KINDS)}"
    if after is not None and str(after) == "=":
        return "statements and settings go inside `network NAME { ... }` or a task's `{ ... }`"
    return f"a file holds `network NAME {{ ... }}` blocks and {_either(TASK_KINDS)} tasks"


def _missing_colon(ctx: ErrorContext, token: Token) -> str | None:
    keyword, name = ctx.back(2), ctx.back(1)
    if ctx.accepts == {":"} and keyword is not None and name is not None:
        return f"put a `:` between the name and its shape: `{keyword} {name} : {token}`"
    return None


def _missing_initialiser(ctx: ErrorContext, token: Token) -> str | None:
    keyword, name, shape = ctx.back(4), ctx.back(3), ctx.back(1)
    if ctx.accepts == {"="} and keyword is not None and str(keyword) == "param":
        return (f"a `param` needs an initialiser: `param {name} : {shape} = "
                f"normal(std = 1, seed = 0)` (or `zeros`, `ones`, a list, `load(...)`)")
    return None


def _colon_for_equals(ctx: ErrorContext, token: Token) -> str | None:
    if str(token) == ":" and ctx.accepts == {"="}:
        return "settings and assignments are written `name = value`"
    return None


def _shape_with_spaces(ctx: ErrorContext, token: Token) -> str | None:
    x, number = ctx.back(1), ctx.back(2)
    if x is not None and number is not None and re.fullmatch("x[0-9]*", str(x)) \
            and number.type in ("NUMBER", "SHAPE"):
        return "write a shape without spaces: `64x64`"
    return None


def _number_then_name(ctx: ErrorContext, token: Token) -> str | None:
    for first, second in ((ctx.back(2), ctx.back(1)), (ctx.back(1), token)):
        if first is not None and second is not None and first.type == "NUMBER" \
                and second.type == "NAME" and first.end_pos == second.start_pos:
            return f"`{first}{second}` is a number then a name: write `{first} * {second}`"
    return None


def _misspelt_statement(ctx: ErrorContext, token: Token) -> str | None:
    word = ctx.back(1)
    if ctx.accepts == {"="} and word is not None and word.type == "NAME":
        close = difflib.get_close_matches(str(word), STATEMENT_KEYWORDS, n=1, cutoff=0.6)
        if close:
            return f"did you mean `{close[0]}`?"
    return None


def _missing_operator(ctx: ErrorContext, token: Token) -> str | None:
    """``h = W u``: ``u`` was taken as the start of the next statement."""
    word, value = ctx.back(1), ctx.back(2)
    if ctx.accepts == {"="} and word is not None and value is not None \
            and word.type == "NAME" and value.end_line == word.line \
            and (value.type in VALUE_TYPES or str(value) in (")", "]")):
        return (f"is an operator missing between `{value}` and `{word}`? "
                f"(a new statement starts at `{word}`)")
    return None


def _missing_comma(ctx: ErrorContext, token: Token) -> str | None:
    open_brackets = ctx.open_brackets()
    if not open_brackets or "," not in ctx.accepts:
        return None
    opener = str(open_brackets[-1].token)
    if opener in ("(", "[") and (token.type in VALUE_TYPES or str(token) in ("(", "[")):
        return "separate arguments with `,`" if opener == "(" else "separate items with `,`"
    return None


def _repeat_count(ctx: ErrorContext, token: Token) -> str | None:
    before = ctx.back(1)
    if before is not None and str(before) == "repeat":
        return "write `repeat N { ... }` with a whole number N"
    return None


def _call_needs_name(ctx: ErrorContext, token: Token) -> str | None:
    before = ctx.back(1)
    if str(token) == "(" and before is not None and str(before) in (")", "]") \
            and "(" not in ctx.accepts:
        return "only a name can be called: `f(x)`"
    return None


_RULES = (
    _colon_equals, _double_equals, _power, _unmatched_closer, _missing_brace, _unclosed_bracket,
    _reserved_word, _top_level, _missing_colon, _missing_initialiser, _colon_for_equals,
    _shape_with_spaces, _number_then_name, _misspelt_statement, _missing_operator,
    _missing_comma, _repeat_count, _call_needs_name,
)
