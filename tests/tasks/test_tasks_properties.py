"""Properties: a value means the same in a spec and in ``--set``; numbers read back exactly."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from lbdsl.ir.tasks import apply_overrides, build_task
from task_helpers import task_tree, unspanned

BASE = 'data = load("f.npy")'

positive = st.floats(min_value=1e-12, max_value=1e12, allow_nan=False, allow_infinity=False)
values = st.one_of(
    positive.map(lambda x: ("rho", repr(x))),
    positive.map(lambda x: ("alpha", repr(x))),
    st.integers(0, 10**9).map(lambda n: ("seed", str(n))),
    st.tuples(st.sampled_from(["pdhg", "lifted", "gradient", "auto"]), st.integers(1, 10**6),
              positive).map(lambda t: ("solver", f"{t[0]}(max_iter = {t[1]}, tol = {t[2]!r})")),
    st.lists(st.sampled_from(["tv", "l1", "l2sq", "nonneg"]), min_size=1, max_size=4,
             unique=True).map(lambda names: ("regulariser", " + ".join(names))),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(values, min_size=1, max_size=4, unique_by=lambda kv: kv[0]))
def test_override_means_what_the_same_text_means_in_a_spec(pairs):
    in_file = build_task(task_tree(BASE + "\n" + "\n".join(f"{k} = {v}" for k, v in pairs)))
    overridden = build_task(apply_overrides(task_tree(BASE), [f"{k}={v}" for k, v in pairs]))
    assert unspanned(in_file) == unspanned(overridden)


@settings(max_examples=60, deadline=None)
@given(positive)
def test_numbers_read_back_exactly(x):
    t = build_task(task_tree(f"{BASE}\nrho = {x!r}\nlambda = {x:.17g}"))
    assert t.rho == x and t.lam == x
