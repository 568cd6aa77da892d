"""The Python API: what the command line does, with results you can use in Python.

    >>> import lbdsl
    >>> spec = lbdsl.load("specs/perceptron.lbn")          # parse and build (SpecError if bad)
    >>> spec.check()                                       # {network: Certificate}
    >>> print(spec.show())                                 # layers, shapes, tasks
    >>> results = spec.solve(out="results/", overrides=["alpha=0.02"])
    >>> results[0].u.shape, results[0].report["psnr"], results[0].path
    >>> spec = lbdsl.loads("network n { input u : 4 ... }")  # a spec from a string
    >>> spec.forward(x)                                    # N(u) on a batch (*B, *input shape)

``solve`` runs every task like ``lbdsl solve`` (same folders, same files, same printed
certificate, progress and summary; ``verbose=False`` prints nothing) and returns one
:class:`~lbdsl.tasks.result.TaskResult` per task.  A task that fails does not stop the others:
its result has ``status`` ``"failed"`` or ``"spec_error"`` and the message in ``error``.
Errors that concern the whole spec (it does not parse, an override is wrong, the backend cannot
run here) are raised: :class:`~lbdsl.errors.SpecError`, :class:`~lbdsl.errors.BackendError`.
"""

from __future__ import annotations

import dataclasses
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from . import pipeline
from .bounded import read_npz
from .certify.certificate import Certificate
from .errors import LbdslError
from .ir.nodes import NetworkIR, format_shape
from .limits import MAX_THREADS
from .tasks.result import TaskResult

__all__ = ["Spec", "load", "loads"]


class Spec:
    """A loaded ``.lbn`` spec (``None`` path: the built-in demo; ``text``: a spec from a
    string, see :func:`loads`)."""

    def __init__(self, path: str | Path | None = None, overrides: tuple[str, ...] = (),
                 text: str | None = None):
        self.path = None if path is None else Path(path)
        # where it is now: a later chdir must not move the spec `invert` re-reads
        self._where = None if path is None else Path(path).absolute()
        self.text = text
        self.overrides = tuple(overrides)
        self.program = self._program(self.overrides)

    def _program(self, overrides: tuple[str, ...]) -> pipeline.Program:
        if self.text is not None:
            return pipeline.loads(self.text, overrides=overrides)
        return pipeline.load(self.path, overrides=overrides)

    def __repr__(self) -> str:
        nets = ", ".join(f"{n.name} ({format_shape(n.input_shape)} → "
                         f"{format_shape(n.output_shape)}, {len(n.layers)} layers)"
                         for n in self.program.networks.values())
        tasks = ", ".join(f"{t.kind} {t.network}" for t in self.program.tasks)
        where = "<string>" if self.text is not None else (self.path or "demo")
        return f"<lbdsl.Spec {where}: networks [{nets}], tasks [{tasks}]>"

    #: the networks by name, and the typed tasks in spec order
    networks = property(lambda self: self.program.networks)
    tasks = property(lambda self: self.program.tasks)

    def to_text(self) -> str:
        """The spec as ``.lbn`` text (what was parsed, before ``--set`` overrides)."""
        return self.program.module.source if self.text is None else self.text

    def network(self, name: str | None = None) -> NetworkIR:
        """The network called ``name`` (None: the spec's only one)."""
        nets = self.program.networks
        if name is None:
            if len(nets) != 1:
                raise LbdslError(f"the spec has {len(nets)} networks ({', '.join(nets)}); "
                                 "name one")
            return next(iter(nets.values()))
        if name not in nets:
            raise LbdslError(f"no network `{name}` in the spec (it has {', '.join(nets)})")
        return nets[name]

    def forward(self, x: Any, network: str | None = None) -> np.ndarray:
        """``N(x)`` by the network runtime, float64 on the host: ``x`` of shape
        ``(*batch, *input_shape)`` (any array the array API can bring to the host: NumPy,
        CuPy) gives ``(*batch, *output_shape)``."""
        from .backend import real_array
        from .tasks.data import forward

        net = self.network(network)
        x = real_array(x, "forward: x")
        k = len(net.input_shape)
        if x.ndim < k or tuple(x.shape[x.ndim - k:]) != tuple(net.input_shape):
            raise LbdslError(f"forward: x has shape {x.shape}; network `{net.name}` takes "
                             f"(*batch, {', '.join(map(str, net.input_shape))})")
        return forward(net, x, tuple(x.shape[:x.ndim - k]))

    def invert(self, data: Any, *, truth: Any = None, network: str | None = None,
               regulariser: str | None = "tv", alpha: float | str | None = None,
               verbose: bool = False, backend: str = "numpy", **settings: Any) -> TaskResult:
        """Recover ``network``'s input from the array ``data`` — an ``invert`` task with
        ``data = given`` (and ``truth = given`` when ``truth`` is passed: PSNR/SSIM against
        it) written for you and solved in memory; the spec's own tasks are not run.

        ``min_u F(N(u), f) + α·J(u)``: ``regulariser`` and every other setting of an
        ``invert`` task (``fidelity = "hybrid"``, ``solver = "pdhg(max_iter = 2000)"``,
        ``threshold = "none"``, ``baseline = True``) as it is written in a spec
        (docs/language.md §5), numbers and booleans as Python values.  Returns the
        :class:`TaskResult`: ``u`` the reconstruction, ``report`` the report as a dict,
        ``figures`` its PNG figures.
        """
        from .ir.tasks import SCHEMAS, canonical_key

        net = self.network(network)
        written = {k: v for k, v in {"regulariser": regulariser, "alpha": alpha,
                                     **settings}.items() if v is not None}
        keys = set(SCHEMAS["invert"].readers) - {"data", "truth"}
        for key in written:
            if canonical_key(key) not in keys:
                raise LbdslError(f"invert: `{key}` is not a setting of an invert task (they "
                                 f"are {', '.join(sorted(keys))})")
        lines = ["data = given"] + (["truth = given"] if truth is not None else [])
        lines += [f"{key} = {_spec_value(key, value)}" for key, value in written.items()]
        task = f"\ninvert {net.name} {{\n" + "".join(f"    {line}\n" for line in lines) + "}\n"
        file = str(self._where) if self._where is not None else "<invert>"
        program = pipeline.loads(self.to_text() + task, file=file)
        mine = program.ir.tasks[-1]
        expected = {canonical_key(k) for k in written} | {"data"} | (
            {"truth"} if truth is not None else set())
        if len(program.ir.tasks) != len(self.program.tasks) + 1 or set(mine.given) != expected:
            raise LbdslError("invert: a setting's value wrote more than one setting: give each "
                             "as one expression")
        program = dataclasses.replace(program, ir=dataclasses.replace(
            program.ir, tasks=(mine,)))     # only the task written here
        from .terminal import quiet_console

        console = None if verbose else quiet_console()
        given = {"data": data, **({"truth": truth} if truth is not None else {})}
        import tempfile

        with tempfile.TemporaryDirectory(prefix="lbdsl-") as tmp:
            [result] = pipeline.solve(program, backend=backend, out=tmp, console=console,
                                      errors=console, given=given)
            result.figures = _figures(result.path)
        _forget_folder(result, tmp)
        return result

    def export_onnx(self, out: str | Path, network: str | None = None,
                    weights: str | Path | dict[str, np.ndarray] | None = None,
                    dtype: str = "float32") -> Path:
        """Write the network as an ONNX model (``lbdsl export``): its own weights, or those
        of a ``weights.npz`` (a train task's) or a dict."""
        from .exchange import export_onnx

        if isinstance(weights, (str, Path)):
            try:   # each array's declared size checked before it is read (lbdsl.bounded)
                weights = read_npz(weights)
            except (OSError, ValueError, AttributeError, EOFError, zipfile.BadZipFile,
                    zlib.error) as exc:
                raise LbdslError(f"cannot read the weights {weights}: "
                                 f"{getattr(exc, 'strerror', None) or exc}") from None
        return export_onnx(self.network(network), out, weights, dtype)

    def to_torch(self, network: str | None = None) -> Any:
        """The equivalent ``torch.nn.Sequential`` (float64) of a feed-forward network."""
        from .exchange import to_torch

        return to_torch(self.network(network))

    def check(self, lam: float | None = None, rho: float | None = None,
              ) -> dict[str, Certificate]:
        """The convexity certificate of every network (``lbdsl check``)."""
        return pipeline.check(self.program, lam, rho)

    def show(self, lifted: bool = False) -> str:
        """The readable summary ``lbdsl show`` prints."""
        return pipeline.show(self.program, lifted=lifted)

    def solve(self, backend: str = "numpy", out: str | Path | None = None,
              overrides: tuple[str, ...] | list[str] = (), verbose: bool = True,
              resume: bool = False, allow_outside: bool = False,
              in_memory: bool | None = None, client: Any = None, *,
              data: Any = None, truth: Any = None,
              threads: int | None = None) -> list[TaskResult]:
        """Run every task (``lbdsl solve``); ``overrides`` are ``--set KEY=VALUE`` strings
        applied after the ones given to :func:`load`; ``resume`` continues each task an
        interrupted run left a ``checkpoint.npz`` for (``lbdsl solve --resume``);
        ``allow_outside`` lets a ``save`` write outside the output root (``--allow-outside``).

        ``in_memory`` (default: for a spec from :func:`loads` without ``out``) keeps nothing
        on disk: the tasks write into a temporary folder, which is removed once the results
        (arrays and report) are read back; each result's ``path`` is then None.  ``client``
        (a ``dask.distributed.Client``) runs the tasks as futures on its workers, with the
        same folders and numbers as a serial run (:mod:`lbdsl.distributed`).

        ``data`` and ``truth`` (NumPy or CuPy arrays) are what the tasks written
        ``data = given`` / ``truth = given`` take, in the shape of the network's output /
        input (or a batch of them); a result's ``figures`` holds its PNG figures as bytes
        either way, and ``verbose=False`` prints nothing, in a terminal or in Jupyter.
        ``threads``: BLAS threads for every task, as ``--threads`` (default: this process's
        count, which Dask workers then use too, so that their results are the serial ones)."""
        given = {k: v for k, v in (("data", data), ("truth", truth)) if v is not None}
        if given and client is not None:
            raise LbdslError("arrays passed with data= / truth= stay in this process: solve "
                             "without a Dask client, or save them and use load(...)")
        _check_given(self.program.tasks, given)
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                    or not 1 <= threads <= MAX_THREADS):
            raise LbdslError(f"threads must be an integer from 1 to {MAX_THREADS}, got "
                             f"{threads!r}")
        if in_memory is None:
            in_memory = self.text is not None and out is None
        if in_memory:
            import tempfile

            if out is not None or resume:
                raise LbdslError("in_memory solves take neither `out` nor `resume`")
            with tempfile.TemporaryDirectory(prefix="lbdsl-") as tmp:
                results = self.solve(backend, tmp, overrides, verbose, False, allow_outside,
                                     in_memory=False, client=client, threads=threads,
                                     **given)
            for result in results:
                _forget_folder(result, tmp)
            return results
        from .terminal import quiet_console

        every = self.overrides + tuple(overrides)
        program = self.program if not overrides else self._program(every)
        console = errors = None
        if not verbose:
            console = errors = quiet_console()
        executor = None
        if client is not None:
            from .distributed import DaskExecutor

            executor = DaskExecutor(client, ())
        results = pipeline.solve(program, backend=backend, out=out, overrides=every,
                                 console=console, errors=errors, resume=resume,
                                 allow_outside=allow_outside, executor=executor, given=given,
                                 threads=threads)
        for result in results:
            result.figures = _figures(result.path)
        return results


def _forget_folder(result: TaskResult, tmp: str) -> None:
    """An in-memory result: no folder, and no message naming the temporary one (it is gone:
    "its last finite iterate is in /tmp/lbdsl-…" would send the user to nothing)."""
    if result.path is not None and result.error:
        result.error = result.error.replace(str(result.path), "the result (in memory)")
    if result.error:
        result.error = result.error.replace(tmp, "(in memory)")
    result.path = None


def _check_given(tasks: Any, given: dict[str, Any]) -> None:
    """Refuse an array that no task takes (its ``data`` / ``truth`` is not ``given``): it
    would be ignored without a word."""
    from .ir.tasks.records import GivenData, GivenTruth

    kinds = {"data": GivenData, "truth": GivenTruth}
    for key in given:
        if not any(isinstance(getattr(t, key, None), kinds[key]) for t in tasks):
            raise LbdslError(f"{key}= was passed, but no task of the spec takes it: write "
                             f"`{key} = given` in the invert task (or use spec.invert)")


def _spec_value(key: str, value: Any) -> str:
    """A Python value as the right-hand side of ``key = ...`` in a spec: booleans as
    ``true``/``false``, numbers by ``repr``, strings as written (one line, spec text)."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, float, np.integer, np.floating)):
        return repr(float(value)) if isinstance(value, (float, np.floating)) else str(int(value))
    if isinstance(value, str) and value.strip() and not any(c in value for c in "\n\r{}#;"):
        return value
    raise LbdslError(f"invert: `{key}` must be a number, a boolean or one line of spec text "
                     f"such as \"0.02 * tv\", got {value!r}")


#: The most figure bytes read back into one result (each figure a few hundred kB at most).
_MAX_FIGURE_BYTES = 16 * 1024 * 1024


def _figures(folder: Path | None) -> dict[str, bytes]:
    """The PNG figures a task wrote into ``folder`` (regular files only, bounded)."""
    out: dict[str, bytes] = {}
    if folder is None or not Path(folder).is_dir():
        return out
    for path in sorted(Path(folder).glob("*.png")):
        if path.is_symlink() or not path.is_file() or path.stat().st_size > _MAX_FIGURE_BYTES:
            continue
        out[path.name] = path.read_bytes()
    return out


def load(path: str | Path | None = None, overrides: tuple[str, ...] | list[str] = ()) -> Spec:
    """Parse and build the spec at ``path`` (``None``: the built-in demo)."""
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"lbdsl.load takes a file path (str or os.PathLike), not "
                        f"{type(path).__name__}" + ("; for spec text use lbdsl.loads"
                                                    if isinstance(path, bytes) else ""))
    return Spec(path, _overrides(overrides))


def loads(text: str, overrides: tuple[str, ...] | list[str] = ()) -> Spec:
    """Parse and build a spec given as a string: errors point into it as ``<string>:L:C``;
    ``load("f.npz")`` paths are relative to the working directory."""
    if not isinstance(text, str):
        advice = {bytes: "; decode it first: lbdsl.loads(data.decode('utf-8'))",
                  type(None): "; lbdsl.load() is the built-in demo"}
        hint = "; for a file use lbdsl.load(path)" if isinstance(text, os.PathLike) else \
            advice.get(type(text), "")
        raise TypeError(f"lbdsl.loads takes the spec's text (str), not "
                        f"{type(text).__name__}{hint}")
    return Spec(None, _overrides(overrides), text=text)


def _overrides(overrides: Any) -> tuple[str, ...]:
    """``--set`` overrides as a tuple of strings (one string alone would be read letter by
    letter)."""
    if isinstance(overrides, str) or not all(isinstance(o, str) for o in overrides):
        raise TypeError("overrides are a list of 'KEY=VALUE' strings, e.g. ['alpha=2']")
    return tuple(overrides)
