"""Parse ``.lbn`` text into a :class:`~lbdsl.syntax.tree.Module`.

The grammar is ``grammar/lbn.lark``, loaded once.  This module is the one boundary where lark's
exceptions become :class:`~lbdsl.errors.SpecError` s (see :mod:`.diagnose` for the wording).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedInput

from ..bounded import BoundError, check_regular, format_bytes
from ..errors import Diagnostic, SourceSpan, SpecError
from ..limits import MAX_SPEC_BYTES
from ..terminal import first_control
from .build import build_module
from .grammar import grammar_locations, grammar_text
from .diagnose import explain
from .tree import Module

__all__ = ["MAX_NESTING", "grammar_text", "grammar_locations", "lark_parser", "parse", "parse_file"]

#: How deeply a spec may nest (brackets, unary minus, each term of a sum): far beyond any
#: network written by hand, and well inside what every later stage, recursive over
#: expressions, handles within Python's stack.
MAX_NESTING = 100


@functools.cache
def lark_parser() -> Lark:
    """The LALR parser for ``lbn.lark``, built on first use.

    lark's ``cache=`` is not used: building takes a few tens of milliseconds, and its cache file
    in the temporary directory is not worth the trouble for an installed wheel.
    """
    return Lark(grammar_text(), parser="lalr", lexer="basic", propagate_positions=True,
                maybe_placeholders=False)


def parse(source: str, file: str = "<string>") -> Module:
    """The syntax tree of ``source``; ``file`` names it in spans and messages.

    Raises :class:`SpecError` (with the source attached) for every syntax error.
    """
    _check_characters(source, file)
    parser = lark_parser()
    try:
        parse_tree = parser.parse(source)
    except UnexpectedInput as exc:
        raise explain(exc, source, file, parser) from None
    _check_nesting(parse_tree, source, file)
    return build_module(parse_tree, source, file)


def _check_characters(source: str, file: str) -> None:
    """Refuse a control character (other than tab and line breaks) anywhere in a spec: it has
    no meaning in the language, and text of a spec reaches terminals and file names."""
    index = first_control(source, line_breaks=True)
    if index is not None:
        ch = source[index]
        line = source.count("\n", 0, index) + 1
        column = index - (source.rfind("\n", 0, index) + 1) + 1
        span = SourceSpan(file, line, column, line, column + 1)
        raise SpecError([Diagnostic(span, f"control character U+{ord(ch):04X} in the spec",
                                    "a spec is plain text: remove it (in a string, "
                                    "\\n and \\t are the escapes the language knows)")],
                        source)


def _check_nesting(parse_tree: Tree, source: str, file: str) -> None:
    """Refuse a parse tree with more than :data:`MAX_NESTING` nested levels (:data:`_LEVELS`),
    with a caret at the first level too deep; walked with an explicit stack (no recursion)."""
    stack: list[tuple[Tree | Token, int]] = [(parse_tree, 0)]
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, Tree):
            continue
        if node.data in _LEVELS:
            depth += 1
        if depth > MAX_NESTING:
            meta = node.meta
            line, column = getattr(meta, "line", 1), getattr(meta, "column", 1)
            span = SourceSpan(file, line, column, line, column + 1)
            raise SpecError([Diagnostic(
                span, f"this nests more than {MAX_NESTING} levels deep (brackets, calls, "
                      "unary minus, each term of a sum and each `repeat` count a level)",
                "split it into several statements or settings")], source)
        stack.extend((child, depth) for child in node.children)


#: the parse-tree nodes that nest: every later stage recurses once per level of these
_LEVELS = frozenset({"binop", "neg", "attr", "call", "keyword", "list_literal", "paren", "repeat"})


def parse_file(path: str | os.PathLike[str]) -> Module:
    """Read ``path`` as UTF-8 (a leading byte-order mark is dropped) and :func:`parse` it."""
    name = os.fspath(path)
    try:
        check_regular(path)     # a FIFO would wait for a writer; /dev/zero never ends
        size = os.stat(path).st_size
        if size > MAX_SPEC_BYTES:
            raise SpecError.at(None, f"cannot read {name}: it holds {format_bytes(size)}, more "
                               f"than a spec may ({format_bytes(MAX_SPEC_BYTES)})")
        data = Path(path).read_bytes()
    except BoundError as exc:
        raise SpecError.at(None, f"cannot read {name}: {exc}") from None
    except FileNotFoundError:
        raise SpecError.at(None, f"cannot read {name}: no such file") from None
    except IsADirectoryError:
        raise SpecError.at(None, f"cannot read {name}: it is a directory") from None
    except OSError as exc:
        raise SpecError.at(None, f"cannot read {name}: {exc.strerror or exc}") from None
    try:
        source = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError.at(
            None, f"cannot read {name}: not UTF-8 text (byte 0x{data[exc.start]:02x} "
                  f"at offset {exc.start})",
            "save the spec as UTF-8") from None
    return parse(source, name)
