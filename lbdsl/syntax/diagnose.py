"""Turn lark's syntax errors into :class:`SpecError` s a user can act on.

The message says what was found (``unexpected `=```, ``unexpected end of file: missing `}` to
close `network p` opened at 1:11``); the hint says what would have been accepted, in words, then
any targeted advice from :mod:`.advice`.

The accepted tokens are recomputed by replaying the tokens before the error into a fresh
interactive parser: LALR's merged states would otherwise offer tokens (``)`` after ``x = 1``)
that cannot follow there.
"""

from __future__ import annotations

import unicodedata

from lark import Lark, Token
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.lexer import PatternStr

from ..errors import SourceSpan, SpecError
from .advice import TOP_KEYWORDS, ErrorContext, advise

__all__ = ["explain"]

# Tokens are named by their text (punctuation, keywords) or, for these, by their type.
_WORDS = {"NAME": "a name", "NUMBER": "a number", "STRING": "a string", "SHAPE": "a shape",
          "$END": "end of file"}
_EXPRESSION = frozenset({"NAME", "NUMBER", "STRING", "SHAPE", "(", "[", "-"})
_OPERATORS = frozenset({"+", "-", "*", "@"})
_STATEMENT = frozenset({"NAME", "input", "param", "output", "repeat"})
_CLOSING = ("}", ")", "]", ",")
_ORDER = ["}", ")", "]", ",", "=", ":", "{", "NAME", "NUMBER", "STRING", "SHAPE", "(", "[", "-",
          *TOP_KEYWORDS, "input", "param", "output", "repeat", ".", "+", "*", "@", ";", "$END"]

_QUOTES = "strings are written in straight double quotes: \"...\""
_CHARACTER_HINTS = {
    "'": _QUOTES, "\u2018": _QUOTES, "\u2019": _QUOTES, "\u201c": _QUOTES, "\u201d": _QUOTES,
    "\u00d7": "write shapes with the letter x: `64x64`",
    "\u2212": "write minus as the ASCII `-`",
    "^": "there is no power operator",
    "|": "`|` is not an operator: choose one of the alternatives",
    "\\": "a backslash can only appear inside a string",
}


def explain(exc: UnexpectedInput, source: str, file: str, parser: Lark) -> SpecError:
    """The :class:`SpecError` for a lark syntax error in ``source``."""
    if isinstance(exc, UnexpectedCharacters):
        return _bad_character(exc, source, file)
    tokens = tuple(_lex(parser, source))
    token = exc.token if isinstance(exc, UnexpectedToken) else None
    index = len(tokens)
    if token is not None and token.type != "$END":
        index = next((j for j, t in enumerate(tokens) if t.start_pos == token.start_pos), index)
    keywords = frozenset(
        t.pattern.value for t in parser.terminals
        if isinstance(t.pattern, PatternStr) and t.pattern.value.isidentifier())
    accepts = _accepts(parser, tokens[:index], getattr(exc, "expected", None) or set())
    ctx = ErrorContext(source, tokens, index, frozenset(accepts), keywords)
    if index == len(tokens):
        return _end_of_file(ctx, file)
    return _unexpected_token(ctx, file, tokens[index])


# --- the three kinds of error ------------------------------------------------------------------

def _unexpected_token(ctx: ErrorContext, file: str, token: Token) -> SpecError:
    span = SourceSpan(file, token.line, token.column, token.end_line, token.end_column)
    parts = [part for part in (_expected(ctx.accepts), advise(ctx, token)) if part]
    message = f"unexpected {_describe(token, ctx.keywords)}"
    return SpecError.at(span, message, "; ".join(parts) or None, source=ctx.source)


def _end_of_file(ctx: ErrorContext, file: str) -> SpecError:
    if ctx.tokens:
        last = ctx.tokens[-1]
        span = SourceSpan(file, last.end_line, last.end_column, last.end_line,
                          last.end_column + 1)
    else:
        span = SourceSpan(file, 1, 1, 1, 2)
    message = "unexpected end of file"
    open_brackets = ctx.open_brackets()
    if open_brackets and open_brackets[-1].closer in ctx.accepts:
        inner = open_brackets[-1]
        message += f": missing `{inner.closer}` to close {inner.name} opened at {inner.where}"
    return SpecError.at(span, message, _expected(ctx.accepts), source=ctx.source)


def _bad_character(exc: UnexpectedCharacters, source: str, file: str) -> SpecError:
    span = SourceSpan(file, exc.line, exc.column, exc.line, exc.column + 1)
    char = exc.char
    if char == '"':
        return SpecError.at(span, "unterminated string",
                            "a string ends with `\"` on the same line", source=source)
    if char == "/":
        following = source[exc.pos_in_stream + 1:exc.pos_in_stream + 2]
        hint = ("comments start with `#`" if following == "/"
                else "there is no division: write a product such as `0.5 * x`")
    else:
        hint = _CHARACTER_HINTS.get(
            char, "this character is not part of the .lbn language; comments start with `#`")
    return SpecError.at(span, f"unexpected character {_show_char(char)}", hint, source=source)


# --- words ---------------------------------------------------------------------------------------

def _expected(accepts: frozenset[str]) -> str | None:
    """``expected `,` or `)``` for a set of accepted tokens, grouped and in words."""
    keys = set(accepts)
    for optional in (";", "$END"):
        if len(keys) > 1:
            keys.discard(optional)
    if "}" in keys and ")" not in keys and "]" not in keys:
        keys.discard(",")  # the optional separator between settings
    if keys == {"NUMBER", "SHAPE"}:
        return "expected a shape such as `64x64` or `784`"
    groups: list[str] = []
    if _STATEMENT <= keys:
        keys -= _STATEMENT
        groups.append("a new statement")
    if _EXPRESSION <= keys:
        keys -= _EXPRESSION
        groups.append("an expression such as a name, a number, `(` or `[`")
    operators = _OPERATORS <= keys
    if operators:
        keys -= _OPERATORS | {".", "("}
    rank = {key: position for position, key in enumerate(_ORDER)}
    singles = sorted(keys, key=lambda key: (rank.get(key, len(rank)), key))
    words = [_word(key) for key in singles if key in _CLOSING] + groups \
        + [_word(key) for key in singles if key not in _CLOSING] \
        + (["an operator"] if operators else [])
    if not words:
        return None
    return "expected " + (words[0] if len(words) == 1
                          else ", ".join(words[:-1]) + " or " + words[-1])


def _word(key: str) -> str:
    return _WORDS.get(key, f"`{key}`")


def _describe(token: Token, keywords: frozenset[str]) -> str:
    kinds = {"NAME": "name ", "NUMBER": "number ", "SHAPE": "shape "}
    if token.type == "STRING":
        return f"string {token}"
    if token.type in kinds:
        return f"{kinds[token.type]}`{token}`"
    return f"keyword `{token}`" if str(token) in keywords else f"`{token}`"


def _show_char(char: str) -> str:
    if char.isprintable() and not char.isspace():
        return f"`{char}`"
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" ({name})" if name else "")


# --- lark plumbing -------------------------------------------------------------------------------

def _lex(parser: Lark, source: str) -> list[Token]:
    """The tokens of ``source`` up to the first character that cannot be lexed."""
    tokens: list[Token] = []
    try:
        for token in parser.lex(source):
            tokens.append(token)
    except UnexpectedCharacters:
        pass
    return tokens


def _accepts(parser: Lark, before: tuple[Token, ...], fallback: set[str]) -> set[str]:
    """The tokens (by text, or type) that a parser which has read ``before`` can take next."""
    try:
        interactive = parser.parse_interactive("")
        for token in before:
            interactive.feed_token(token)
        names = interactive.accepts()
    except LarkError:  # the parser already took these tokens once; stay safe all the same
        names = fallback
    return {_key(parser, name) for name in names}


def _key(parser: Lark, name: str) -> str:
    if name in _WORDS:
        return name
    try:
        pattern = parser.get_terminal(name).pattern
    except KeyError:
        return name
    return pattern.value if isinstance(pattern, PatternStr) else name
