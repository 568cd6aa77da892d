"""Shared fixtures: the array backends every numerical test runs on, and hypothesis settings.

``xp`` is parametrised over NumPy and ``array_api_strict`` (the strict one rejects anything
outside the array-API standard, so a kernel that passes on it runs on CuPy too).  Hypothesis
runs without deadlines (no test may depend on the clock) and without an example database.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import settings

from lbdsl.backend import namespace

settings.register_profile("lbdsl", deadline=None, database=None, max_examples=60,
                          derandomize=True, print_blob=True)
settings.load_profile("lbdsl")

#: the backends the ``xp`` fixture runs on; ``LBDSL_BACKENDS=cupy`` (bench/gpu.sh) adds or picks
#: others, e.g. ``LBDSL_BACKENDS=cupy pytest -k cupy`` runs the backend-parametrised subset there
BACKEND_NAMES = tuple(os.environ.get("LBDSL_BACKENDS", "numpy,array_api_strict").split(","))


@pytest.fixture(scope="session", params=BACKEND_NAMES)
def xp(request: pytest.FixtureRequest) -> Any:
    """An array-API namespace: NumPy's (via array-api-compat) and ``array_api_strict``."""
    return namespace(request.param)
