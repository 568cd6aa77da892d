"""Hypothesis: every prox, conjugate prox and value stays finite for |v| ≤ 1e3, c ∈ [1e-6, 1e6]."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lbdsl.backend import asarray, to_numpy
from lbdsl.prox.regularisers import (TV, L1, Box, L2Squared, MixedNorm21, NonNeg, Regulariser,
                                     Weighted)

REGULARISERS: list[tuple[Regulariser, tuple[int, ...]]] = [
    (L1(), (6,)), (L2Squared(), (6,)), (NonNeg(), (6,)), (Box(-1.0, 2.0), (6,)),
    (Box(0.0, math.inf), (6,)), (Box(-math.inf, -3.0), (6,)), (MixedNorm21(axis=-3), (2, 3, 3)),
    (Weighted(L1(), 1e-3), (6,)), (TV((7,)), (7,)), (TV((3, 4)), (3, 4)),
]
SETTINGS = settings(max_examples=80, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def values(dtype: type, shape: tuple[int, ...]) -> st.SearchStrategy:
    return arrays(dtype, shape, elements=st.floats(-1e3, 1e3, width=np.dtype(dtype).itemsize * 8))


steps = st.floats(1e-6, 1e6)


@SETTINGS
@given(data=st.data(), c=steps, dtype=st.sampled_from([np.float64, np.float32]))
def test_finite_at_extreme_values(xp, data, c, dtype):
    reg, shape = data.draw(st.sampled_from(REGULARISERS))
    v = data.draw(values(dtype, shape))
    xdtype = xp.float64 if dtype is np.float64 else xp.float32
    x = asarray(xp, v, xdtype)
    options = {"max_iter": 50} if isinstance(reg, TV) else {}
    p = reg.prox(x, c, **options)
    w = reg.conj_prox(x, c, **options)
    for out in (p, w):
        assert out.dtype == xdtype and tuple(out.shape) == shape
        assert np.all(np.isfinite(to_numpy(out)))
    # the prox lands in dom J, the conjugate prox in dom J* (indicators within their slack)
    assert math.isfinite(float(reg.value(p)))
    if not isinstance(reg, TV):
        assert math.isfinite(float(reg.conj(w)))
    else:  # TV's prox keeps the mean; its conjugate prox lies in range(∇ᵀ), of mean 0
        slack = (1e-3 if dtype is np.float32 else 1e-9) * (1.0 + float(np.max(np.abs(v))))
        mean_p = float(np.mean(to_numpy(p), dtype=np.float64))
        assert abs(mean_p - float(np.mean(v, dtype=np.float64))) <= slack
        assert abs(float(np.mean(to_numpy(w), dtype=np.float64))) <= slack
