"""The certificate of a plain network: `lbdsl check` of the 64→96→48 relu/tanh network of
issue #28, and where its time goes.

A user's `lbdsl check` of this network took 2 min 43 s (107 dense eigenvalue problems with the
default BLAS threads of a many-core machine; 20 s with ``OPENBLAS_NUM_THREADS=1``) to answer
"NOT certified".  The structure answers it (lbdsl/certify/structural.py, docs/certificate.md
"Decided by the structure"): the input has no curvature, and a hidden layer read through
``‖W2‖² > 1 + λ`` rules out every l2sq weight at λ = 1.  This script times:

* ``lbdsl check`` in a child process (wall, best of ``--repeats``; imports included), with the
  environment's BLAS threads (``--threads`` sets ``OPENBLAS_NUM_THREADS`` /
  ``OMP_NUM_THREADS``); ``--src DIR`` puts DIR first on the child's ``PYTHONPATH``
  (``git archive REV lbdsl | tar -x -C DIR`` times another version the same way);
* in this process, the certificate (``certify`` of the lifted network): as it runs, and with
  the structural rules switched off — the eigenvalue route the rules replace, with one BLAS
  thread (as the certificate pins it) and with the process's default threads — counting the
  eigenvalue problems.

    python bench/certify_structure.py [--repeats 3] [--threads N] [--src DIR]
        [--specs specs/seed4_sparse_dae.lbn,...] [--out bench/certify_structure.json]

The target (issue #28): `lbdsl check` of this network under 1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from certify_depth import _cpu  # noqa: E402 — the machine line both certificate benches print

MLP = """network mlp {
    input  u  : 64
    param  W1 : 96x64 = normal(std = 1, seed = 0)
    param  b1 : 96    = normal(std = 1, seed = 1)
    param  W2 : 48x96 = normal(std = 1, seed = 2)
    param  b2 : 48    = normal(std = 1, seed = 3)
    z1 = relu(W1 @ u + b1)
    z2 = tanh(W2 @ z1 + b2)
    output z2
}
"""


def run_check(spec: Path, repeats: int, threads: int | None, src: str | None) -> dict:
    """``lbdsl check`` in a child: the best wall time, the exit code, the verdict line."""
    env = dict(os.environ)
    if threads is not None:
        env.update(OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    if src:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    best, proc = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "lbdsl", "check", str(spec)],
                              capture_output=True, text=True, env=env, cwd=str(spec.parent),
                              timeout=1800)
        best = min(best, time.perf_counter() - start)
    first = (proc.stdout.splitlines() or ["?"])[0]
    return {"check_s": best, "rc": proc.returncode, "verdict": first}


@contextmanager
def _counting():
    """Count the dense eigenvalue problems (``numpy.linalg.eigh``) made inside the block."""
    import numpy as np

    import lbdsl.certify.numeric as numeric

    real, count = np.linalg.eigh, [0]

    def eigh(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        count[0] += 1
        return real(*args, **kwargs)

    numeric.np.linalg.eigh = eigh
    try:
        yield count
    finally:
        numeric.np.linalg.eigh = real


@contextmanager
def _rules_off(default_threads: bool):
    """The certificate without its structural rules (and, ``default_threads``, without its
    one-thread BLAS limit): the eigenvalue route."""
    import lbdsl.certify.certificate as cm
    from lbdsl.certify.structural import Obstructions

    saved = cm.obstructions, cm._blas_threads
    cm.obstructions = lambda lp: Obstructions(False, [])
    if default_threads:
        cm._blas_threads = lambda size, scipy=False: nullcontext()
    try:
        yield
    finally:
        cm.obstructions, cm._blas_threads = saved


def in_process(spec: Path, repeats: int) -> dict:
    from lbdsl import pipeline
    from lbdsl.certify.certificate import certify
    from lbdsl.lift.compact import lift
    from lbdsl.tasks.context import certificate_weights

    program = pipeline.load(str(spec))
    (name, net), = program.networks.items()
    lam, rho, mu = certificate_weights(program.tasks, name, net)
    lp = lift(net)
    certify(lp, lam, rho, mu)                         # imports and caches out of the timing
    row: dict = {}
    for label, context in (("structure", nullcontext),
                           ("eigen_1thread", lambda: _rules_off(False)),
                           ("eigen_default", lambda: _rules_off(True))):
        best, cert = float("inf"), None
        for _ in range(repeats if label == "structure" else 1):
            with context(), _counting() as count:
                start = time.perf_counter()
                cert = certify(lp, lam, rho, mu)
                best = min(best, time.perf_counter() - start)
        row[label] = {"s": best, "eigh": count[0], "certified": cert.certified,
                      "route": cert.route, "fixes": [f.text for f in cert.fixes]}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None,
                        help="OPENBLAS_NUM_THREADS for the `lbdsl check` child")
    parser.add_argument("--src", default=None, help="a folder holding another lbdsl/ to check")
    parser.add_argument("--specs", default="", help="more specs, comma-separated")
    parser.add_argument("--no-in-process", action="store_true")
    parser.add_argument("--out", default="bench/certify_structure.json")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        mlp = Path(tmp) / "mlp_64_96_48.lbn"
        mlp.write_text(MLP)
        specs = [mlp] + [Path(s).resolve() for s in args.specs.split(",") if s]
        print(f"{'spec':<24} {'check s':>8} {'certify s':>10} {'eigh':>5} {'eigen 1-thr s':>14} "
              f"{'eigen default s':>16} {'eigh':>5}  verdict")
        for spec in specs:
            row = {"spec": spec.name, **run_check(spec, args.repeats, args.threads, args.src)}
            if not args.no_in_process:
                row.update(in_process(spec, args.repeats))
            rows.append(row)
            st, e1, ed = (row.get(k, {}) for k in ("structure", "eigen_1thread",
                                                    "eigen_default"))
            print(f"{spec.name:<24} {row['check_s']:8.3f} {st.get('s', float('nan')):10.4f} "
                  f"{st.get('eigh', '-'):>5} "
                  f"{e1.get('s', float('nan')):14.3f} {ed.get('s', float('nan')):16.3f} "
                  f"{e1.get('eigh', '-'):>5}  {row['verdict'][:90]}", flush=True)
    record = {"machine": platform.platform(), "cpu": _cpu(),
              "python": platform.python_version(), "src": args.src or "this checkout",
              "threads": args.threads, "date": time.strftime("%Y-%m-%d"),
              "argv": sys.argv[1:], "rows": rows}
    Path(args.out).write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
