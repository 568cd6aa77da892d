"""How many threads BLAS uses in a run: the same count for every task, here and on workers.

A matrix product's rounding depends on how many threads split its sums (OpenBLAS and MKL
partition them by thread count), so a task solved on a Dask worker — which Dask starts with
one BLAS thread — differed from the same task solved here by up to 1e-11.  A run therefore
reads this process's count once (or takes ``--threads N``) and every task, here or on a
worker, runs under that limit (threadpoolctl): the same count, the same bits.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["blas_threads", "pinned"]


def blas_threads() -> int | None:
    """The number of threads this process's BLAS libraries use (the largest, when several are
    loaded), None when none is loaded that threadpoolctl knows."""
    from threadpoolctl import threadpool_info

    counts = [int(lib["num_threads"]) for lib in threadpool_info()
              if lib.get("user_api") == "blas" and lib.get("num_threads")]
    return max(counts) if counts else None


@contextmanager
def pinned(threads: int | None, scipy: bool = True) -> Iterator[None]:
    """BLAS limited to ``threads`` threads inside the block (None: left as it is).  A BLAS
    library loaded inside the block keeps its own default count, so NumPy's — and, unless the
    block never uses it (``scipy = False``: no import paid for it), SciPy's — are loaded
    first."""
    if threads is None:
        yield
        return
    import numpy  # noqa: F401
    if scipy:
        import scipy.linalg  # noqa: F401
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=int(threads), user_api="blas"):
        yield
