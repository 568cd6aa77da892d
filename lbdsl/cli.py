"""The ``lbdsl`` command line: ``check``, ``show``, ``solve``, ``init``, ``import``, ``export``.

Exit status: 0 success; 1 runtime failure (one line); 2 spec error (``FILE:LINE:COL`` with a
caret); 3 ``check`` found a network that is not certified; 130 interrupted.  A user mistake
never prints a traceback; an unexpected exception is reported as a bug, with its traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import traceback
from pathlib import Path
from typing import Any, NoReturn

from ._version import __version__
from .errors import LbdslError, SpecError
from .terminal import visible

__all__ = ["main"]

_EXAMPLES = {
    "check": "example:\n  lbdsl check specs/residual_tied_20.lbn\n  lbdsl check specs/residual_tied_20.lbn --json --rho 200",
    "show": "example:\n  lbdsl show specs/perceptron.lbn\n  lbdsl show specs/residual_tied_5.lbn --lifted\n  lbdsl show specs/perceptron.lbn --dot graph.dot",
    "solve": "example:\n  lbdsl solve specs/perceptron.lbn --out results/\n  lbdsl solve specs/perceptron.lbn --set alpha=2 --backend numpy   # alpha scales 0.015 * tv\n  lbdsl solve specs/perceptron.lbn --out results/ --resume   # after a Ctrl-C\n  lbdsl solve specs/dae.lbn --out results/ --resume --set optimizer.epochs=40\n  lbdsl solve specs/perceptron.lbn --workers 2   # its tasks on 2 local Dask workers",
    "init": "example:\n  lbdsl init mynet        # writes mynet.lbn, a commented starter spec",
    "import": "example:\n  lbdsl import encoder.onnx --out models/   # models/encoder.lbn + .npz\n  lbdsl check models/encoder.lbn",
    "export": "example:\n  lbdsl export specs/perceptron.lbn --out perceptron.onnx\n  lbdsl export specs/dae.lbn --weights results/train-dae/weights.npz --out dae.onnx",
}


_FIRST_SESSION = """examples (a first session):
  lbdsl solve                  # the built-in demo: results in ./lbdsl-out/demo/
  lbdsl init mynet             # writes mynet.lbn, a commented starter spec
  lbdsl check mynet.lbn        # is its lifted problem convex? (exit status 3 if not)
  lbdsl solve mynet.lbn        # results, report.json and figures in ./lbdsl-out/mynet/
  lbdsl solve mynet.lbn --workers 2   # the same on 2 Dask workers (pip install 'lbdsl[dask]')
  lbdsl COMMAND --help         # each command's options, with examples"""


def _weight(text: str) -> float:
    """λ or ρ: a number in the range the certificate resolves; argparse reports anything else
    with exit status 2."""
    from .ir.tasks.records import WEIGHT_RANGE

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid float value: {text!r}") from None
    lo, hi = WEIGHT_RANGE
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    if not lo <= value <= hi:
        raise argparse.ArgumentTypeError(f"must lie from {lo:g} to {hi:g}, got {text}")
    return value


def _threads(text: str) -> int:
    """A number of BLAS threads: an integer from 1 to :data:`~lbdsl.limits.MAX_THREADS`."""
    from .limits import MAX_THREADS

    value = _count(text)
    if value > MAX_THREADS:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_THREADS}, got {text}")
    return value


def _count(text: str) -> int:
    """A number of workers: an integer ≥ 1; argparse reports anything else with exit status
    2."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse's parser, whose complaint about an unknown option names the closest known one
    (``--outdir`` → did you mean ``--out``?)."""

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        if message.startswith("unrecognized arguments:"):
            import difflib

            known = sorted({o for p in self._subparsers_choices() for o in
                            p._option_string_actions if o.startswith("--")})
            for word in message.split(":", 1)[1].split():
                if word.startswith("--"):
                    close = difflib.get_close_matches(word.split("=")[0], known, n=1)
                    if close:
                        message += f" (did you mean {close[0]}?)"
                        break
        super().error(message)

    def _subparsers_choices(self) -> list[argparse.ArgumentParser]:
        found = [self]
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                found += list(action.choices.values())
        return found


def _parser() -> argparse.ArgumentParser:
    top = _Parser(
        prog="lbdsl",
        description="Compile lifted Bregman networks: check convexity, invert and train.",
        epilog="Without FILE, check/show/solve use the built-in demo spec (a small ReLU "
               "perceptron inverted with TV).\n\n" + _FIRST_SESSION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("--version", action="version", version=f"lbdsl {__version__}")
    sub = top.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, help_: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_, description=help_, epilog=_EXAMPLES[name],
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    check = command("check", "print the convexity certificate of each network")
    check.add_argument("file", nargs="?", help="a .lbn spec (default: the built-in demo)")
    check.add_argument("--json", action="store_true", help="print one JSON object")
    check.add_argument("--lambda", dest="lam", type=_weight, help="λ, overriding the spec's")
    check.add_argument("--rho", type=_weight, help="ρ, overriding the spec's")

    show = command("show", "print the network graph, layers and tasks of a spec")
    show.add_argument("file", nargs="?", help="a .lbn spec (default: the built-in demo)")
    show.add_argument("--lifted", action="store_true", help="also print the block operators")
    show.add_argument("--dot", metavar="OUT", help="write the graph in Graphviz format to OUT")

    solve = command("solve", "run every task of a spec and write its results")
    solve.add_argument("file", nargs="?", help="a .lbn spec (default: the built-in demo)")
    solve.add_argument("--backend", default="numpy", help="numpy (default) or cupy")
    solve.add_argument("--set", dest="overrides", action="append", default=[],
                       metavar="KEY=VALUE", help="override a task setting (repeatable)")
    solve.add_argument("--out", help="output directory (default: the task's save, else "
                                     "./lbdsl-out/<spec name>/)")
    dask = solve.add_argument_group(
        "on a Dask cluster (pip install 'lbdsl[dask]'; one of the two)",
        "  Each task is a future; so are a `chunk = K` task's row groups and the points of an\n"
        "  `alpha = sweep(...)` with `warm_start = false`; a train task's `shards = K` keep\n"
        "  their samples and states on the workers. The results are a serial run's (bit for\n"
        "  bit; sharded training to 1e-10). See docs/scaling.md.")
    where = dask.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_count, metavar="N",
                       help="start a local cluster of N worker processes for this run")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="use the running cluster at ADDRESS (tcp://host:8786, from `dask "
                            "scheduler`); its workers must see the spec's files and the "
                            "output folder at the same absolute paths")
    solve.add_argument("--threads", type=_threads, metavar="N",
                       help="BLAS threads for every task, here and on Dask workers alike "
                            "(default: this machine's BLAS default; the count changes the "
                            "rounding, so one count makes a Dask run equal the serial one)")
    solve.add_argument("--allow-outside", action="store_true",
                       help="let a spec's `save` write outside the output root (--out, else "
                            "the working directory)")
    solve.add_argument("--resume", action="store_true",
                       help="continue each task from the checkpoint.npz in its folder (after "
                            "a Ctrl-C: from where it stopped; a train task from its last "
                            "epoch), to the same result as a run that never stopped; a task "
                            "that had finished is not solved again; --set solver.max_iter or "
                            "optimizer.epochs may raise the limit")

    imp = command("import", "read an ONNX model as a spec: writes NAME.lbn and NAME.npz")
    imp.add_argument("model", help="an .onnx file (read by the onnx package; nothing of it runs)")
    imp.add_argument("--out", default=".", help="the folder to write into (default: .)")
    imp.add_argument("--name", help="the network's name (default: the model file's stem)")

    exp = command("export", "write a spec's network as an ONNX model")
    exp.add_argument("file", nargs="?", help="a .lbn spec (default: the built-in demo)")
    exp.add_argument("--network", help="which network (default: the spec's only one)")
    exp.add_argument("--weights", help="a weights.npz (a train task's) to export instead of "
                                       "the spec's own weights")
    exp.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                     help="the model's float type (default float32)")
    exp.add_argument("--out", required=True, help="the .onnx file to write")

    init = command("init", "write a commented starter spec")
    init.add_argument("name", help="name of the spec (writes NAME.lbn)")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    return top


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    from .tasks.progress import install_stop_handlers, restore_handlers
    from .terminal import degrade, guard_stdout

    degrade()                   # any locale: ASCII spellings where the terminal has no λ
    _private_matplotlib_home()
    previous = install_stop_handlers()  # SIGTERM/SIGHUP like Ctrl-C; Ctrl-C even if ignored
    stdout, sys.stdout = sys.stdout, guard_stdout()
    guard = sys.stdout
    try:
        status = _main(argv)
    finally:
        sys.stdout = stdout
        restore_handlers(previous)
    return _output_status(status, guard, argv)


def _private_matplotlib_home() -> None:
    """Give matplotlib a private configuration and cache folder for this run (unless the user
    chose one with ``MPLCONFIGDIR``): by default it writes under ``~/.cache`` and ``~/.config``,
    outside every folder lbdsl is asked to write to.  Removed when the process ends; rebuilding
    the font list costs about 0.2 s per run that draws figures."""
    if "MPLCONFIGDIR" in os.environ or "matplotlib" in sys.modules:
        return
    import atexit
    import shutil
    import tempfile

    folder = tempfile.mkdtemp(prefix="lbdsl-matplotlib-")
    os.environ["MPLCONFIGDIR"] = folder
    atexit.register(shutil.rmtree, folder, ignore_errors=True)


def _output_status(status: int, guard: Any, argv: list[str] | None) -> int:
    """The exit status once standard output is accounted for: 141 (the shell's status for a
    closed pipe) when the reader left before the end and the command had succeeded — its
    files are written all the same; one line (and 1 unless the command failed already) when
    standard output could not be written (a full disk), or was closed from the start and the
    command's product is what it prints (``check``, ``show``)."""
    if guard.failed is not None:   # said whatever the status: the answer did not arrive
        print(f"error: cannot write to standard output: "
              f"{guard.failed.strerror or guard.failed}", file=sys.stderr)
        return status or 1
    if status != 0:
        return status
    if guard.broken:
        return 141
    command = next((a for a in (sys.argv[1:] if argv is None else argv)
                    if not a.startswith("-")), None)
    if guard.closed_at_start and command in ("check", "show"):
        print(f"error: standard output is closed: `lbdsl {command}` had nothing to write its "
              "answer to", file=sys.stderr)
        return 1
    return status


def _main(argv: list[str] | None) -> int:
    from .tasks.progress import Stopped, stop_status

    args = _parser().parse_args(argv)
    if args.command is None:  # a command is required; say which there are
        _parser().print_help(sys.stderr)
        return 2
    try:
        _working_directory()
        return _COMMANDS[args.command](args)
    except LbdslError as err:
        # a message may quote a file name or a model's text: nothing in it drives the terminal
        text = str(err) if isinstance(err, SpecError) else f"error: {err}"
        print(visible(text), file=sys.stderr)
        return err.exit_status
    except MemoryError as exc:  # a problem larger than this machine, whatever allocated it
        detail = visible(" ".join(str(exc).split()), keep_newlines=False)
        print(f"error: out of memory{': ' + detail if detail else ''} (a smaller problem, a "
              "smaller batch or chunk, or a machine with more memory)", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        what = f"stopped by {exc.args[0]}" if isinstance(exc, Stopped) else "interrupted"
        print(what, file=sys.stderr)
        return stop_status()
    except BrokenPipeError:  # `lbdsl show spec.lbn | head`: the reader left; not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception:  # a bug, not a user mistake: say so and show where
        traceback.print_exc()
        print("internal error: this is a bug in lbdsl; please report it with the spec",
              file=sys.stderr)
        return 1


def _working_directory() -> None:
    """A one-line error (exit 1) when the working directory is gone or unreadable: every
    relative path — the spec, ``--out``, ``./lbdsl-out`` — depends on it."""
    try:
        os.listdir(os.getcwd())
    except OSError as exc:
        raise LbdslError("the current directory no longer exists or cannot be read "
                         f"({exc.strerror or exc}); cd to a directory and run again") from None


def _cmd_check(args: argparse.Namespace) -> int:
    from . import pipeline

    program = pipeline.load(args.file)
    certificates = pipeline.check(program, lam=args.lam, rho=args.rho)
    if args.json:
        from .terminal import write_utf8

        write_utf8(json.dumps({"networks": {n: c.to_json() for n, c in certificates.items()}},
                              indent=2, ensure_ascii=False))
    else:
        for cert in certificates.values():
            print(cert.render())
    return 0 if all(c.certified for c in certificates.values()) else 3


def _cmd_show(args: argparse.Namespace) -> int:
    from . import pipeline

    program = pipeline.load(args.file)
    # `--dot /dev/stdout | dot -Tpng`: the graph alone on standard output, the listing aside
    listing = sys.stderr if args.dot and _is_stdout(args.dot) else sys.stdout
    print(pipeline.show(program, lifted=args.lifted), file=listing)
    if args.dot:
        from .ir.graph import to_dot
        from .outputs import write_text_atomic

        write_text_atomic(Path(args.dot), "\n".join(to_dot(n) for n in program.networks.values()),
                          streams=True)
        print(visible(f"wrote {args.dot}"), file=listing)
    return 0


def _is_stdout(path: str) -> bool:
    """``path`` is this process's standard output (``/dev/stdout``, ``-``-like links)."""
    try:
        return os.path.samestat(os.stat(path), os.fstat(1))
    except (OSError, ValueError):
        return False


def _cmd_solve(args: argparse.Namespace) -> int:
    from . import pipeline
    from .tasks.result import exit_status

    program = pipeline.load(args.file, overrides=args.overrides)
    if args.workers is None and args.scheduler is None:
        results = pipeline.solve(program, backend=args.backend, out=args.out,
                                 overrides=args.overrides, resume=args.resume,
                                 allow_outside=args.allow_outside, threads=args.threads)
        return exit_status(results)
    from .distributed import DaskExecutor, cluster

    again = (["--workers", str(args.workers)] if args.workers is not None
             else ["--scheduler", args.scheduler])
    with cluster(args.workers, args.scheduler) as client:
        results = pipeline.solve(program, backend=args.backend, out=args.out,
                                 overrides=args.overrides, resume=args.resume,
                                 allow_outside=args.allow_outside,
                                 executor=DaskExecutor(client, again), threads=args.threads)
    return exit_status(results)


def _cmd_init(args: argparse.Namespace) -> int:
    from .outputs import write_text_atomic
    from .starter import starter_spec

    path = Path(args.name if args.name.endswith(".lbn") else f"{args.name}.lbn")
    if path.exists() and not args.force:
        raise LbdslError(f"{path} exists; use --force to overwrite it")
    write_text_atomic(path, starter_spec(path.stem))
    print(visible(f"wrote {path}: run `lbdsl check {path}` then `lbdsl solve {path}`"))
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from .exchange import import_onnx

    spec, weights = import_onnx(args.model, args.out, args.name)
    print(f"wrote {spec} and {weights}: run `lbdsl show {spec}` or `lbdsl check {spec}`")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from .api import Spec

    spec = Spec(args.file)
    try:
        path = spec.export_onnx(args.out, args.network, args.weights, args.dtype)
    except OSError as exc:
        raise LbdslError(f"cannot write {args.out}: {exc.strerror or exc}") from None
    print(f"wrote {path}")
    return 0


_COMMANDS = {"check": _cmd_check, "show": _cmd_show, "solve": _cmd_solve, "init": _cmd_init,
             "import": _cmd_import, "export": _cmd_export}

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
