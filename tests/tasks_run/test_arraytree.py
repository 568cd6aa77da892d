"""``pack`` / ``unpack``: a solver state survives JSON + ``.npz`` exactly (dtypes, values, NaN,
tuples vs lists, nested results), on NumPy and array_api_strict, and nothing is pickled."""

from __future__ import annotations

import dataclasses
import io
import json
import math

import array_api_strict as xps
import numpy as np
import pytest

from lbdsl.backend import to_numpy
from lbdsl.solvers.base import History, SolveResult
from lbdsl.tasks.arraytree import pack, unpack


def _tree() -> dict:
    rng = np.random.default_rng(0)
    history = History([10, 20], {"objective": [1.5, math.nan], "residual": [math.inf, 1e-300]})
    result = SolveResult(u=rng.standard_normal((2, 3)), iterations=20, stop_reason="interrupted",
                         objective=0.1 + 0.2, residual=-0.0, history=history,
                         lifted={"rho": (np.ones(1, np.float32), np.zeros(1)), "variant": "admm"},
                         message="m", solver="pdhg (admm)",
                         state={"iteration": (rng.standard_normal(4), None, 7, (1.0, None)),
                                "k": 20, "history": history})
    return {"solves": [result], "alphas": [1 / 3], "flags": (True, np.bool_(False)),
            "ints": np.arange(3, dtype=np.int64), "scalar": np.float64(2.5), "empty": {}}


def _through_files(document, arrays):  # noqa: ANN001, ANN202
    """What reading the bytes back gives: the JSON text and a real .npz."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as npz:
        back = {k: np.array(npz[k]) for k in npz.files}
    return json.loads(json.dumps(document)), back


def _equal(a, b) -> None:  # noqa: ANN001
    assert type(a) is type(b) or (hasattr(a, "shape") and hasattr(b, "shape")), (a, b)
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _equal(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _equal(x, y)
    elif dataclasses.is_dataclass(a):
        _equal({f.name: getattr(a, f.name) for f in dataclasses.fields(a)},
               {f.name: getattr(b, f.name) for f in dataclasses.fields(b)})
    elif isinstance(a, float):
        assert (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) ==
                                                     math.copysign(1, b))
    elif hasattr(a, "shape"):
        x, y = to_numpy(a), to_numpy(b)
        assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()
    else:
        assert a == b


@pytest.mark.parametrize("xp", [np, xps], ids=["numpy", "array_api_strict"])
def test_a_state_round_trips_exactly(xp) -> None:  # noqa: ANN001
    tree = _tree()
    document, arrays = pack(tree)
    back = unpack(*_through_files(document, arrays), xp)
    assert isinstance(back["flags"], tuple) and back["flags"] == (True, False)
    assert isinstance(back["solves"][0].state["iteration"], tuple)
    assert back["solves"][0].state["iteration"][1] is None
    u = back["solves"][0].u
    assert not isinstance(u, np.ndarray) if xp is xps else isinstance(u, np.ndarray)
    tree["flags"] = (True, False)   # a NumPy bool comes back as a Python one
    tree["scalar"] = 2.5
    _equal(tree, back)


def test_what_cannot_be_stored_without_a_pickle_is_refused() -> None:
    with pytest.raises(TypeError, match="object arrays"):
        pack({"a": np.array([object()])})
    with pytest.raises(TypeError, match="cannot pack a set"):
        pack({"a": {1, 2}})
    with pytest.raises(TypeError, match="string keys"):
        pack({1: 2})


def test_a_document_not_written_by_pack_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        unpack({"eval": "1 + 1"}, {}, np)
    with pytest.raises(ValueError, match="bare list"):
        unpack([1, 2], {}, np)
    with pytest.raises(KeyError):
        unpack({"array": "a9"}, {}, np)
