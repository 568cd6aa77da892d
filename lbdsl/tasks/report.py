"""``report.json`` and ``result.npz`` of an ``invert`` task, and the quality metrics.

Metrics against a known truth use scikit-image: ``psnr`` with ``data_range`` = the truth's
range (max − min; 1 for a constant truth), ``ssim`` for 2-D images (window 7, or the largest odd
size that fits), and ``relative_error`` = ‖u − u†‖₂ / ‖u†‖₂.  JSON never holds NaN or ±∞: a
non-finite number is written as ``null``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import platform
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..backend import to_numpy
from ..outputs import write_bytes_atomic, write_json_atomic
from ..errors import span_text
from ..solvers.base import SolveResult

__all__ = ["quality", "written_settings", "default_settings", "versions", "spec_sha256",
           "result_arrays", "result_summary", "history_arrays", "json_safe"]

#: The documented defaults of an ``invert`` task (key as written → task attribute).


def json_safe(value: Any) -> Any:
    """``value`` with NumPy scalars as Python numbers, tuples as lists, NaN/±∞ as None."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, str):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return json_safe({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    if hasattr(value, "items"):
        return json_safe(dict(value.items()))
    return str(value)


# --- quality ---------------------------------------------------------------------------------

def _ssim_window(shape: tuple[int, ...]) -> int | None:
    side = min(shape)
    if side < 3:
        return None
    return min(7, side if side % 2 else side - 1)


def quality(truth: np.ndarray, u: np.ndarray, image: bool) -> dict[str, Any]:
    """``psnr``, ``ssim`` (images only, else None), ``relative_error`` and the PSNR data range."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    truth = np.asarray(truth, dtype=np.float64)
    u = np.asarray(u, dtype=np.float64).reshape(truth.shape)
    span = float(truth.max() - truth.min()) if truth.size else 0.0
    data_range = span if span > 0 else 1.0
    out: dict[str, Any] = {"psnr_data_range": data_range}
    if not np.all(np.isfinite(u)):
        out.update(psnr=None, ssim=None, relative_error=None)
        return out
    mse = float(np.mean((truth - u) ** 2))
    out["psnr"] = (float(peak_signal_noise_ratio(truth, u, data_range=data_range))
                   if mse > 0 else math.inf)
    ssim = None
    if image:
        t2, u2 = np.squeeze(truth), np.squeeze(u)
        win = _ssim_window(t2.shape) if t2.ndim == 2 else None
        if win is not None:
            ssim = float(structural_similarity(t2, u2, data_range=data_range, win_size=win))
    out["ssim"] = ssim
    norm = float(np.linalg.norm(truth))
    out["relative_error"] = float(np.linalg.norm(u - truth) / norm) if norm > 0 else None
    return out


# --- settings --------------------------------------------------------------------------------

def written_settings(task: Any, source: str, overrides: dict[str, str]) -> dict[str, str]:
    """Each written setting as its source text (``--set`` ones from the override text)."""
    out: dict[str, str] = {}
    for key, span in task.spans.items():
        text = overrides.get(span.file, source) if span.file in overrides else source
        out[key] = span_text(text, span)
    return out


def _default_value(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        if type(value).__name__ == "FixedAlpha":
            return value.value
        if hasattr(value, "terms"):            # no regulariser, no penalty
            return None
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)
                  if f.name not in ("spans", "span", "given", "args")}
        if "options" in fields:
            fields["options"] = dict(fields["options"] or {})
        if hasattr(value, "name"):             # a solver or an optimizer call
            fields = {"name": value.name, **{k: v for k, v in fields.items() if k != "name"}}
        return json_safe(fields)
    return json_safe(value)


def default_settings(task: Any) -> dict[str, Any]:
    """The defaults of the settings the spec left out (its kind's schema says which)."""
    from ..ir.tasks.build import SCHEMAS

    return {key: _default_value(value)
            for key, value in SCHEMAS[task.kind].unwritten(task).items()}


# --- provenance ------------------------------------------------------------------------------

def versions() -> dict[str, str]:
    import scipy

    return {"lbdsl": __version__, "numpy": np.__version__, "scipy": scipy.__version__,
            "python": platform.python_version()}


def spec_sha256(source: str) -> str:
    """sha256 of the spec's text as the run read it (UTF-8): the file is never read again,
    it may have changed since."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def provenance(backend: str, dtype: str, seed: int, spec_file: str, source: str
               ) -> dict[str, Any]:
    """What produced a result: backend, dtype, seed, BLAS threads (they change the rounding),
    package versions and the spec's hash."""
    from ..threads import blas_threads

    return {"backend": backend, "dtype": dtype, "seed": seed, "blas_threads": blas_threads(),
            "versions": versions(), "spec": {"file": spec_file, "sha256": spec_sha256(source)}}


# --- arrays ----------------------------------------------------------------------------------

def history_arrays(prefix: str, result: SolveResult) -> dict[str, np.ndarray]:
    """``{prefix + metric: values}`` of a solve's history (for ``result.npz``)."""
    return {f"{prefix}{key}": np.asarray(values, dtype=np.float64)
            for key, values in result.history.as_arrays().items()}


def _numeric(value: Any) -> np.ndarray | None:
    """``value`` as a host array if it is a real numeric array (never an object array)."""
    if value is None or isinstance(value, (str, bytes, tuple, list, dict, float, int)):
        return None
    try:
        array = np.asarray(to_numpy(value))
    except Exception:
        return None
    return array if array.dtype.kind in "biuf" and array.ndim >= 1 else None


def result_arrays(result: SolveResult, u: np.ndarray, *, f: np.ndarray, f_solver: np.ndarray,
                  truth: np.ndarray | None, clean: np.ndarray | None,
                  baseline: SolveResult | None, u_baseline: np.ndarray | None,
                  ) -> dict[str, np.ndarray]:
    """Everything ``result.npz`` holds."""
    arrays: dict[str, np.ndarray] = {"u": u, "f": f, "f_solver": f_solver}
    for key, value in (result.lifted or {}).items():
        array = _numeric(value)
        if array is not None:  # solver bookkeeping that is not an array is not saved
            arrays[{"u": "u_full", "z": "z"}.get(key, f"lifted_{key}")] = array
    if truth is not None:
        arrays["truth"] = truth
    if clean is not None:
        arrays["f_clean"] = clean
    arrays.update(history_arrays("history_", result))
    if baseline is not None and u_baseline is not None:
        arrays["u_baseline"] = u_baseline
        arrays.update(history_arrays("baseline_history_", baseline))
    return {k: np.asarray(v) for k, v in arrays.items()}


def result_summary(result: SolveResult, time_s: float | None) -> dict[str, Any]:
    """How one solve ended: iterations, stop reason, time, objective, residual."""
    return {"iterations": int(result.iterations), "stop_reason": result.stop_reason,
            "converged": result.stop_reason == "tol", "message": result.message,
            "time_s": time_s, "objective": float(result.objective),
            "residual": float(result.residual)}


def finish_folder(folder: Path, written: list[str], figures: dict[str, bytes],
                  report: dict[str, Any], own_files: tuple[str, ...]) -> None:
    """Write the figures, remove this task kind's files an earlier run left that this run did
    not write, and write ``report.json`` last — so a folder with a report is complete."""
    for name, data in figures.items():
        write_bytes_atomic(folder / name, data)
        written.append(name)
    written.append("report.json")
    report["files"] = written
    for name in own_files:
        if name not in written:
            (folder / name).unlink(missing_ok=True)
    write_json_atomic(folder / "report.json", json_safe(report))
