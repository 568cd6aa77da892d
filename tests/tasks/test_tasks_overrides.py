"""``apply_overrides``: ``lbdsl solve --set key=value`` replaces or adds settings; a malformed
override is a SpecError located in the override text (file ``--set``, line = its position)."""

from __future__ import annotations

import pytest

from lbdsl.errors import SpecError
from lbdsl.ir.tasks import OVERRIDE_FILE, apply_overrides, build_task
from task_helpers import FIRST, problems, task_tree

BODY = ('truth = image("camera", size = 8x8)\ndata = forward(truth)\n'
        "regulariser = 0.01 * tv\nsolver = pdhg(max_iter = 10, tol = 1e-3)")


def test_override_replaces_a_key_in_place():
    task = task_tree(BODY)
    new = apply_overrides(task, ["regulariser=0.02 * tv + nonneg"])
    assert [s.key.id for s in new.settings] == [s.key.id for s in task.settings]
    built = build_task(new)
    assert [(t.name, t.weight) for t in built.regulariser.terms] == [("tv", 0.02), ("nonneg", 1.0)]
    span = built.spans["regulariser"]
    assert (span.file, span.line, span.column) == (OVERRIDE_FILE, 1, 13)


def test_override_adds_a_missing_key():
    built = build_task(apply_overrides(task_tree(BODY), ["alpha=0.5", "rho = 20"]))
    assert (built.alpha.value, built.rho) == (0.5, 20.0)
    assert (built.spans["rho"].file, built.spans["rho"].line, built.spans["rho"].column) == \
        (OVERRIDE_FILE, 2, 7)
    assert (built.spans["truth"].file, built.spans["truth"].line) == ("t.lbn", FIRST)


def test_later_overrides_win_and_aliases_replace_their_key():
    new = apply_overrides(task_tree(BODY), ["alpha=1", "alpha=2", "regularizer=l1"])
    built = build_task(new)
    assert built.alpha.value == 2.0 and [t.name for t in built.regulariser.terms] == ["l1"]
    assert sum(s.key.id in ("regulariser", "regularizer") for s in new.settings) == 1


def test_dotted_override_changes_one_option_of_a_call():
    built = build_task(apply_overrides(task_tree(BODY), ["solver.max_iter=1e4", "solver.tau=0.5"]))
    assert (built.solver.name, built.solver.max_iter, built.solver.tol) == ("pdhg", 10000, 1e-3)
    assert dict(built.solver.options) == {"tau": 0.5}
    assert built.solver.spans["max_iter"].file == OVERRIDE_FILE
    assert built.solver.spans["tol"].file == "t.lbn"


def test_dotted_override_of_a_bare_name_and_of_the_default_solver():
    body = 'data = load("f.npy")\nfidelity = bregman'
    built = build_task(apply_overrides(task_tree(body), ["solver.max_iter=7"]))
    assert (built.solver.name, built.solver.max_iter) == ("auto", 7)
    built = build_task(apply_overrides(task_tree(body + "\nsolver = lifted"), ["solver.tol=1e-9"]))
    assert (built.solver.name, built.solver.tol) == ("lifted", 1e-9)


def test_a_bad_value_is_reported_by_build_task_at_the_override():
    new = apply_overrides(task_tree(BODY), ["rho=1", "alpha=-2"])
    with pytest.raises(SpecError) as info:
        build_task(new)
    (d,) = info.value.diagnostics
    assert (d.span.file, d.span.line, d.span.column) == (OVERRIDE_FILE, 2, 7)
    assert "`alpha` must be a number >= 0" in d.message


def test_an_unknown_key_is_kept_for_build_task_or_skipped_on_request():
    new = apply_overrides(task_tree(BODY), ["optimizer=adam"])
    (p,) = problems(build_task, new, None)
    assert (p.line, p.column) == (1, 1) and "unknown setting `optimizer`" in p.message
    skipped = apply_overrides(task_tree(BODY), ["optimizer=adam", "rho=3"], only_known_keys=True)
    assert build_task(skipped).rho == 3.0


@pytest.mark.parametrize("text, column, message", [
    ("alpha", 1, "expected KEY=VALUE, got `alpha`"),
    ("alpha=", 6, "missing value after `alpha=`"),
    ("x y=1", 1, "`x y` is not a setting name"),
    ("9a=1", 1, "`9a` is not a setting name"),
    ("tol=(1", 7, "is not one complete expression"),
    ("solver=pdhg(max_iter = 1", 25, "is not one complete expression"),
    ('save="abc', 6, "unterminated string"),
    ("rho=1 } network x {", 5, "must be one expression"),
    ("fidelity.x=1", 1, "`fidelity` is not set in this `invert` task"),
    ("truth.size=1", 1, "`truth` is not set"),
    ("regulariser.x=1", 1, "`regulariser` is not a call"),
])
def test_malformed_overrides_name_the_override(text, column, message):
    body = BODY if not text.startswith("truth") else 'data = load("f.npy")\nrho = 1'
    with pytest.raises(SpecError) as info:
        apply_overrides(task_tree(body), ["rho=2", text])
    (d,) = info.value.diagnostics
    assert (d.span.file, d.span.line, d.span.column) == (OVERRIDE_FILE, 2, column), d
    assert message in d.message
    assert str(info.value).startswith(f"--set:2:{column}: error: ")
    assert info.value.source == f"rho=2\n{text}"


def test_all_malformed_overrides_are_reported_together():
    with pytest.raises(SpecError) as info:
        apply_overrides(task_tree(BODY), ["a", "rho=2", "b=", "c=(("])
    assert [d.span.line for d in info.value.diagnostics] == [1, 3, 4]


def test_overrides_work_on_check_and_train_tasks():
    check = build_task(apply_overrides(task_tree("lambda = 1", "check"), ["rho=200"]))
    assert (check.lam, check.rho) == (1.0, 200.0)
    t = build_task(apply_overrides(task_tree("data = digits\noptimizer = adam", "train"),
                                   ["optimizer.epochs=3", "loss=mse"]))
    assert (t.optimizer.name, t.optimizer.epochs, t.loss) == ("adam", 3, "mse")


def test_module_overrides_apply_to_the_tasks_that_have_the_key():
    from lbdsl.ir.tasks import apply_overrides_to_module, build_tasks
    from lbdsl.syntax.parser import parse
    from task_helpers import source_of

    src = source_of(BODY) + "train net {\n    data = digits\n}\ncheck net { lambda = 2 }\n"
    module = apply_overrides_to_module(parse(src, "t.lbn"), ["rho=300", "seed=5"])
    invert, train, check = build_tasks(module)
    assert (invert.rho, invert.seed, train.seed, check.rho) == (300.0, 5, 5, 300.0)
    assert "rho" not in train.given


def test_module_override_that_no_task_accepts_is_an_error():
    from lbdsl.ir.tasks import apply_overrides_to_module
    from lbdsl.syntax.parser import parse
    from task_helpers import source_of

    module = parse(source_of("lambda = 1", "check"), "t.lbn")
    with pytest.raises(SpecError) as info:
        apply_overrides_to_module(module, ["rho=3", "rhoo=2", "alpha=1"])
    found = [(d.span.line, d.span.column, d.message, d.hint) for d in info.value.diagnostics]
    assert found == [
        (2, 1, "no task of t.lbn has a setting `rhoo` (task kinds: `check`)",
         "did you mean `rho`?"),
        (3, 1, "no task of t.lbn has a setting `alpha` (task kinds: `check`)",
         "settings of this file's tasks: `lambda`, `rho`"),
    ]
