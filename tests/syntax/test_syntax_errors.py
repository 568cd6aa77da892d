"""Malformed specs: each syntax error is a SpecError at the exact line:column, in words.

Adding a case is one line in ``CASES``: (id, source, "LINE:COL", message part, hint part).
``N`` wraps a network body so that most sources stay short; its statements start on line 2.
"""

from __future__ import annotations

import pytest

from lbdsl.errors import LbdslError, SpecError
from lbdsl.syntax.parser import grammar_text, parse, parse_file


def N(*lines: str) -> str:
    """``network p {``, then ``lines`` (line 2 on), then ``}``."""
    return "network p {\n" + "".join(f"  {line}\n" for line in lines) + "}\n"


CASES = [
    ("colon-equals", N("x := 3"), "2:5", "unexpected `:`", "not `:=`"),
    ("missing-colon", N("input u 64x64"), "2:11", "unexpected shape `64x64`", "`input u : 64x64`"),
    ("param-without-init", N("input u : 4", "param W : 3x3", "h = W @ u"), "4:3", "unexpected name `h`", "needs an initialiser"),
    ("param-without-init-at-brace", N("param W : 3x3"), "3:1", "unexpected `}`", "param W : 3x3 = normal"),
    ("param-missing-equals", N("param W : 3 normal(seed = 0)"), "2:15", "unexpected name `normal`", "expected `=`"),
    ("unterminated-string", 'invert p {\n  data = load("f.npy)\n}\n', "2:15", "unterminated string", "same line"),
    ("stray-character", N("h = W $ u"), "2:9", "unexpected character `$`", "not part of"),
    ("slash-comment", N("// a comment"), "2:3", "unexpected character `/`", "comments start with `#`"),
    ("division", N("h = u / 2"), "2:9", "unexpected character `/`", "no division"),
    ("single-quotes", "invert p { save = 'out' }", "1:19", "unexpected character `'`", "double quotes"),
    ("times-sign", N("input u : 64×64"), "2:15", "unexpected character `×`", "letter x"),
    ("nul-byte", N("h = u\x00"), "2:8", "U+0000", "plain text"),
    ("escape-in-string", N('param W : 1 = load("\x1b]0;x\x07.npy")'), "2:23", "U+001B", "plain text"),
    ("escape-in-comment", N("# \x9b2J"), "2:5", "U+009B", "plain text"),
    ("bidi-override-in-comment", N("# safe \u202e})ti(esrever"), "2:10", "U+202E", "plain text"),
    ("deep-negation", N("h = relu(" + "-" * 500 + "u)"), "2:111", "more than 100 levels", "split"),
    ("deep-brackets", N("param W : 1 = " + "[" * 500 + "1" + "]" * 500), "2:117", "more than 100 levels", "split"),
    ("long-sum", N("h = relu(" + " + ".join(["u"] * 500) + ")"), "2:12", "more than 100 levels", "split"),
    ("huge-number", N("param W : 1 = constant(1e308)"), "2:26", "out of range", "rescale"),
    ("thousands-of-digits", N("param W : 1 = constant(" + "9" * 5000 + ")"), "2:26", "out of range", "rescale"),
    ("eof-missing-brace", "network perceptron {\n  input u : 3\n", "2:14", "unexpected end of file: missing `}` to close `network perceptron` opened at 1:20", "expected `}` or a new statement"),
    ("eof-missing-paren", N("h = relu(u")[:-2], "2:13", "missing `)` to close `relu(` opened at 2:11", "expected `)`"),
    ("eof-missing-bracket", "invert p { x = [1, 2", "1:21", "missing `]` to close `[` opened at 1:16", "`]`"),
    ("eof-in-expression", N("h = W @")[:-2], "2:10", "unexpected end of file", "an expression"),
    ("eof-task-brace", "invert p {\n  fidelity = l2", "2:16", "missing `}` to close `invert p` opened at 1:10", "`}`"),
    ("unclosed-call", N("h = relu(W @ u + b", "output h"), "3:3", "unexpected keyword `output`", "`relu(` opened at 2:11 is not closed"),
    ("extra-paren", N("h = relu(u))"), "2:14", "unexpected `)`", "no matching `(`"),
    ("wrong-closer", N("h = f(u]"), "2:10", "unexpected `]`", "no matching `[`"),
    ("stray-brace", "}", "1:1", "unexpected `}`", "no matching `{`"),
    ("unknown-task-kind", "solve p { }", "1:1", "unexpected name `solve`", "a task is `invert`, `train` or `check`"),
    ("misspelt-network", "netwrok p { }", "1:1", "unexpected name `netwrok`", "did you mean `network`?"),
    ("misspelt-task", "invret p { }", "1:1", "unexpected name `invret`", "did you mean `invert`?"),
    ("misspelt-param", N("parm W : 3 = zeros"), "2:8", "unexpected name `W`", "did you mean `param`?"),
    ("misspelt-output", N("ouput h"), "2:9", "unexpected name `h`", "did you mean `output`?"),
    ("statement-outside", "h = relu(x)", "1:1", "unexpected name `h`", "inside `network NAME { ... }`"),
    ("missing-close-before-task", N("x = 1")[:-2] + "invert p { }", "3:1", "unexpected keyword `invert`", "is a `}` missing to close `network p` opened at 1:11?"),
    ("keyword-as-name", N("param input : 3 = zeros"), "2:9", "unexpected keyword `input`", "reserved word"),
    ("keyword-as-value", N("h = output"), "2:7", "unexpected keyword `output`", "reserved word"),
    ("statement-in-task", "invert p {\n  param W : 3 = zeros\n}", "2:3", "unexpected keyword `param`", "belongs in a network"),
    ("two-names", "network p q { }", "1:11", "unexpected name `q`", "expected `{`"),
    ("network-without-name", "network { }", "1:9", "unexpected `{`", "expected a name"),
    ("task-without-network", "train { }", "1:7", "unexpected `{`", "expected a name"),
    ("setting-without-value", "invert p { solver = }", "1:21", "unexpected `}`", "an expression such as a name, a number, `(` or `[`"),
    ("setting-with-colon", "invert p { solver: pdhg() }", "1:18", "unexpected `:`", "`name = value`"),
    ("double-equals", N("h = u == 1"), "2:9", "unexpected `=`", "no `==`"),
    ("power", N("h = u ** 2"), "2:10", "unexpected `*`", "no power operator"),
    ("missing-operand", N("h = W @ + b"), "2:11", "unexpected `+`", "an expression"),
    ("missing-comma", "invert p { solver = pdhg(max_iter = 10 tol = 1e-3) }", "1:40", "unexpected name `tol`", "separate arguments with `,`"),
    ("missing-list-comma", N("param b : 2 = [1 2]"), "2:20", "unexpected number `2`", "separate items with `,`"),
    ("missing-operator", N("h = W u + b"), "2:11", "unexpected `+`", "operator missing between `W` and `u`"),
    ("number-times-name", N("h = 2W @ u"), "2:10", "unexpected `@`", "write `2 * W`"),
    ("shape-with-spaces", N("input u : 64 x 64"), "2:18", "unexpected number `64`", "without spaces"),
    ("output-without-name", N("output"), "3:1", "unexpected `}`", "expected a name"),
    ("repeat-without-count", N("repeat { }"), "2:10", "unexpected `{`", "repeat N"),
    ("repeat-float-count", N("repeat 2.5 { }"), "2:10", "a repeat count must be a positive integer, not `2.5`", "N ≥ 1"),
    ("repeat-zero", N("repeat 0 { }"), "2:10", "positive integer, not `0`", "N ≥ 1"),
    ("float-shape", N("input u : 2.5"), "2:13", "one-dimensional shape must be a positive integer", "joined by `x`"),
    ("zero-shape", N("input u : 0x3"), "2:13", "shape `0x3` has a zero dimension", "positive integers"),
    ("negative-shape", N("input u : -3"), "2:13", "unexpected `-`", "expected a shape such as `64x64` or `784`"),
    ("positional-after-keyword", N("h = f(a = 1, 2)"), "2:16", "positional argument after a keyword argument", "positional arguments first"),
    ("repeated-keyword", N("h = normal(seed = 1, seed = 2)"), "2:24", "keyword argument `seed` is repeated", "once"),
    ("bad-escape", 'invert p { save = "C:\\out" }', "1:22", "unknown escape `\\o`", "paths with `/`"),
    ("call-on-parenthesis", N("h = (f)(u)"), "2:10", "unexpected `(`", "only a name can be called"),
    ("float-with-two-dots", N("h = 1.2.3"), "2:10", "unexpected number `.3`", "an operator"),
    ("comma-between-statements", N("input u : 3, output u"), "2:14", "unexpected `,`", "a new statement"),
    ("number-out-of-range", N("h = 1e999 * u"), "2:7", "number `1e999` is out of range", "1.8e308"),
]


@pytest.mark.parametrize("name, source, where, message, hint", CASES, ids=[c[0] for c in CASES])
def test_bad_spec(name: str, source: str, where: str, message: str, hint: str) -> None:
    with pytest.raises(SpecError) as info:
        parse(source, "bad.lbn")
    diagnostic = info.value.diagnostics[0]
    assert diagnostic.span is not None
    assert f"{diagnostic.span.line}:{diagnostic.span.column}" == where, diagnostic.render(source)
    assert message in diagnostic.message, diagnostic.render(source)
    assert diagnostic.hint is not None and hint in diagnostic.hint, diagnostic.render(source)
    assert info.value.source == source
    assert str(info.value).startswith(f"bad.lbn:{where}: error: ")


def test_catalogue_is_large_and_distinct() -> None:
    assert len(CASES) >= 25
    assert len({c[0] for c in CASES}) == len(CASES)
    assert len({c[1] for c in CASES}) == len(CASES)


def test_rendered_error_has_the_caret_under_the_column() -> None:
    source = "network p {\n  param W : 3x3\n  h = relu(W @ u)\n}\n"
    with pytest.raises(SpecError) as info:
        parse(source, "specs/p.lbn")
    assert str(info.value) == (
        "specs/p.lbn:3:3: error: unexpected name `h`\n"
        "    3 |   h = relu(W @ u)\n"
        "      |   ^\n"
        "  hint: expected `=`; a `param` needs an initialiser: "
        "`param W : 3x3 = normal(std = 1, seed = 0)` (or `zeros`, `ones`, a list, `load(...)`)"
    )


def test_caret_spans_the_offending_token() -> None:
    with pytest.raises(SpecError) as info:
        parse("network p {\n  input u 64x64\n}\n", "p.lbn")
    lines = str(info.value).splitlines()
    assert lines[1] == "    2 |   input u 64x64"
    assert lines[2] == "      |           ^^^^^"


def test_several_tree_errors_are_reported_together() -> None:
    source = N("input u : 0x3", "repeat 1.5 { }", "h = f(a = 1, 2)")
    with pytest.raises(SpecError) as info:
        parse(source, "bad.lbn")
    found = [(d.span.line, d.span.column) for d in info.value.diagnostics]
    assert found == [(2, 13), (3, 10), (4, 16)]


def test_the_error_is_a_spec_error_with_exit_status_2() -> None:
    with pytest.raises(SpecError) as info:
        parse("network")
    assert info.value.exit_status == 2 and isinstance(info.value, LbdslError)
    assert info.value.diagnostics[0].message == "unexpected end of file"
    assert info.value.diagnostics[0].hint == "expected a name"


# --- files ---------------------------------------------------------------------------------------

def test_parse_file_reads_utf8_and_names_the_file(tmp_path) -> None:
    path = tmp_path / "spec.lbn"
    path.write_bytes("\ufeff# résumé\nnetwork p { input u : 3 output u }\n".encode("utf-8"))
    module = parse_file(path)
    assert module.file == str(path)
    assert module.networks[0].span.line == 2 and module.networks[0].span.column == 1


def test_parse_file_syntax_error_names_the_file(tmp_path) -> None:
    path = tmp_path / "bad.lbn"
    path.write_text("network p {\n", encoding="utf-8")
    with pytest.raises(SpecError) as info:
        parse_file(path)
    assert str(info.value).startswith(f"{path}:1:12: error: unexpected end of file")


@pytest.mark.parametrize("make, reason", [
    (lambda d: d / "missing.lbn", "no such file"),
    (lambda d: d, "is a directory"),
    (lambda d: (d / "latin1.lbn", (d / "latin1.lbn").write_bytes(b"# caf\xe9\n"))[0],
     "not UTF-8 text (byte 0xe9 at offset 5)"),
])
def test_unreadable_files_are_one_line_spec_errors(tmp_path, make, reason) -> None:
    path = make(tmp_path)
    with pytest.raises(SpecError) as info:
        parse_file(path)
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.span is None and reason in diagnostic.message
    assert str(info.value).splitlines()[0] == f"error: {diagnostic.message}"


# --- the grammar file ----------------------------------------------------------------------------

def test_grammar_text_is_the_repository_grammar() -> None:
    from pathlib import Path

    repository = Path(__file__).resolve().parents[2] / "grammar" / "lbn.lark"
    assert grammar_text() == repository.read_text(encoding="utf-8")


def test_grammar_not_found_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(LbdslError, match="cannot find the .lbn grammar"):
        grammar_text([tmp_path / "a.lark", tmp_path / "b.lark"])


def test_grammar_found_first_in_the_package(tmp_path) -> None:
    first, second = tmp_path / "first.lark", tmp_path / "second.lark"
    first.write_text("// first", encoding="utf-8")
    second.write_text("// second", encoding="utf-8")
    assert grammar_text([tmp_path / "absent.lark", first, second]) == "// first"
