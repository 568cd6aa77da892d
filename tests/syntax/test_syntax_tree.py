"""Every form that docs/language.md shows parses to the expected syntax tree, with exact spans."""

from __future__ import annotations

import pytest

from lbdsl.errors import SourceSpan
from lbdsl.syntax.parser import parse
from lbdsl.syntax.tree import (
    Assign, Attr, BinOp, Call, InputDecl, Keyword, ListLit, Module, Name, Neg, Network, Number,
    Output, ParamDecl, Repeat, Setting, Shape, String, Task,
)

# The example of language.md, verbatim.
PERCEPTRON = """\
network perceptron {
    input  u : 64x64
    param  W : 512x4096 = normal(std = 1, seed = 0)
    param  b : 512      = normal(std = 1, seed = 1)
    h = relu(W @ u + b)
    output h
}

invert perceptron {
    truth       = image("shepp_logan", size = 64x64)     # known ground truth: synthetic data + metrics
    data        = forward(truth) + gaussian(sigma = 0.01, seed = 3)
    fidelity    = bregman                                  # or: l2 (the quadratic baseline)
    regulariser = 0.015 * tv                               # sums allowed: 0.01 * tv + nonneg
    solver      = pdhg(max_iter = 5000, tol = 1e-6)
}
"""


def span(line: int, column: int, end_line: int, end_column: int) -> SourceSpan:
    return SourceSpan("perceptron.lbn", line, column, end_line, end_column)


def expr(text: str):
    """The value of ``x = TEXT`` inside a network."""
    module = parse(f"network n {{\n  x = {text}\n}}\n")
    (statement,) = module.networks[0].body
    assert isinstance(statement, Assign)
    return statement.value


def setting(text: str):
    """The value of ``key = TEXT`` inside an invert task."""
    module = parse(f"invert n {{ key = {text} }}")
    return module.tasks[0].settings[0].value


def shape_of(node) -> tuple:
    """A compact structural rendering of an expression, spans left out."""
    match node:
        case Number(value=value, text=text):
            return ("num", value, text)
        case String(value=value):
            return ("str", value)
        case Name(id=name):
            return name
        case Shape(dims=dims):
            return ("shape", dims)
        case ListLit(items=items):
            return ("list", *map(shape_of, items))
        case Call(func=func, args=args, kwargs=kwargs):
            return ("call", func, tuple(map(shape_of, args)),
                    tuple((k.name, shape_of(k.value)) for k in kwargs))
        case BinOp(op=op, left=left, right=right):
            return (op, shape_of(left), shape_of(right))
        case Neg(operand=operand):
            return ("neg", shape_of(operand))
        case Attr(value=value, attr=attr):
            return ("attr", shape_of(value), attr)
    raise AssertionError(f"not an expression: {node!r}")


# --- the language.md example -------------------------------------------------------------------

@pytest.fixture(scope="module")
def perceptron() -> Module:
    return parse(PERCEPTRON, "perceptron.lbn")


def test_example_network(perceptron: Module) -> None:
    assert perceptron.file == "perceptron.lbn" and perceptron.source == PERCEPTRON
    (net,) = perceptron.networks
    assert isinstance(net, Network) and net.name.id == "perceptron"
    assert [type(s) for s in net.body] == [InputDecl, ParamDecl, ParamDecl, Assign, Output]
    u, w, b, h, out = net.body
    assert u.name.id == "u" and u.shape.dims == (64, 64)
    assert w.name.id == "W" and w.shape.dims == (512, 4096)
    assert shape_of(w.init) == ("call", "normal", (), (("std", ("num", 1, "1")),
                                                       ("seed", ("num", 0, "0"))))
    assert b.shape.dims == (512,)  # a plain number where a shape is expected
    assert h.target.id == "h"
    assert shape_of(h.value) == ("call", "relu", (("+", ("@", "W", "u"), "b"),), ())
    assert out.name.id == "h"


def test_example_spans(perceptron: Module) -> None:
    net = perceptron.networks[0]
    assert net.span == span(1, 1, 7, 2)
    assert net.name.span == span(1, 9, 1, 19)
    u, w, b, h, out = net.body
    assert u.span == span(2, 5, 2, 21)
    assert u.shape.span == span(2, 16, 2, 21)
    assert w.init.span == span(3, 27, 3, 52) and w.init.func_span == span(3, 27, 3, 33)
    assert b.shape.span == span(4, 16, 4, 19)
    call = h.value
    plus = call.args[0]
    assert plus.span == span(5, 14, 5, 23) and plus.op_span == span(5, 20, 5, 21)
    assert plus.left.op_span == span(5, 16, 5, 17)
    assert out.span == span(6, 5, 6, 13)


def test_example_task(perceptron: Module) -> None:
    (task,) = perceptron.tasks
    assert isinstance(task, Task) and task.kind == "invert" and task.network.id == "perceptron"
    assert task.span.line == 9 and task.span.column == 1 and task.span.end_line == 15
    assert [s.key.id for s in task.settings] == ["truth", "data", "fidelity", "regulariser",
                                                  "solver"]
    truth, data, fidelity, regulariser, solver = (s.value for s in task.settings)
    assert shape_of(truth) == ("call", "image", (("str", "shepp_logan"),),
                               (("size", ("shape", (64, 64))),))
    assert shape_of(data) == ("+", ("call", "forward", ("truth",), ()),
                              ("call", "gaussian", (), (("sigma", ("num", 0.01, "0.01")),
                                                        ("seed", ("num", 3, "3")))))
    assert fidelity == Name("bregman", span(12, 19, 12, 26))
    assert shape_of(regulariser) == ("*", ("num", 0.015, "0.015"), "tv")
    tol = solver.kwargs[1]
    assert isinstance(tol, Keyword) and tol.name == "tol"
    assert tol.value == Number(1e-6, "1e-6", span(14, 47, 14, 51))
    assert task.settings[0].span == span(10, 5, 10, 53)
    assert isinstance(task.settings[0], Setting)


# --- every form named in language.md -------------------------------------------------------------

PARAM_INITS = [
    ("normal(mean = 0, std = 1, seed = 4)", ("call", "normal", (), (
        ("mean", ("num", 0, "0")), ("std", ("num", 1, "1")), ("seed", ("num", 4, "4"))))),
    ("uniform(-1, 1, seed = 2)", ("call", "uniform", (("num", -1, "-1"), ("num", 1, "1")),
                                  (("seed", ("num", 2, "2")),))),
    ("zeros", "zeros"),
    ("ones", "ones"),
    ("eye", "eye"),
    ("linspace(0, 1)", ("call", "linspace", (("num", 0, "0"), ("num", 1, "1")), ())),
    ("[1, 2, 3]", ("list", ("num", 1, "1"), ("num", 2, "2"), ("num", 3, "3"))),
    ("[[1, 0], [0, 1]]", ("list", ("list", ("num", 1, "1"), ("num", 0, "0")),
                          ("list", ("num", 0, "0"), ("num", 1, "1")))),
    ('load("file.npz", "key")', ("call", "load", (("str", "file.npz"), ("str", "key")), ())),
    ('load("w.npy")', ("call", "load", (("str", "w.npy"),), ())),
]


@pytest.mark.parametrize("init, expected", PARAM_INITS, ids=[i for i, _ in PARAM_INITS])
def test_param_initialisers(init: str, expected) -> None:
    module = parse(f"network n {{ param W : 3x3 = {init} }}")
    (decl,) = module.networks[0].body
    assert isinstance(decl, ParamDecl) and decl.shape.dims == (3, 3)
    assert shape_of(decl.init) == expected


LAYERS = [
    ("relu(A @ x)", ("call", "relu", (("@", "A", "x"),), ())),
    ("relu(A @ x + b)", ("call", "relu", (("+", ("@", "A", "x"), "b"),), ())),
    ("tanh(A.T @ x + b)", ("call", "tanh", (("+", ("@", ("attr", "A", "T"), "x"), "b"),), ())),
    ("sigmoid(dense(x, 40))", ("call", "sigmoid", (("call", "dense", ("x", ("num", 40, "40")),
                                                    ()),), ())),
    ("relu(conv2d(x, 8, kernel = 3, stride = 1, padding = 1))",
     ("call", "relu", (("call", "conv2d", ("x", ("num", 8, "8")), (
         ("kernel", ("num", 3, "3")), ("stride", ("num", 1, "1")),
         ("padding", ("num", 1, "1")))),), ())),
    ("A @ x + b", ("+", ("@", "A", "x"), "b")),
    ("x + W.T @ relu(W @ x + b)",
     ("+", "x", ("@", ("attr", "W", "T"), ("call", "relu", (("+", ("@", "W", "x"), "b"),), ())))),
    ("x - V @ soft(A @ x, theta = 0.05)",
     ("-", "x", ("@", "V", ("call", "soft", (("@", "A", "x"),),
                            (("theta", ("num", 0.05, "0.05")),))))),
    ("leaky_relu(W @ x + b, a = 0.1)",
     ("call", "leaky_relu", (("+", ("@", "W", "x"), "b"),), (("a", ("num", 0.1, "0.1")),))),
    ("soft(dense(x, 40), theta = 0.05)",
     ("call", "soft", (("call", "dense", ("x", ("num", 40, "40")), ()),),
      (("theta", ("num", 0.05, "0.05")),))),
    ("clip(A @ x, lo = -1, hi = 1)",
     ("call", "clip", (("@", "A", "x"),), (("lo", ("num", -1, "-1")), ("hi", ("num", 1, "1"))))),
    ("softmax(identity(x))", ("call", "softmax", (("call", "identity", ("x",), ()),), ())),
    ("hardtanh(x)", ("call", "hardtanh", ("x",), ())),
]


@pytest.mark.parametrize("text, expected", LAYERS, ids=[t for t, _ in LAYERS])
def test_layer_forms(text: str, expected) -> None:
    assert shape_of(expr(text)) == expected


SETTINGS = [
    ('load("f.npy")', ("call", "load", (("str", "f.npy"),), ())),
    ("forward(truth) + gaussian(relative = 0.05, seed = 1)",
     ("+", ("call", "forward", ("truth",), ()),
      ("call", "gaussian", (), (("relative", ("num", 0.05, "0.05")), ("seed", ("num", 1, "1")))))),
    ('image("camera", size = 1x28x28)',
     ("call", "image", (("str", "camera"),), (("size", ("shape", (1, 28, 28))),))),
    ("l2", "l2"),
    ("0.01 * tv + nonneg", ("+", ("*", ("num", 0.01, "0.01"), "tv"), "nonneg")),
    ("0.01 * l1 + 0.1 * l2sq + box(0, 1)",
     ("+", ("+", ("*", ("num", 0.01, "0.01"), "l1"), ("*", ("num", 0.1, "0.1"), "l2sq")),
      ("call", "box", (("num", 0, "0"), ("num", 1, "1")), ()))),
    ("apriori(delta = 0.1)", ("call", "apriori", (), (("delta", ("num", 0.1, "0.1")),))),
    ("discrepancy(delta = auto, tau = 1.1)",
     ("call", "discrepancy", (), (("delta", "auto"), ("tau", ("num", 1.1, "1.1"))))),
    ("coordinate(max_iter = 100, tol = 1e-4)",
     ("call", "coordinate", (), (("max_iter", ("num", 100, "100")),
                                 ("tol", ("num", 1e-4, "1e-4"))))),
    ('digits(n = 500, split = "train", noise = 0.1, seed = 0)',
     ("call", "digits", (), (("n", ("num", 500, "500")), ("split", ("str", "train")),
                             ("noise", ("num", 0.1, "0.1")), ("seed", ("num", 0, "0"))))),
    ('load("file.npz", inputs = "X", targets = "Y")',
     ("call", "load", (("str", "file.npz"),), (("inputs", ("str", "X")),
                                               ("targets", ("str", "Y"))))),
    ("0.01 * l1(z3)", ("*", ("num", 0.01, "0.01"), ("call", "l1", ("z3",), ()))),
    ("implicit_sgd(epochs = 5, batch = 32, tau = 0.5, inner = 3)",
     ("call", "implicit_sgd", (), (("epochs", ("num", 5, "5")), ("batch", ("num", 32, "32")),
                                   ("tau", ("num", 0.5, "0.5")), ("inner", ("num", 3, "3"))))),
    ("adam(lr = 1e-3)", ("call", "adam", (), (("lr", ("num", 1e-3, "1e-3")),))),
    ('"out/run1"', ("str", "out/run1")),
    ("-3", ("num", -3, "-3")),
]


@pytest.mark.parametrize("text, expected", SETTINGS, ids=[t for t, _ in SETTINGS])
def test_setting_values(text: str, expected) -> None:
    assert shape_of(setting(text)) == expected


def test_every_task_kind_and_separators() -> None:
    module = parse("""
        network n { input u : 784; h = relu(dense(u, 10)); output h }
        check n { lambda = 1, rho = 0.5 }
        train n { data = digits(n = 500, split = "train"); loss = mse
                  optimizer = sgd(lr = 0.1) save = "out" seed = 7 }
        invert n { lambda = 1; rho = 2 }
    """)
    assert [t.kind for t in module.tasks] == ["check", "train", "invert"]
    assert [s.key.id for s in module.tasks[0].settings] == ["lambda", "rho"]
    assert [s.key.id for s in module.tasks[1].settings] == ["data", "loss", "optimizer", "save",
                                                            "seed"]
    assert module.networks[0].body[0].shape.dims == (784,)


def test_repeat_and_rebinding() -> None:
    module = parse("""
        network deep {
            input x : 16
            repeat 3 {
                param W : 16x16 = normal(std = 1, seed = 0)
                param b : 16 = zeros
                x = x + W.T @ relu(W @ x + b)
            }
            output x
        }
    """)
    net = module.networks[0]
    assert [type(s) for s in net.body] == [InputDecl, Repeat, Output]
    loop = net.body[1]
    assert loop.count == Number(3, "3", loop.count.span) and loop.count.span.column == 20
    assert [type(s) for s in loop.body] == [ParamDecl, ParamDecl, Assign]


def test_nested_repeat() -> None:
    module = parse("network n { input x : 2 repeat 2 { repeat 3 { x = x } } output x }")
    outer = module.networks[0].body[1]
    assert isinstance(outer.body[0], Repeat) and outer.body[0].count.value == 3


# --- expressions --------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("a + b * c @ d", ("+", "a", ("*", "b", ("@", "c", "d")))),
    ("a @ b * c + d", ("+", ("*", ("@", "a", "b"), "c"), "d")),
    ("a - b - c", ("-", ("-", "a", "b"), "c")),
    ("a @ b @ c", ("@", ("@", "a", "b"), "c")),
    ("-W @ x", ("@", ("neg", "W"), "x")),
    ("-3 * x", ("*", ("num", -3, "-3"), "x")),
    ("- 3", ("num", -3, "-3")),
    ("-(3)", ("neg", ("num", 3, "3"))),
    ("--3", ("neg", ("num", -3, "-3"))),
    ("a - -2.5", ("-", "a", ("num", -2.5, "-2.5"))),
    ("-W.T", ("neg", ("attr", "W", "T"))),
    ("relu(x).T", ("attr", ("call", "relu", ("x",), ()), "T")),
    ("(a + b) * c", ("*", ("+", "a", "b"), "c")),
    ("f()", ("call", "f", (), ())),
    ("f(x, k = 1,)", ("call", "f", ("x",), (("k", ("num", 1, "1")),))),
    ("[]", ("list",)),
    ("[1, [2], ]", ("list", ("num", 1, "1"), ("list", ("num", 2, "2")))),
    ("1e-4", ("num", 1e-4, "1e-4")),
    ("0.015", ("num", 0.015, "0.015")),
    (".5", ("num", 0.5, ".5")),
    ("1E+3", ("num", 1000.0, "1E+3")),
    ("12", ("num", 12, "12")),
    ("64x64", ("shape", (64, 64))),
    ('"a \\"b\\" \\\\ \\n\\t"', ("str", 'a "b" \\ \n\t')),
    ("inputs + network2 + checkpoint + x64", ("+", ("+", ("+", "inputs", "network2"),
                                                         "checkpoint"), "x64")),
])
def test_expressions(text: str, expected) -> None:
    assert shape_of(expr(text)) == expected


def test_negative_literal_span_covers_the_sign() -> None:
    value = expr("a - - 7")
    assert value.right == Number(-7, "-7", SourceSpan("<string>", 2, 11, 2, 14))


def test_parenthesised_operand_extends_the_span() -> None:
    value = expr("(a + b) * c")
    assert (value.span.column, value.span.end_column) == (7, 18)
    assert (value.left.span.column, value.left.span.end_column) == (8, 13)


def test_attr_and_call_spans() -> None:
    value = expr("W.T @ relu(x, a = 1)")
    assert value.left.span == SourceSpan("<string>", 2, 7, 2, 10)
    call = value.right
    assert call.span == SourceSpan("<string>", 2, 13, 2, 27)
    assert call.func_span == SourceSpan("<string>", 2, 13, 2, 17)
    assert call.kwargs[0].span == SourceSpan("<string>", 2, 21, 2, 26)


# --- layout -------------------------------------------------------------------------------------

def test_free_form_layout_and_comments() -> None:
    one_line = parse("network p { input u : 3 param W : 3x3 = eye h = relu(W @ u) output h }")
    spread = parse("""# a comment first
network
  p   # the name
{
  input u
    : 3
  param W : 3x3
    = eye
  h = relu(W
           @ u)   # continued
  output
    h
}
""")
    strip = [type(s) for s in one_line.networks[0].body]
    assert strip == [type(s) for s in spread.networks[0].body]
    layer = spread.networks[0].body[2].value
    assert shape_of(layer) == shape_of(one_line.networks[0].body[2].value)


def test_empty_and_comment_only_files() -> None:
    for source in ("", "\n\n", "# nothing here\n", ";;"):
        module = parse(source)
        assert module.networks == () and module.tasks == ()


def test_windows_newlines_and_tabs() -> None:
    module = parse("network p {\r\n\tinput u : 3\r\n\toutput u\r\n}\r\n")
    decl = module.networks[0].body[0]
    assert (decl.span.line, decl.span.column) == (2, 2)


def test_networks_and_tasks_in_source_order() -> None:
    module = parse("network a { } train a { } network b { } check b { } invert a { }")
    assert [n.name.id for n in module.networks] == ["a", "b"]
    assert [(t.kind, t.network.id) for t in module.tasks] == [("train", "a"), ("check", "b"),
                                                               ("invert", "a")]
