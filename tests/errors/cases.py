"""The catalogue of bad inputs: each case is a CLI call on tiny files, its exit status and a
substring of its message.

Used by ``tests/errors/test_bad_input_cli.py`` (which asserts every row) and by
``scripts/make_errors_doc.py`` (which renders the rows as ``docs/errors.md``).  A case runs in a
fresh, empty working directory: :func:`run_case` writes its files there, changes into it, calls
``lbdsl.cli.main`` (or ``python -m lbdsl`` for ``subprocess`` cases) and returns the outcome.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lbdsl.tasks.invert.checkpoint import FORMAT as INVERT_FORMAT

__all__ = ["CASES", "Case", "Outcome", "run_case", "skip_reason"]

#: file content: text, bytes, or a function that writes the file at the given path
Content = str | bytes | Callable[[Path], None]


@dataclass(frozen=True)
class Case:
    """One bad input: the call, what it must exit with, and a substring of what it must say."""

    cls: str                       # the class of mistake, a column of docs/errors.md
    name: str                      # a short unique id (the pytest id)
    argv: tuple[str, ...]          # the CLI arguments, run in the case's working directory
    status: int                    # the expected exit status
    message: str                   # a substring of stdout + stderr
    input: str = ""                # what is wrong, in words (docs/errors.md); default: argv
    files: dict[str, Content] = field(default_factory=dict)
    setup: Callable[[Path], None] | None = None   # extra preparation of the working directory
    post: Callable[[Path], None] | None = None    # extra assertions on the directory afterwards
    xfail: str | None = None       # a known bug: the reason (the test is xfail(strict=True))
    needs_non_root: bool = False   # chmod 000 does not stop root
    needs_no_gpu: bool = False     # `--backend cupy` must fail only where there is no GPU
    subprocess: bool = False       # run `python -m lbdsl` in a fresh process
    env: dict[str, str | None] | None = None   # environment overrides (None: unset)
    cwd_removed: bool = False      # run in a working directory removed under the process
    send: tuple[int, str] | None = None    # (signal, a text): sent once the output shows it
    hang_up: str | None = None     # the reader of stdout leaves once stdout shows this text
    stdout_closed: bool = False    # run with standard output closed (`>&-`)
    stdout_to: str | None = None   # run with standard output sent to this file (`> /dev/full`)
    memory: int | None = None      # the address-space limit in bytes (subprocess cases)


@dataclass(frozen=True)
class Outcome:
    status: int
    stdout: str
    stderr: str

    @property
    def text(self) -> str:
        return self.stdout + self.stderr

    def first_line(self) -> str:
        """The first line of the message (stderr, else stdout)."""
        for stream in (self.stderr, self.stdout):
            for line in stream.splitlines():
                if line.strip():
                    return line.strip()
        return ""


#: the address-space limit of a ``subprocess`` case: a case that tries to allocate a huge
#: array fails there at once instead of taking the test machine's memory
SUBPROCESS_MEMORY = 6 * 1024**3


def _limit_memory(limit: int = SUBPROCESS_MEMORY) -> Callable[[], None]:
    def apply() -> None:
        try:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        except (ImportError, ValueError, OSError):  # not POSIX, or not allowed: unlimited
            pass
    return apply


def skip_reason(case: Case) -> str | None:
    """Why ``case`` cannot be meaningful on this machine, or None."""
    if case.needs_non_root and hasattr(os, "geteuid") and os.geteuid() == 0:
        return "running as root: chmod 000 does not make a file unreadable"
    if case.needs_no_gpu:
        try:
            import cupy  # noqa: F401

            if cupy.cuda.is_available():
                return "a CUDA GPU is available here"
        except Exception:  # noqa: BLE001 — no cupy, or no driver: the case applies
            pass
    return None


def _run_process(case: Case, workdir: Path) -> Outcome:
    """``python -m lbdsl ARGV`` in its own process: in ``workdir`` (or a folder of it removed
    once the process is in it), with the case's environment, and the case's signal sent once
    its output shows the case's text."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(case.env or {})}
    env = {k: v for k, v in env.items() if v is not None}   # None: unset
    command = [sys.executable, "-m", "lbdsl", *case.argv]
    cwd = workdir
    if case.cwd_removed:
        cwd = workdir / "gone"
        cwd.mkdir()
        # the child is in it when the shell removes it, then becomes Python
        command = ["sh", "-c", 'rmdir "$PWD" && exec "$0" "$@"', *command]
    if case.stdout_closed:
        command = ["sh", "-c", 'exec "$0" "$@" >&-', *command]
    if case.stdout_to is not None:
        command = ["sh", "-c", f'exec "$0" "$@" > {case.stdout_to}', *command]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=cwd, env=env,
                            preexec_fn=_limit_memory(case.memory or SUBPROCESS_MEMORY))
    head = ""
    try:
        if case.send is not None or case.hang_up is not None:
            text = case.hang_up if case.hang_up is not None else case.send[1]  # type: ignore[index]
            for line in proc.stdout:   # type: ignore[union-attr]
                head += line
                if text in line:
                    break
            if case.send is not None:
                proc.send_signal(case.send[0])
            else:   # `| head -1`: the reader leaves; what lbdsl says now goes to stderr only
                proc.stdout.close()   # type: ignore[union-attr]
                err = proc.stderr.read()   # type: ignore[union-attr]
                proc.wait(timeout=300)
                return Outcome(proc.returncode, head, err)
        out, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    return Outcome(proc.returncode, head + out, err)


def held_lock(rel: str) -> Callable[[Path], None]:
    """Another run writing into ``rel``: hold its folder lock (for the rest of the test
    process's life; ``flock`` conflicts between two opens even within one process)."""
    def setup(workdir: Path) -> None:
        import fcntl

        folder = workdir / rel
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / ".lbdsl.lock", os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        _HELD.append(fd)
    return setup


_HELD: list[int] = []


def run_case(case: Case, workdir: Path) -> Outcome:
    """Write the case's files into ``workdir``, run the CLI there, and return what it did."""
    workdir.mkdir(parents=True, exist_ok=True)
    for rel, content in case.files.items():
        path = workdir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            content(path)
    if case.setup is not None:
        case.setup(workdir)
    if case.subprocess:
        return _run_process(case, workdir)
    from lbdsl.cli import main

    out, err = io.StringIO(), io.StringIO()
    here = Path.cwd()
    os.chdir(workdir)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = main(list(case.argv))
            except SystemExit as exc:  # argparse refuses the command line itself
                status = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.chdir(here)
    return Outcome(status, out.getvalue(), err.getvalue())


# ---------------------------------------------------------------------------------------------
# tiny specs and files

NET = """network p {
    input u : 4x4
    param W : 8x16 = normal(std = 1, seed = 0)
    param b : 8 = zeros
    h = relu(W @ u + b)
    output h
}
"""


def invert(*settings: str, net: str = NET, truth: bool = True) -> str:
    """NET and an `invert p` task on a synthetic phantom with the given settings replacing or
    added to the defaults (``truth=False``: no `truth`)."""
    body = ["truth = image(\"shepp_logan\", size = 4x4)", "data = forward(truth)",
            "figures = false"][0 if truth else 1:]
    keys = {s.split("=")[0].strip() for s in settings}
    body = [b for b in body if b.split("=")[0].strip() not in keys] + list(settings)
    if not any(k == "solver" for k in keys):
        body.append("solver = pdhg(max_iter = 5)")
    return net + "invert p {\n" + "".join(f"    {s}\n" for s in body) + "}\n"


GOOD = invert()
LONG = invert("solver = pdhg(max_iter = 50)")
DATA_SPEC = invert('data = load("f.npy")', truth=False)
NPZ_SPEC = invert('data = load("f.npz", "f")', truth=False)
TRUTH_SPEC = invert('truth = load("u.npy")')
TRAIN_SPEC = NET + """train p {
    data = load("pairs.npz", "X", "Y")
    optimizer = implicit_sgd(epochs = 2, batch = 4, inner = 2)
    figures = false
}
"""
#: a parameter of 10^10 entries (74.5 GiB)
HUGE = """network p {
    input u : 100000
    param W : 100000x100000 = normal(std = 1, seed = 0)
    h = relu(W @ u)
    output h
}
"""

#: a tied residual network of three blocks, certified for ρ large enough
RES = """network r {
    input u : 2
    repeat 3 {
        param W : 2x2 = normal(std = 0.3, seed = 1)
        u = u + W.T @ relu(W @ u)
    }
    output u
}
"""
_BAD_CHECK_OPTION = "bug: `lbdsl check` does not validate --lambda/--rho (must be positive, finite)"
NOT_CERTIFIED = """network r {
    input u : 2
    param W : 2x2 = eye
    u = u - W.T @ relu(W @ u)
    output u
}
check r { lambda = 1, rho = 10 }
"""


def npy(array: object, **kw: object) -> Callable[[Path], None]:
    """A writer of ``np.save(path, array)``."""
    def write(path: Path) -> None:
        with open(path, "wb") as fh:
            np.save(fh, array, **kw)
    return write


def npz(**arrays: object) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)
    return write


def pairs(n: int = 8, x_shape: tuple[int, ...] = (16,), y_shape: tuple[int, ...] = (8,)
          ) -> Callable[[Path], None]:
    rng = np.random.default_rng(0)
    return npz(X=rng.random((n, *x_shape)), Y=rng.random((n, *y_shape)))


def F(values: object = None) -> Callable[[Path], None]:
    """The data file f.npy (8 entries unless given)."""
    return npy(np.linspace(0.1, 1, 8) if values is None else values)


def chmod_000(rel: str) -> Callable[[Path], None]:
    def setup(workdir: Path) -> None:
        (workdir / rel).chmod(0)
    return setup


def nothing_outside(*allowed: str) -> Callable[[Path], None]:
    """Assert that the working directory's parent holds nothing but the working directory."""
    def post(workdir: Path) -> None:
        extra = sorted(p.name for p in workdir.parent.iterdir()
                       if p != workdir and p.name not in allowed)
        assert extra == [], f"written outside the working directory: {extra}"
    return post


def no_file(rel: str) -> Callable[[Path], None]:
    def post(workdir: Path) -> None:
        assert not (workdir / rel).exists(), f"{rel} was written"
    return post


def only_children(rel: str, *names: str) -> Callable[[Path], None]:
    def post(workdir: Path) -> None:
        found = sorted(p.name for p in (workdir / rel).iterdir())
        assert found == sorted(names), f"{rel} holds {found}, expected {sorted(names)}"
    return post


def unchanged(rel: str, text: str) -> Callable[[Path], None]:
    def post(workdir: Path) -> None:
        assert (workdir / rel).read_text() == text, f"{rel} was overwritten"
    return post


def symlink(rel: str, target: str) -> Callable[[Path], None]:
    def setup(workdir: Path) -> None:
        (workdir / rel).parent.mkdir(parents=True, exist_ok=True)
        (workdir / target).mkdir(parents=True, exist_ok=True)
        os.symlink(workdir / target, workdir / rel)
    return setup


def empty_dir_is_empty(rel: str) -> Callable[[Path], None]:
    def post(workdir: Path) -> None:
        left = list((workdir / rel).iterdir())
        assert left == [], f"written through the link into {rel}: {left}"
    return post


def resume_setup(damage: bytes | None) -> Callable[[Path], None]:
    """Run TRAIN_SPEC once into out/, then replace its checkpoint by ``damage`` (if given)."""
    def setup(workdir: Path) -> None:
        from lbdsl.cli import main

        here = Path.cwd()
        os.chdir(workdir)
        try:
            with contextlib.redirect_stdout(io.StringIO()), \
                    contextlib.redirect_stderr(io.StringIO()):
                assert main(["solve", "spec.lbn", "--out", "out"]) == 0
        finally:
            os.chdir(here)
        ckpt = workdir / "out" / "train-p" / "checkpoint.npz"
        if damage is not None:
            ckpt.write_bytes(damage)
    return setup


def interrupted_invert(damage: Callable[[Path], None] | None = None) -> Callable[[Path], None]:
    """Run LONG into out/, stopped by a real SIGINT at its first check, iteration 10 (so that
    it leaves a checkpoint to resume from), then let ``damage`` (a writer, if given) replace
    the checkpoint."""
    def setup(workdir: Path) -> None:
        from unittest import mock

        from lbdsl.cli import main
        from lbdsl.tasks import progress

        def ctrl_c(self: object, iteration: int, metrics: object) -> None:
            os.kill(os.getpid(), signal.SIGINT)

        here = Path.cwd()
        os.chdir(workdir)
        try:
            with contextlib.redirect_stdout(io.StringIO()), \
                    contextlib.redirect_stderr(io.StringIO()), \
                    mock.patch.object(progress.Progress, "__call__", ctrl_c):
                assert main(["solve", "spec.lbn", "--out", "out"]) == 130
        finally:
            os.chdir(here)
        ckpt = workdir / "out" / "invert-p" / "checkpoint.npz"
        assert ckpt.exists()
        if damage is not None:
            damage(ckpt)
    return setup


def spec(cls: str, name: str, text: str | bytes, status: int, message: str, input_: str,
         command: str = "check", **kw: object) -> Case:
    """A case that runs ``lbdsl COMMAND spec.lbn`` on ``text``."""
    return Case(cls, name, (command, "spec.lbn"), status, message, input_,
                files={"spec.lbn": text}, **kw)


def solve(cls: str, name: str, text: str, status: int, message: str, input_: str,
          *extra: str, files: dict[str, Content] | None = None, **kw: object) -> Case:
    """A case that runs ``lbdsl solve spec.lbn --out out EXTRA`` on ``text`` and ``files``."""
    return Case(cls, name, ("solve", "spec.lbn", "--out", "out", *extra), status, message,
                input_, files={"spec.lbn": text, **(files or {})}, **kw)


# ---------------------------------------------------------------------------------------------
# the catalogue

SPEC = "spec syntax and semantics"
DATA = "data files"
SIZE = "huge declared sizes"
SETTINGS = "bad settings"
OUTPUT = "output directory"
PATHS = "path traversal"
INIT = "init"
RESUME = "resume"
CERT = "not certified"
FILES = "spec files"
HOSTILE = "hostile environment"

ASCII = {"LANG": "C", "LC_ALL": "C", "PYTHONIOENCODING": "ascii"}

CASES: list[Case] = [
    # -- spec syntax and semantics ------------------------------------------------------------
    spec(SPEC, "unclosed-brace", "network p {\n  input u : 4\n  output u\n", 2, "error:",
         "a network without its closing `}`"),
    spec(SPEC, "stray-token", NET.replace("h = relu", "h = = relu"), 2, "spec.lbn:5:",
         "`h = = relu(...)`"),
    spec(SPEC, "not-proximal-activation", NET.replace("relu(", "gelu("), 2, "not monotone",
         "`gelu`, which is not a proximal map"),
    spec(SPEC, "unknown-activation", NET.replace("relu(", "relux("), 2, "relu",
         "a misspelt activation `relux`"),
    spec(SPEC, "undefined-variable", NET.replace("W @ u", "W @ v"), 2, "`v`",
         "a use of an undefined variable `v`"),
    spec(SPEC, "shape-mismatch", NET.replace("8x16", "8x15"), 2, "spec.lbn:",
         "`W : 8x15` applied to a 16-entry input"),
    spec(SPEC, "no-output", NET.replace("    output h\n", ""), 2, "output",
         "a network without `output`"),
    spec(SPEC, "duplicate-param", NET.replace("param b : 8", "param W : 8"), 2, "`W`",
         "a parameter declared twice"),
    spec(SPEC, "task-on-unknown-network", NET + "check q { lambda = 1 }\n", 2, "`q`",
         "a task on an undefined network"),
    spec(SPEC, "unknown-setting", invert("optimizer = adam"), 2, "optimizer",
         "a `train` setting in an `invert` task", command="solve"),
    spec(SPEC, "misspelt-solver-option", invert("solver = pdhg(max_iters = 10)"), 2,
         "max_iter", "`pdhg(max_iters = 10)`", command="solve"),
    spec(SPEC, "duplicate-setting", invert("rho = 1", "rho = 2"), 2, "rho",
         "`rho` set twice in one task", command="solve"),
    spec(SPEC, "forward-without-truth",
         NET + "invert p {\n    data = forward(truth)\n}\n", 2, "truth",
         "`data = forward(truth)` without a `truth`", command="solve"),
    spec(SPEC, "non-utf8-spec", b"network p { \xff\xfe }\n", 2, "spec.lbn",
         "a spec file that is not UTF-8 text",
         command="show"),
    # -- spec files on the command line --------------------------------------------------------
    Case(FILES, "missing-spec", ("check", "nope.lbn"), 2, "nope.lbn",
         "a spec file that does not exist"),
    Case(FILES, "spec-is-a-directory", ("check", "adir"), 2, "adir",
         "a directory given as the spec", setup=lambda d: (d / "adir").mkdir()),
    Case(FILES, "unreadable-spec", ("check", "spec.lbn"), 2, "spec.lbn",
         "a spec file with mode 000", files={"spec.lbn": GOOD}, setup=chmod_000("spec.lbn"),
         needs_non_root=True),
    Case(FILES, "spec-missing-subprocess", ("show", "nope.lbn"), 2, "nope.lbn",
         "a missing spec, in a fresh process", subprocess=True),
    # -- data files -----------------------------------------------------------------------------
    solve(DATA, "data-missing", DATA_SPEC, 1, "f.npy", "`load(\"f.npy\")` with no such file"),
    solve(DATA, "data-unreadable", DATA_SPEC, 1, "f.npy", "a data file with mode 000",
          files={"f.npy": F()}, setup=chmod_000("f.npy"), needs_non_root=True),
    solve(DATA, "data-wrong-shape", DATA_SPEC, 2, "shape",
          "data of 7 entries for an 8-entry output",
          files={"f.npy": F(np.ones(7))}),
    solve(DATA, "data-strings", DATA_SPEC, 1, "f.npy", "a data file of strings",
          files={"f.npy": F(np.array(["a"] * 8))}),
    solve(DATA, "data-nan", DATA_SPEC, 1, "f.npy", "data with a NaN",
          files={"f.npy": F(np.array([np.nan] + [1.0] * 7))}),
    solve(DATA, "data-inf", DATA_SPEC, 1, "f.npy", "data with an inf",
          files={"f.npy": F(np.array([np.inf] + [1.0] * 7))}),
    solve(DATA, "data-pickled-objects", DATA_SPEC, 1, "f.npy",
          "an object array saved with allow_pickle=True",
          files={"f.npy": npy(np.array([{"a": 1}] * 8, dtype=object), allow_pickle=True)}),
    solve(DATA, "data-not-numpy", DATA_SPEC, 1, "f.npy", "a text file named f.npy",
          files={"f.npy": "this is not an array\n"}),
    solve(DATA, "data-empty-file", DATA_SPEC, 1, "f.npy", "an empty f.npy",
          files={"f.npy": b""}),
    solve(DATA, "data-complex", DATA_SPEC, 1, "f.npy", "complex-valued data",
          files={"f.npy": F(np.ones(8) * (1 + 1j))}),
    solve(DATA, "data-npz-empty", NPZ_SPEC, 1, "f.npz", "an npz archive with no arrays",
          files={"f.npz": npz()}),
    solve(DATA, "data-npz-missing-key", NPZ_SPEC, 1, "f", "an npz archive without the key `f`",
          files={"f.npz": npz(g=np.ones(8))}),
    solve(DATA, "truth-wrong-shape", TRUTH_SPEC, 2, "shape", "a 3x3 truth for a 4x4 input",
          files={"u.npy": npy(np.ones((3, 3)))}),
    solve(DATA, "truth-nan", TRUTH_SPEC, 1, "u.npy", "a truth with NaN",
          files={"u.npy": npy(np.full((4, 4), np.nan))}),
    Case(DATA, "param-load-missing", ("check", "spec.lbn"), 2, "w.npy",
         "`param W : 8x16 = load(\"w.npy\")` with no such file",
         files={"spec.lbn": NET.replace("normal(std = 1, seed = 0)", 'load("w.npy")')}),
    Case(DATA, "param-load-wrong-shape", ("check", "spec.lbn"), 2, "shape",
         "a 16x8 weight file for `W : 8x16`",
         files={"spec.lbn": NET.replace("normal(std = 1, seed = 0)", 'load("w.npy")'),
                "w.npy": npy(np.ones((16, 8)))}),
    Case(DATA, "param-load-inf", ("check", "spec.lbn"), 2, "w.npy", "a weight file with inf",
         files={"spec.lbn": NET.replace("normal(std = 1, seed = 0)", 'load("w.npy")'),
                "w.npy": npy(np.full((8, 16), np.inf))}),
    solve(DATA, "train-pairs-missing", TRAIN_SPEC, 1, "pairs.npz", "training pairs file missing"),
    solve(DATA, "train-pairs-wrong-shape", TRAIN_SPEC, 2, "shape",
          "inputs of 15 entries for a 16-entry input", files={"pairs.npz": pairs(x_shape=(15,))}),
    solve(DATA, "train-pairs-count-mismatch", TRAIN_SPEC, 2, "pairs.npz",
          "8 inputs but 7 targets",
          files={"pairs.npz": npz(X=np.ones((8, 16)), Y=np.ones((7, 8)))}),
    solve(DATA, "train-pairs-empty-npz", TRAIN_SPEC, 1, "pairs.npz", "an empty npz archive",
          files={"pairs.npz": npz()}),
    solve(DATA, "train-pairs-zero-samples", TRAIN_SPEC, 2, "pairs.npz", "0 training samples",
          files={"pairs.npz": npz(X=np.ones((0, 16)), Y=np.ones((0, 8)))}),
    # -- huge declared sizes --------------------------------------------------------------------
    spec(SIZE, "huge-param", HUGE, 2, "74.5 GiB", "`param W : 100000x100000` (an 80 GB matrix)"),
    spec(SIZE, "huge-param-show", HUGE, 2, "74.5 GiB", "the same, with `lbdsl show`",
         command="show"),
    spec(SIZE, "huge-param-zeros", HUGE.replace("normal(std = 1, seed = 0)", "zeros"), 2,
         "100000x100000", "`param W : 100000x100000 = zeros`"),
    spec(SIZE, "huge-param-solve", HUGE + "invert p {\n    data = load(\"f.npy\")\n}\n", 2,
         "74.5 GiB", "the same, with `lbdsl solve`", command="solve"),
    spec(SIZE, "huge-input-mismatch", NET.replace("4x4", "100000x100000"), 2, "10000000000",
         "`input u : 100000x100000` into an 8x16 matrix"),
    spec(SIZE, "huge-input-conv",
         "network p {\n    input u : 100000x100000\n"
         "    h = relu(conv2d(u, 1, kernel = 3, padding = 1))\n    output h\n}\n", 2,
         "100000", "`input u : 100000x100000` into a 3x3 `conv2d` (small parameters, huge states)",
         subprocess=True),
    spec(SIZE, "huge-repeat", "network r {\n  input u : 2\n  repeat 100000000 {\n"
         "    param W : 2x2 = eye\n    u = u + W.T @ relu(W @ u)\n  }\n  output u\n}\n", 2,
         "100000000", "`repeat 100000000 { ... }`"),
    # -- bad settings ---------------------------------------------------------------------------
    solve(SETTINGS, "negative-tau", invert("solver = pdhg(max_iter = 5, tau = -1)"), 2, "tau",
          "`pdhg(tau = -1)`"),
    solve(SETTINGS, "zero-max-iter", invert("solver = pdhg(max_iter = 0)"), 2, "max_iter",
          "`pdhg(max_iter = 0)`"),
    solve(SETTINGS, "negative-max-iter", invert("solver = pdhg(max_iter = -3)"), 2, "max_iter",
          "`pdhg(max_iter = -3)`"),
    solve(SETTINGS, "fractional-max-iter", invert("solver = pdhg(max_iter = 2.5)"), 2,
          "max_iter", "`pdhg(max_iter = 2.5)`"),
    solve(SETTINGS, "negative-alpha", invert("alpha = -0.1", "regulariser = tv"), 2, "alpha",
          "`alpha = -0.1`"),
    solve(SETTINGS, "given-data-on-the-command-line", invert("data = given"), 2,
          "`data = given` takes an array passed in Python", "`data = given` run by the CLI"),
    solve(SETTINGS, "negative-threshold", invert("threshold = -1"), 2, "threshold",
          "`threshold = -1`"),
    solve(SETTINGS, "threshold-word", invert("threshold = always"), 2, "threshold",
          "`threshold = always`"),
    solve(SETTINGS, "threshold-zero-sigma", invert("threshold = auto(sigma = 0)"), 2, "sigma",
          "`threshold = auto(sigma = 0)`"),
    solve(SETTINGS, "threshold-unknown-option", invert("threshold = auto(level = 3)"), 2,
          "level", "`threshold = auto(level = 3)`"),
    solve(SETTINGS, "threshold-unknown-call", invert("threshold = hard(3)"), 2, "hard",
          "`threshold = hard(3)`"),
    solve(SETTINGS, "zero-tol", invert("solver = pdhg(max_iter = 5, tol = 0)"), 2, "tol",
          "`pdhg(tol = 0)`"),
    solve(SETTINGS, "string-tol", invert('solver = pdhg(max_iter = 5, tol = "abc")'), 2, "tol",
          "`pdhg(tol = \"abc\")`"),
    solve(SETTINGS, "unknown-solver", invert("solver = newton(max_iter = 5)"), 2, "newton",
          "`solver = newton`"),
    solve(SETTINGS, "negative-rho", invert("rho = -5"), 2, "rho", "`rho = -5`"),
    solve(SETTINGS, "bad-dtype", invert("dtype = float16"), 2, "dtype", "`dtype = float16`"),
    solve(SETTINGS, "coordinate-with-tv", invert("solver = coordinate(max_iter = 5)",
                                                 "regulariser = tv"), 2, "coordinate",
          "`solver = coordinate` with `tv`"),
    solve(SETTINGS, "negative-noise", invert("data = forward(truth) + gaussian(sigma = -1)"), 2,
          "sigma", "`gaussian(sigma = -1)`"),
    solve(SETTINGS, "train-zero-epochs", TRAIN_SPEC.replace("epochs = 2", "epochs = 0"), 2,
          "epochs", "`implicit_sgd(epochs = 0)`", files={"pairs.npz": pairs()}),
    solve(SETTINGS, "unknown-backend", GOOD, 1, "tensorflow", "`--backend tensorflow`",
          "--backend", "tensorflow"),
    solve(SETTINGS, "cupy-without-gpu", GOOD, 1, "cupy",
          "`--backend cupy` on a machine without a GPU",
          "--backend", "cupy", needs_no_gpu=True),
    solve(SETTINGS, "workers-zero", GOOD, 2, "must be at least 1", "`--workers 0`",
          "--workers", "0"),
    solve(SETTINGS, "workers-not-a-number", GOOD, 2, "invalid int value",
          "`--workers two`", "--workers", "two"),
    solve(SETTINGS, "workers-and-scheduler", GOOD, 2, "not allowed with argument --workers",
          "`--workers 2 --scheduler tcp://127.0.0.1:9` (one or the other)",
          "--workers", "2", "--scheduler", "tcp://127.0.0.1:9"),
    solve(SETTINGS, "scheduler-not-listening", GOOD, 1, "cannot reach the Dask scheduler",
          "`--scheduler tcp://127.0.0.1:9`, where nothing listens (after 10 s)",
          "--scheduler", "tcp://127.0.0.1:9"),
    solve(SETTINGS, "set-negative-alpha", GOOD, 2, "--set:1:7: error:", "`--set alpha=-2`",
          "--set", "alpha=-2"),
    solve(SETTINGS, "set-without-equals", GOOD, 2, "alpha", "`--set alpha` (no `=`)",
          "--set", "alpha"),
    solve(SETTINGS, "set-unknown-key", GOOD, 2, "--set:1:", "`--set alpah=1`",
          "--set", "alpah=1"),
    solve(SETTINGS, "set-bad-value", GOOD, 2, "--set:1:", "`--set rho=x`", "--set", "rho=x"),
    solve(SETTINGS, "set-syntax-error", GOOD, 2, "--set:1:", "`--set solver=pdhg(`",
          "--set", "solver=pdhg("),
    solve(SETTINGS, "set-bad-solver-option", GOOD, 2, "max_iter",
          "`--set solver.max_iter=0`", "--set", "solver.max_iter=0"),
    Case(SETTINGS, "check-negative-lambda", ("check", "spec.lbn", "--lambda", "-1"), 2,
         "lambda", "`lbdsl check --lambda -1` (λ must be positive)", files={"spec.lbn": RES}),
    Case(SETTINGS, "check-negative-rho", ("check", "spec.lbn", "--rho", "-5"), 2,
         "rho", "`lbdsl check --rho -5` (ρ must be positive)", files={"spec.lbn": RES}),
    Case(SETTINGS, "check-zero-rho", ("check", "spec.lbn", "--rho", "0"), 2,
         "rho", "`lbdsl check --rho 0`", files={"spec.lbn": RES}),
    Case(SETTINGS, "check-nan-lambda", ("check", "spec.lbn", "--lambda", "nan"), 2,
         "lambda", "`lbdsl check --lambda nan`", files={"spec.lbn": RES}),
    Case(SETTINGS, "check-inf-rho", ("check", "spec.lbn", "--rho", "inf"), 2,
         "rho", "`lbdsl check --rho inf`", files={"spec.lbn": RES}),
    Case(SETTINGS, "check-rho-not-a-number", ("check", "spec.lbn", "--rho", "abc"), 2,
         "invalid float value", "`lbdsl check --rho abc`", files={"spec.lbn": GOOD}),
    solve(SETTINGS, "step-that-diverges",
          invert("fidelity = l2", "solver = gradient(max_iter = 5000, lr = 10, "
                 "backtracking = false)", net=NET.replace("relu(W @ u + b)", "W @ u + b")),
          1, "diverged after",
          "a fixed step far above 2/L (`gradient(lr = 10, backtracking = false)`): the solver "
          "diverges; its last finite iterate is written"),
    # -- output directory -----------------------------------------------------------------------
    Case(OUTPUT, "out-under-a-file", ("solve", "spec.lbn", "--out", "afile/x"), 1, "afile",
         "`--out afile/x` where `afile` is a regular file",
         files={"spec.lbn": GOOD, "afile": "not a folder\n"}),
    Case(OUTPUT, "out-is-a-file", ("solve", "spec.lbn", "--out", "afile"), 1, "afile",
         "`--out afile` where `afile` is a regular file",
         files={"spec.lbn": GOOD, "afile": "not a folder\n"}),
    Case(OUTPUT, "out-read-only", ("solve", "spec.lbn", "--out", "ro"), 1, "ro",
         "`--out ro` where `ro` has mode 555", files={"spec.lbn": GOOD},
         setup=lambda d: ((d / "ro").mkdir(), (d / "ro").chmod(0o555)), needs_non_root=True),
    Case(OUTPUT, "save-under-a-file", ("solve", "spec.lbn"), 1, "afile",
         "`save = \"afile/x\"` where `afile` is a regular file",
         files={"spec.lbn": invert('save = "afile/x"'), "afile": "not a folder\n"}),
    Case(OUTPUT, "dot-under-a-file", ("show", "spec.lbn", "--dot", "afile/g.dot"), 1, "afile",
         "`lbdsl show --dot afile/g.dot` under a regular file",
         files={"spec.lbn": GOOD, "afile": "not a folder\n"}),
    # -- path traversal -------------------------------------------------------------------------
    Case(PATHS, "task-folder-symlink-out", ("solve", "spec.lbn", "--out", "out"), 1, "invert-p",
         "`out/invert-p` is a symbolic link to a folder elsewhere",
         files={"spec.lbn": GOOD}, setup=symlink("out/invert-p", "elsewhere"),
         post=empty_dir_is_empty("elsewhere")),
    Case(PATHS, "save-traversal-folder-symlink", ("solve", "spec.lbn"), 1, "invert-p",
         "`save = \"res\"` where `res/invert-p` links elsewhere",
         files={"spec.lbn": invert('save = "res"')}, setup=symlink("res/invert-p", "elsewhere"),
         post=empty_dir_is_empty("elsewhere")),
    Case(PATHS, "save-dotdot-stays-in-dir", ("solve", "specs/spec.lbn"), 0, "invert-p",
         "`save = \"../res\"` (allowed: writes only `../res/invert-p/`)",
         files={"specs/spec.lbn": invert('save = "../res"')},
         post=lambda d: (nothing_outside()(d), only_children("res", "invert-p")(d))),
    # -- init -----------------------------------------------------------------------------------
    Case(INIT, "init-existing", ("init", "mynet"), 1, "exists",
         "`lbdsl init mynet` over an existing mynet.lbn",
         files={"mynet.lbn": "# mine\n"},
         post=unchanged("mynet.lbn", "# mine\n")),
    Case(INIT, "init-existing-with-ext", ("init", "mynet.lbn"), 1, "exists",
         "`lbdsl init mynet.lbn` over an existing file", files={"mynet.lbn": "# mine\n"}),
    Case(INIT, "init-under-a-file", ("init", "afile/mynet"), 1, "afile",
         "`lbdsl init afile/mynet` where `afile` is a regular file",
         files={"afile": "not a folder\n"}),
    Case(INIT, "init-existing-directory", ("init", "adir"), 1, "adir.lbn",
         "`lbdsl init adir` where `adir.lbn` is a directory",
         setup=lambda d: (d / "adir.lbn").mkdir()),
    # -- resume ---------------------------------------------------------------------------------
    solve(RESUME, "resume-no-checkpoint", TRAIN_SPEC, 0, "no checkpoint in out/train-p",
          "`--resume` with no checkpoint (allowed: starts from epoch 0, and says so)",
          "--resume", files={"pairs.npz": pairs()}),
    solve(RESUME, "resume-damaged-checkpoint", TRAIN_SPEC, 1, "checkpoint",
          "`--resume` with a checkpoint.npz of garbage bytes", "--resume",
          files={"pairs.npz": pairs()}, setup=resume_setup(b"garbage" * 10)),
    solve(RESUME, "resume-truncated-checkpoint", TRAIN_SPEC, 1, "checkpoint",
          "`--resume` with an empty checkpoint.npz", "--resume",
          files={"pairs.npz": pairs()}, setup=resume_setup(b"")),
    solve(RESUME, "resume-other-settings", TRAIN_SPEC, 1, "checkpoint",
          "`--resume` with a checkpoint written for other settings", "--resume",
          "--set", "optimizer=implicit_sgd(epochs = 3, batch = 4, inner = 3)",
          files={"pairs.npz": pairs()}, setup=resume_setup(None)),
    solve(RESUME, "resume-invert-no-checkpoint", LONG, 0, "no checkpoint in out/invert-p",
          "`--resume` of an invert task with no checkpoint (allowed: solves from the start)",
          "--resume"),
    solve(RESUME, "resume-invert-damaged", LONG, 1, "cannot read the checkpoint",
          "`--resume` of an invert task whose checkpoint.npz is garbage", "--resume",
          setup=interrupted_invert(lambda p: p.write_bytes(b"garbage" * 10))),
    solve(RESUME, "resume-invert-pickle", LONG, 1, "cannot read the checkpoint",
          "`--resume` of an invert task whose checkpoint.npz is a pickle", "--resume",
          setup=interrupted_invert(lambda p: p.write_bytes(pickle.dumps({"a": 1})))),
    solve(RESUME, "resume-invert-train-checkpoint", LONG, 1, "not the checkpoint of an invert",
          "`--resume` of an invert task with a checkpoint that is not an invert task's",
          "--resume", setup=interrupted_invert(npz(
              meta=np.frombuffer(b'{"format": %d}' % INVERT_FORMAT, dtype=np.uint8)))),
    solve(RESUME, "resume-invert-other-problem", LONG, 1, "`alpha` changed",
          "`--resume` of an interrupted invert task with another `alpha`", "--resume",
          "--set", "alpha=0.5", setup=interrupted_invert()),
    solve(RESUME, "resume-invert-beyond-max-iter", LONG, 1, "beyond max_iter = 3",
          "`--resume` of a solve interrupted at iteration 10 with `max_iter = 3`", "--resume",
          "--set", "solver.max_iter=3", setup=interrupted_invert()),
    # -- not certified --------------------------------------------------------------------------
    spec(CERT, "check-not-certified", NOT_CERTIFIED, 3, "NOT certified",
         "a residual step `u - Wᵀrelu(Wu)` at ρ = 10"),
    Case(CERT, "check-rho-too-small", ("check", "spec.lbn", "--rho", "1e-3"), 3,
         "NOT certified", "a tied residual network checked at `--rho 1e-3`",
         files={"spec.lbn": RES}),
    Case(CERT, "check-not-certified-json", ("check", "spec.lbn", "--json"), 3,
         '"certified": false', "the same, with `--json`", files={"spec.lbn": NOT_CERTIFIED}),
    # -- the environment: paths a spec chooses, locale, working directory, signals, locks --------
    Case(HOSTILE, "save-escapes-the-root", ("solve", "spec.lbn"), 2, "outside the output root",
         '`save = "../escaped"` run without `--out`: it would write outside the working '
         "directory", files={"spec.lbn": invert('save = "../escaped"')},
         post=nothing_outside()),
    Case(HOSTILE, "save-absolute", ("solve", "spec.lbn"), 2, "outside the output root",
         '`save = "/tmp/…"`, an absolute folder, run without `--out`',
         files={"spec.lbn": invert('save = "/tmp/lbdsl-catalogue-absolute"')},
         post=lambda w: _absent(Path("/tmp/lbdsl-catalogue-absolute"))),
    Case(HOSTILE, "save-through-symlink", ("solve", "spec.lbn"), 2, "outside the output root",
         "`save` through a symlink in the working directory that leads out of it",
         files={"spec.lbn": invert('save = "link/x"')},
         setup=lambda w: os.symlink(w.parent, w / "link"), post=nothing_outside()),
    solve(HOSTILE, "save-with-out", invert('save = "../escaped"'), 0, "wrote out/invert-p",
          "the same `save` with `--out out` (allowed: `--out` is the root and wins over `save`)",
          post=nothing_outside()),
    Case(HOSTILE, "ascii-locale-check", ("check", "spec.lbn"), 3, "lambda = 1",
         "`check` with `LANG=C LC_ALL=C PYTHONIOENCODING=ascii` (allowed: ASCII spellings)",
         files={"spec.lbn": NOT_CERTIFIED}, subprocess=True, env=ASCII),
    Case(HOSTILE, "ascii-locale-json", ("check", "spec.lbn", "--json"), 3, "λ",
         "`check --json` in the ASCII locale (allowed: the JSON is UTF-8, not escaped)",
         files={"spec.lbn": NOT_CERTIFIED}, subprocess=True, env=ASCII),
    Case(HOSTILE, "cwd-removed", ("solve", "/dev/null/none.lbn"), 1,
         "the current directory no longer exists",
         "`lbdsl solve` in a working directory removed under the shell", subprocess=True,
         cwd_removed=True),
    solve(HOSTILE, "folder-locked", GOOD, 1, "another lbdsl run is writing to out/invert-p",
          "`solve` into a task folder another run is writing to (its lock is held)",
          setup=held_lock("out/invert-p")),
    Case(HOSTILE, "sigterm", ("solve", "spec.lbn", "--out", "out"), 143,
         "lbdsl solve spec.lbn --out out --resume",
         "SIGTERM during a solve (allowed: stops like Ctrl-C; exit 143, the exact command to go "
         "on)", files={"spec.lbn": invert("solver = pdhg(max_iter = 100000000, tol = 1e-30)")},
         subprocess=True, send=(signal.SIGTERM, "iteration")),
    Case(HOSTILE, "sighup", ("solve", "spec.lbn", "--out", "out"), 129,
         "lbdsl solve spec.lbn --out out --resume",
         "SIGHUP (a closed terminal) during a solve (allowed: as Ctrl-C; exit 129)",
         files={"spec.lbn": invert("solver = pdhg(max_iter = 100000000, tol = 1e-30)")},
         subprocess=True, send=(signal.SIGHUP, "iteration")),
]



# -- the third round (#27): files made to hurt, specs that recurse, a hostile output folder -----
LIMITS = "depth and magnitude"
STREAMS = "terminal and pipes"

#: four layers of weights ~1e90: forward(truth) overflows float64 at the third
OVERFLOW = """network p {
    input u : 4
    param W1 : 4x4 = normal(std = 1e90, seed = 0)
    param W2 : 4x4 = normal(std = 1e90, seed = 1)
    param W3 : 4x4 = normal(std = 1e90, seed = 2)
    h1 = relu(W1 @ u)
    h2 = relu(W2 @ h1)
    h3 = relu(W3 @ h2)
    output h3
}
invert p {
    truth = linspace(0.1, 1)
    data = forward(truth)
    figures = false
    solver = pdhg(max_iter = 5)
}
"""
LONG_NAME = "n" * 300
_FIFO_READS: dict[str, list[str]] = {}


def fifo_with_reader(rel: str) -> Callable[[Path], None]:
    """A FIFO at ``rel`` and a thread that reads it to the end (as `dot -Tpng` would)."""
    def setup(workdir: Path) -> None:
        import threading

        path = workdir / rel
        os.mkfifo(path)
        got = _FIFO_READS.setdefault(str(path), [])
        threading.Thread(target=lambda: got.append(path.read_text()), daemon=True).start()
    return setup


def fifo_read(rel: str, text: str) -> Callable[[Path], None]:
    def post(workdir: Path) -> None:
        import stat
        import time

        path = workdir / rel
        assert stat.S_ISFIFO(os.lstat(path).st_mode), f"{rel} was replaced"
        got = _FIFO_READS[str(path)]
        for _ in range(100):   # the reader thread ends once the writer closes
            if got:
                break
            time.sleep(0.05)
        assert got and text in got[0], f"the reader of {rel} got {got!r}"
    return post


def planted_link(rel: str, target: str) -> Callable[[Path], None]:
    """A symbolic link at ``rel`` to ``target`` (relative to the working directory's parent),
    which does not exist."""
    def setup(workdir: Path) -> None:
        (workdir / rel).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(workdir.parent / target, workdir / rel)
    return setup


def directory(rel: str) -> Callable[[Path], None]:
    def setup(workdir: Path) -> None:
        (workdir / rel).mkdir(parents=True)
    return setup


def has(rel: str) -> Callable[[Path], None]:
    def post(workdir: Path) -> None:
        assert (workdir / rel).exists(), f"{rel} was not written"
    return post


def _link_elsewhere(path: Path) -> None:
    """Move the file at ``path`` out of its folder (to the working directory) and leave a
    link to it in its place."""
    moved = path.parents[2] / "elsewhere.npz"
    path.rename(moved)
    path.symlink_to(moved)


def _idx_of_no_images(path: Path) -> None:
    import struct

    path.write_bytes(b"\x00\x00\x08\x03" + struct.pack(">III", 0, 4, 4))


THIRD_ROUND: list[Case] = [
    spec(LIMITS, "nested-negation", NET.replace("relu(W @ u", "relu(" + "-" * 3000 + "W @ u"),
         2, "nests more than 100 levels", "`relu(------…W @ u + b)`: 3,000 unary minus signs"),
    spec(LIMITS, "nested-lists", NET.replace("zeros", "[" * 3000 + "0" + "]" * 3000), 2,
         "nests more than 100 levels", "a parameter list nested 3,000 deep"),
    solve(LIMITS, "long-sum", NET.replace("W @ u + b", " + ".join(["W @ u"] * 3000)), 2,
          "nests more than 100 levels", "a pre-activation of 3,000 terms (`W @ u + W @ u + …`)"),
    solve(LIMITS, "nested-set", GOOD, 2, "--set:1:", "the same through `--set`: "
          "`--set solver=pdhg(max_iter = ((((…1))))` nested 3,000 deep", "--set",
          "solver=pdhg(max_iter = " + "(" * 3000 + "1" + ")" * 3000 + ")"),
    spec(LIMITS, "number-beyond-range", NET.replace("std = 1", "std = 1e308"), 2,
         "at most 1e+100 in magnitude", "`normal(std = 1e308)`"),
    spec(LIMITS, "thousands-of-digits", NET.replace("zeros", "constant(" + "9" * 5000 + ")"), 2,
         "out of range", "`constant(999…9)`, a number of 5,000 digits"),
    solve(LIMITS, "forward-overflows", OVERFLOW, 1, "(the weights or the truth are too large)",
          "weights of 1e90 in three layers: `forward(truth)` overflows float64"),
    solve(LIMITS, "hybrid-huge-weights", invert("fidelity = hybrid",
                                                "regulariser = 0.01 * l2sq",
                                                net=NET.replace("std = 1", "std = 1e90")),
          0, "stalled", "`fidelity = hybrid` on weights of 1e90 (allowed: its refine stage "
          "stalls and says so; it ended in a ZeroDivisionError)"),
    solve(LIMITS, "data-near-float-max", DATA_SPEC, 1, "beyond 1e+100 in magnitude",
          "data of 1e308, finite but beyond every square", files={"f.npy": F(np.full(8, 1e308))}),
    solve(LIMITS, "save-with-line-break", invert('save = "a\\nb"'), 2,
          "must not hold a control character", '`save = "a\\nb"`, a line break in a folder name',
          post=nothing_outside()),
    spec(STREAMS, "nul-in-save", invert('save = "a\x00b"'), 2, "control character U+0000",
         "a NUL byte in a `save` path", command="solve"),
    spec(STREAMS, "escape-in-spec", NET.replace("zeros", 'load("\x1b]0;owned\x07.npy")'), 2,
         "\\x1b]0;owned\\x07", "`load(\"ESC]0;owned BEL.npy\")`: a terminal title sequence in "
         "a spec (shown escaped, never sent to the terminal)"),
    solve(STREAMS, "escape-in-file", NPZ_SPEC.replace('"f.npz", "f"', '"f.npz", "g"'), 1,
          "\\x1b]0;owned\\x07", "an `.npz` whose array is named `ESC]0;owned BEL` (the message "
          "lists its names, escaped)",
          files={"f.npz": npz(**{"\x1b]0;owned\x07": np.linspace(0.1, 1, 8)})}),
    Case(STREAMS, "dot-to-fifo", ("show", "spec.lbn", "--dot", "graph.fifo"), 0, "wrote",
         "`show --dot graph.fifo`, a FIFO `dot -Tpng` reads (allowed: written through, "
         "not replaced)", files={"spec.lbn": NET}, setup=fifo_with_reader("graph.fifo"),
         post=fifo_read("graph.fifo", "digraph")),
    Case(STREAMS, "dot-to-stdout", ("show", "spec.lbn", "--dot", "/dev/stdout"), 0,
         'digraph "p"', "`show --dot /dev/stdout | dot -Tpng` (allowed: the graph alone on "
         "standard output, the listing on standard error)", files={"spec.lbn": NET},
         subprocess=True),
    Case(STREAMS, "dot-to-directory", ("show", "spec.lbn", "--dot", "graphs"), 1,
         "it is a directory, not a regular file", "`show --dot graphs` where `graphs/` is a "
         "folder", files={"spec.lbn": NET}, setup=directory("graphs")),
    Case(STREAMS, "json-stdout-closed", ("check", "spec.lbn", "--json"), 1,
         "standard output is closed", "`check --json >&-`: standard output closed",
         files={"spec.lbn": NET}, subprocess=True, stdout_closed=True),
    Case(STREAMS, "solve-into-head", ("solve", "spec.lbn", "--out", "out"), 141, "",
         "`lbdsl solve spec.lbn | head -1` (allowed: the results are written; 141, the status "
         "of a closed pipe)", files={"spec.lbn": LONG}, subprocess=True, hang_up="invert p",
         post=has("out/invert-p/result.npz")),
    Case(HOSTILE, "lock-is-a-link", ("solve", "spec.lbn", "--out", "out"), 1,
         "is a symbolic link", "a symbolic link planted at `out/invert-p/.lbdsl.lock` "
         "(it would create the file it names)", files={"spec.lbn": GOOD},
         setup=planted_link("out/invert-p/.lbdsl.lock", "planted"), post=nothing_outside()),
    solve(HOSTILE, "figure-is-a-directory", invert("figures = true"), 1,
          "reconstruction.png: it is a directory", "a folder where `reconstruction.png` goes",
          setup=directory("out/invert-p/reconstruction.png")),
    Case(HOSTILE, "long-network-name", ("solve", "spec.lbn", "--out", "out"), 0, "wrote out/",
         "a network named with 300 letters (allowed: its folder name is cut, with a hash)",
         files={"spec.lbn": GOOD.replace("network p", f"network {LONG_NAME}")
                .replace("invert p", f"invert {LONG_NAME}")}),
    Case(HOSTILE, "matplotlib-cache", ("solve", "spec.lbn", "--out", "out"), 0, "wrote out/",
         "figures drawn with `HOME` in the working directory (allowed: matplotlib's cache and "
         "configuration go to a private temporary folder, not `~/.cache`, `~/.config`)",
         files={"spec.lbn": invert("figures = true")}, subprocess=True,
         env={"HOME": "home", "XDG_CACHE_HOME": None, "XDG_CONFIG_HOME": None,
              "MPLCONFIGDIR": None}, post=no_file("home")),
    solve(DATA, "idx-of-no-images", NET + 'train p {\n    data = idx("none-idx3-ubyte")\n'
          '    optimizer = implicit_sgd(epochs = 1)\n    figures = false\n}\n', 1,
          "holds no images", "a well-formed IDX file of 0 images",
          files={"none-idx3-ubyte": _idx_of_no_images}),
    solve(HOSTILE, "data-is-a-fifo", DATA_SPEC, 1, "it is a FIFO, not a regular file",
          "`data = load(\"f.npy\")` where `f.npy` is a FIFO nobody writes to (it would wait "
          "for ever)", setup=lambda w: os.mkfifo(w / "f.npy")),
    solve(RESUME, "resume-checkpoint-is-a-link", LONG, 1, "it is a symbolic link",
          "`--resume` where `checkpoint.npz` is a link planted in the task folder", "--resume",
          setup=interrupted_invert(_link_elsewhere)),
    Case(HOSTILE, "default-folder-is-a-link", ("solve", "spec.lbn"), 2,
         "a symbolic link on its way leads out", "`lbdsl-out` in the working directory is a "
         "link that leads out of it (a cloned repository can hold one)",
         files={"spec.lbn": GOOD}, setup=planted_link("lbdsl-out", "victim"),
         post=nothing_outside()),
    Case(FILES, "spec-is-a-fifo", ("check", "f.lbn"), 2, "it is a FIFO, not a regular file",
         "`lbdsl check f.lbn` where `f.lbn` is a FIFO nobody writes to",
         setup=lambda w: os.mkfifo(w / "f.lbn")),
    Case(FILES, "spec-is-dev-zero", ("check", "/dev/zero"), 2, "it is a character device",
         "`lbdsl check /dev/zero`, a file that never ends"),
    Case(DATA, "weights-is-a-fifo", ("export", "spec.lbn", "--weights", "w.npz", "--out",
                                     "m.onnx"), 1, "it is a FIFO, not a regular file",
         "`export --weights w.npz` where `w.npz` is a FIFO", files={"spec.lbn": NET},
         setup=lambda w: os.mkfifo(w / "w.npz")),
    Case(STREAMS, "escape-in-out-folder", ("solve", "spec.lbn", "--out", "o\x1b]0;owned\x07"),
         0, "o\\x1b]0;owned\\x07", "`--out` a folder named with a terminal title sequence "
         "(allowed: shown escaped in the summary and the messages)", files={"spec.lbn": GOOD}),
    Case(STREAMS, "stdout-full", ("check", "spec.lbn"), 3, "cannot write to standard output",
         "`lbdsl check spec.lbn > /dev/full`: standard output cannot be written (a certificate "
         "that fails keeps its status 3)", files={"spec.lbn": NOT_CERTIFIED}, subprocess=True,
         stdout_to="/dev/full"),
    solve(STREAMS, "solve-stdout-full", GOOD, 1, "cannot write to standard output",
          "`lbdsl solve spec.lbn > /dev/full` (the results are written all the same)",
          subprocess=True, stdout_to="/dev/full", post=has("out/invert-p/result.npz")),
    Case(SIZE, "out-of-memory", ("solve", "spec.lbn", "--out", "out"), 1, "out of memory",
         "a 0.8 GB parameter (inside the size limit) on a machine of 1 GiB",
         files={"spec.lbn": NET.replace("8x16", "100000x1000").replace("u : 4x4", "u : 1000")
                .replace("b : 8 ", "b : 100000 ") + "invert p {\n    truth = linspace(0, 1)\n"
                "    data = forward(truth)\n    figures = false\n}\n"},
         subprocess=True, memory=1024**3),
]


def _absent(path: Path) -> None:
    assert not path.exists(), f"{path} was written"


CASES += THIRD_ROUND

# rows kept beside the code they exercise (they import this module's helpers, hence last)
from cases_readers import READER_CASES  # noqa: E402
from cases_scheduler import SCHEDULER_CASES  # noqa: E402

CASES += READER_CASES + SCHEDULER_CASES
