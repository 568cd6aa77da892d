"""A catalogue of bad task specs: each error is reported at its exact line:col with a message
(and, where it helps, a hint) a user can act on; independent errors are reported together."""

from __future__ import annotations

import pytest

from lbdsl.errors import SpecError
from lbdsl.ir.tasks import build_task, build_tasks, check_task_networks
from lbdsl.syntax.parser import parse
from task_helpers import FIRST, VARIABLES, problems, source_of, task_tree

T = 'truth = image("shepp_logan", size = 8x8)\ndata = forward(truth)\n'   # lines FIRST, FIRST + 1
E = FIRST + 2                                                             # the first extra line

# (kind, body, line, column, message substring, hint substring)
CATALOGUE = [
    # unknown keys, with suggestions
    ("invert", T + "regularisr = tv", E, 5, "unknown setting `regularisr` in an `invert` task",
     "did you mean `regulariser`?"),
    ("invert", T + "max_iter = 10", E, 5, "unknown setting `max_iter`",
     "option of the solver: solver = pdhg(max_iter"),
    ("invert", T + "optimizer = adam", E, 5, "unknown setting `optimizer`",
     "is a setting of `train` tasks"),
    ("train", "data = digits\nepoch = 3", FIRST + 1, 5, "unknown setting `epoch` in a `train` task",
     ""),
    ("check", "lambda = 1\nrhoo = 3", FIRST + 1, 5, "unknown setting `rhoo`",
     "did you mean `rho`?"),
    # duplicates and missing keys
    ("invert", T + "alpha = 1\nalpha = 2", E + 1, 5, "`alpha` is set twice",
     f"first set at {E}:5"),
    ("invert", 'truth = image("camera", size = 8x8)', FIRST - 1, 1,
     "`invert net` needs a `data` setting", "e.g. data = forward(truth)"),
    ("train", "loss = mse", FIRST - 1, 1, "`train net` needs a `data` setting", "digits("),
    # wrong value types
    ("invert", T + 'solver = pdhg(tol = "abc")', E, 25,
     '`tol` must be a positive number, got `"abc"`', ""),
    ("invert", T + "seed = -1", E, 12, "`seed` must be an integer >= 0, got `-1`", ""),
    ("invert", T + "save = out", E, 12, "`save` must be a string, got `out`",
     'double quotes: "out"'),
    ("invert", T + "rho = fast", E, 11, "`rho` must be a number from 1e-100 to 1e+100, got `fast`",
     ""),
    ("invert", T + "rho = 1e-101", E, 11, "`rho` must be a number from 1e-100 to 1e+100", ""),
    ("invert", T + "baseline = maybe", E, 16, "`baseline` must be true or false", ""),
    ("invert", T + "dtype = float16", E, 13, "unknown dtype `float16`", "did you mean `float"),
    ("check", "rho = 0", FIRST, 11, "`rho` must be a number from 1e-100 to 1e+100, got `0`", ""),
    ("check", "lambda = 1e-300", FIRST, 14, "`lambda` must be a number from 1e-100", ""),
    # unknown names, with suggestions
    ("invert", T + "solver = pdgh(max_iter = 10)", E, 14, "unknown solver `pdgh`",
     "did you mean `pdhg`?"),
    ("invert", T + "solver = admm", E, 14, "unknown solver `admm`",
     "solvers: `auto`, `coordinate`"),
    ("invert", T + "fidelity = bregmann", E, 16, "unknown fidelity `bregmann`",
     "did you mean `bregman`?"),
    ("invert", T + "fidelity = mse", E, 16, "unknown fidelity `mse`", "is called `l2`"),
    ("invert", 'truth = image("lena", size = 8x8)\ndata = forward(truth)', FIRST, 19,
     "unknown image `lena`", "images: `camera`, `digit`, `mnist`, `shepp_logan`"),
    ("invert", 'truth = imgae("camera")\ndata = forward(truth)', FIRST, 13,
     "unknown form `imgae(...)` for `truth`", "did you mean `image`?"),
    ("invert", T + "regulariser = 0.1 * tvv", E, 25, "unknown regulariser `tvv`",
     "did you mean `tv`?"),
    ("invert", T.replace("forward(truth)", "forward(truth) + poisson(0.1)"), FIRST + 1, 29,
     "unknown form `poisson(...)` for `data`", ""),
    ("train", "data = digits\noptimizer = adamw(lr = 1)", FIRST + 1, 17,
     "unknown optimizer `adamw`", "did you mean `adam`?"),
    ("train", "data = digits\nloss = l2", FIRST + 1, 12, "unknown loss `l2`", "is called `mse`"),
    ("train", 'data = digits(split = "val")', FIRST, 27, "unknown split `val`", ""),
    # bad call arguments
    ("invert", T + "solver = pdhg(max_iters = 10)", E, 19, "`pdhg` has no option `max_iters`",
     "did you mean `max_iter`?"),
    ("invert", T + "solver = pdhg(max_iter = 0)", E, 30,
     "`max_iter` must be an integer >= 1, got `0`", ""),
    ("invert", T + "solver = pdhg(max_iter = 2.5)", E, 30, "`max_iter` must be an integer", ""),
    ("invert", T + "solver = coordinate(tau = 0.1)", E, 25, "`coordinate` has no option `tau`", ""),
    ("invert", T + "solver = pdhg(10)", E, 19, "`pdhg` takes no positional arguments", ""),
    ("invert", T + "regulariser = box(0, 1, lo = 2)", E, 29, "`lo` is given twice in `box`", ""),
    ("invert", T + "solver = gradient(momentum = 1)", E, 34, "0 <= momentum < 1", ""),
    ("train", "data = digits(n = 0)", FIRST, 23, "`n` must be an integer >= 1, got `0`", ""),
    ("train", "data = digits\noptimizer = sgd(lr = -0.1)", FIRST + 1, 26,
     "`lr` must be a positive number, got `-0.1`", ""),
    # alpha and the noise
    ("invert", T + "alpha = -0.5", E, 13, "`alpha` must be a number >= 0, got `-0.5`",
     "cannot be negative"),
    ("invert", T.replace("forward(truth)", "forward(truth) + gaussian(sigma = -1)") +
     "regulariser = tv", FIRST + 1, 46, "`sigma` must be a number >= 0, got `-1`", ""),
    ("invert", T.replace("forward(truth)", "forward(truth) + gaussian(seed = 1)"), FIRST + 1, 29,
     "`gaussian` needs `sigma`", ""),
    ("invert", T.replace("forward(truth)", "forward(truth) + gaussian(sigma = 1, relative = 1)"),
     FIRST + 1, 60, "give `sigma` or `relative`, not both", ""),
    ("invert", T + "regulariser = tv\nalpha = discrepancy(delta = 0.1, tau = 1)", E + 1, 44,
     "`tau` must be a number > 1, got `1`", "τ > 1"),
    ("invert", T + "regulariser = tv\nalpha = discrepancy(tau = 1.2)", E + 1, 13,
     "`discrepancy` needs `delta`", ""),
    ("invert", T + "regulariser = tv\nalpha = apriori(delta = -1)", E + 1, 29,
     "`delta` must be a positive number or `auto`", ""),
    ("invert", T + "regulariser = tv\nalpha = apriori(delta = auto)", E + 1, 29,
     "`delta = auto` needs synthetic noise", ""),
    ("invert", T + "regulariser = nonneg\nalpha = discrepancy(delta = 0.1)", E + 1, 13,
     "has no weighted term", "add tv, l1 or l2sq"),
    ("invert", T + "alpha = discrepancy(delta = 0.1)", E, 13,
     "a parameter-choice rule needs a `regulariser`", ""),
    ("invert", T + "regulariser = tv\nalpha = sweep(1, 0.1)", E + 1, 22,
     "a sweep runs from lo to hi > lo, got lo = 1, hi = 0.1", "sweep(1e-4, 1e-1, n = 12)"),
    ("invert", T + "regulariser = tv\nalpha = sweep(1e-3, 1, n = 2)", E + 1, 32,
     "`n` must be an integer >= 3, got `2`", ""),
    ("invert", T + "regulariser = tv\nalpha = sweep(1e-3, 1, pick = discrepancy)", E + 1, 35,
     "`pick = discrepancy` needs the noise norm `delta`", "or pick = lcurve"),
    ("invert", T + "regulariser = tv\nalpha = sweep(1e-3, 1, pick = corner)", E + 1, 35,
     "unknown pick `corner`", "`lcurve`"),
    ("invert", T + "regulariser = nonneg\nalpha = sweep(1e-3, 1)", E + 1, 13,
     "`sweep` chooses the regulariser's weight", "add tv, l1 or l2sq"),
    ("invert", T + "regulariser = tv\nalpha = sweep(1e-3)", E + 1, 13, "`sweep` needs `hi`", ""),
    ("invert", T + "regulariser = tv\nalpha = sweep(1e-3, 1, delta = auto)", E + 1, 36,
     "`delta = auto` needs synthetic noise", ""),
    ("invert", T + "alpha = morozov(delta = 0.1)", E, 13,
     "unknown parameter-choice rule `morozov`", "rules: `apriori`, `discrepancy`, `sweep`"),
    # regulariser terms
    ("invert", T + "regulariser = 0.1 * tv - l1", E, 28, "terms are added with `+`", ""),
    ("invert", T + "regulariser = -0.1 * tv", E, 19,
     "a regulariser weight must be a positive number, got `-0.1`", ""),
    ("invert", T + "regulariser = 2 * nonneg", E, 19, "`nonneg` is a constraint", "without `2 *`"),
    ("invert", T + "regulariser = box(1, 0)", E, 19, "`box` needs lo < hi", ""),
    ("invert", T + "regulariser = box", E, 19, "`box` needs its parameters: box(lo, hi)", "e.g. box(0, 1)"),
    ("invert", T + "regulariser = tv + 0.5 * tv", E, 24, "`tv` appears twice", ""),
    ("invert", T + "regulariser = l1(z1)", E, 19, "takes no arguments", "penalties on hidden"),
    # combinations that make no sense
    ("invert", 'data = forward(truth)', FIRST, 12, "`forward(truth)` needs a ground truth", ""),
    ("invert", T + "data2 = 1", E, 5, "unknown setting `data2`", ""),
    ("invert", 'truth = image("camera", size = 8x8)\ndata = forward(u)', FIRST + 1, 20,
     "write forward(truth), not forward(u)", ""),
    ("invert", T + "fidelity = l2\nsolver = lifted", E + 1, 14, "`lifted` solves the lifted", ""),
    ("invert", T + "regulariser = tv\nsolver = coordinate", E, 19,
     "the `coordinate` solver handles only `l2sq`", ""),
    ("invert", T + "fidelity = l2\nbaseline = true", E + 1, 16, "already uses `fidelity = l2`", ""),
    ("invert", T + "regulariser = tv\nalpha = sweep(1e-3, 1, n = 3)\nchunk = 4", E + 2, 13,
     "a parameter-choice rule picks one α for the whole batch", "give a fixed alpha"),
    ("invert", T + "chunk = 0", E, 13, "`chunk` must be an integer >= 1, got `0`", ""),
    ("invert", 'truth = image("camera", size = 64)\ndata = forward(truth)', FIRST, 36,
     "an image needs a 2-D size", ""),
    ("invert", 'truth = image("camera", index = 3)\ndata = forward(truth)', FIRST, 37,
     "only applies to image(\"digit\"", ""),
    ("train", "data = digits\nloss = mse\noptimizer = implicit_sgd", FIRST + 2, 17,
     "`implicit_sgd` trains the lifted Bregman loss, but `loss = mse`", "sgd(...) or adam(...)"),
    # penalties
    ("train", "data = digits\npenalty = 0.01 * l1(z4)", FIRST + 1, 25,
     "`z4` is not a variable of network `net`", "variables: `u`, `z1`, `z3`"),
    ("train", "data = digits\npenalty = 0.01 * l1(z)", FIRST + 1, 25,
     "`z` is not a variable of network `net`", "did you mean `z"),
    ("train", "data = digits\npenalty = 0.01 * l1", FIRST + 1, 22, "`l1` needs the variable", ""),
    ("train", "data = digits\npenalty = 0.01 * tv(z1)", FIRST + 1, 22, "unknown penalty `tv`",
     "regulariser of `invert` tasks"),
    ("train", "data = digits\npenalty = 0 * l1(z1)", FIRST + 1, 15,
     "a penalty weight must be a positive number, got `0`", ""),
    ("train", "data = digits\npenalty = l1(z1) + l1(z1)", FIRST + 1, 24, "appears twice", ""),
]


@pytest.mark.parametrize("kind, body, line, column, message, hint", CATALOGUE,
                         ids=[f"{i:02d}-{c[4][:40]}" for i, c in enumerate(CATALOGUE)])
def test_bad_task(kind, body, line, column, message, hint):
    found = problems(build_task, task_tree(body, kind), VARIABLES)
    assert len(found) == 1, found
    (p,) = found
    assert (p.line, p.column) == (line, column), p
    assert message in p.message
    assert hint in p.hint


def test_the_catalogue_is_long_enough():
    assert len(CATALOGUE) >= 15


def test_independent_errors_are_reported_together():
    body = (T + "regularisr = tv\nalpha = -1\nsolver = pdhg(max_iter = 0, tol = x)\n"
            "regulariser = tvv + 2 * nonneg - l1")
    found = problems(build_task, task_tree(body), None)
    where = [(p.line, p.column) for p in found]
    assert where == [(E, 5), (E + 1, 13), (E + 2, 30), (E + 2, 39), (E + 3, 19),
                     (E + 3, 25), (E + 3, 36)]


def test_error_renders_with_file_line_column_and_caret():
    src = source_of(T + "solver = pdhg(max_iters = 10)")
    with pytest.raises(SpecError) as info:
        build_tasks(parse(src, "spec.lbn"))
    text = str(info.value)
    assert text.splitlines()[0] == (f"spec.lbn:{E}:19: error: `pdhg` has no option `max_iters`")
    assert "^^^^" in text and "hint: did you mean `max_iter`?" in text


def test_task_naming_an_unknown_network():
    src = source_of(T, network="nett") + source_of(T, network="other").split("}\n", 1)[1]
    module = parse(src, "spec.lbn")
    with pytest.raises(SpecError) as info:
        check_task_networks(module)
    d = info.value.diagnostics
    assert [(x.span.line, x.span.column) for x in d] == [(FIRST - 1, 8), (FIRST + 3, 8)]
    assert "names network `nett`, which is not defined" in d[0].message
    assert d[0].hint == "did you mean `net`?"
    assert "networks in this file: `net`" in d[1].hint
    assert info.value.source == src


def test_build_tasks_reports_every_task_of_a_file():
    src = (source_of("rho = -1", kind="check")
           + "train net {\n    loss = mse\n}\ninvert nett {\n    data = load(\"f.npy\")\n}\n")
    with pytest.raises(SpecError) as info:
        build_tasks(parse(src, "spec.lbn"), {"net": VARIABLES})
    where = [(d.span.line, d.span.column) for d in info.value.diagnostics]
    assert where == [(FIRST, 11), (FIRST + 2, 1), (FIRST + 5, 8)]


def test_a_good_file_builds_every_task():
    src = source_of(T) + "check net { lambda = 2 }\n"
    tasks = build_tasks(parse(src, "spec.lbn"), {"net": VARIABLES})
    assert [t.kind for t in tasks] == ["invert", "check"]
    check_task_networks(parse(src, "spec.lbn"))  # no error
