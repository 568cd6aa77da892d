"""The convexity certificate against depth: `lbdsl check` of a tied residual chain, per route.

For each depth L the README's tied residual network (``repeat L { param W : 16x1 …;
u = u + W.T @ relu(W @ u + b) }``, width 1, so ``p = L + 1`` blocks) is written to a temporary
folder, and

* ``lbdsl check --json`` runs in a child process: wall time, peak resident set (``VmHWM``), the
  kind of certificate (``symbolic`` — exact — or ``numeric`` — the floating-point route beyond
  ``EXACT_LIMIT``), under ``--timeout`` seconds and an address-space limit of ``--memory`` GiB,
  so that an old version cannot eat the machine.  ``--src DIR`` puts DIR first on the child's
  ``PYTHONPATH``: ``git archive REV lbdsl | tar -x -C DIR`` measures another version the same
  way (the in-process columns are always this checkout's);
* in this process, on the lifted chain: the certificate's core (``certify_blocks``) by the
  exact route (up to ``--exact-up-to`` layers) and by the floating-point route, and the whole
  ``certify`` (cross-check and notes included) — best of ``--repeats``.

    OPENBLAS_NUM_THREADS=1 python bench/certify_depth.py [--depths 10,50,100,...]
        [--exact-up-to 10000] [--timeout 600] [--memory 8] [--src DIR]
        [--out bench/certify_depth.json]
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
from pathlib import Path

PROBE = """
import resource, sys
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from lbdsl.cli import main
rc = main(sys.argv[2:])
hwm = next(int(line.split()[1]) for line in open('/proc/self/status')
           if line.startswith('VmHWM'))
print('\\npeak', hwm)
sys.exit(rc)
"""


def chain_spec(layers: int) -> str:
    return f"""
network deep {{
    input u : 1
    repeat {layers} {{
        param W : 16x1 = normal(std = 0.5, seed = 0)
        param b : 16   = normal(std = 0.1, seed = 100)
        u = u + W.T @ relu(W @ u + b)
    }}
    output u
}}
check deep {{ lambda = 1 }}
"""


def best_of(repeats: int, fn):  # noqa: ANN001, ANN201 - (seconds, last result)
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def run_check(spec: Path, timeout: float, memory_gib: float, src: str | None) -> dict:
    """``lbdsl check --json`` in a child: wall time, VmHWM, kind, rho_min (or why none).  It
    runs in the spec's folder: ``python -c`` puts its working directory first on sys.path,
    ahead of ``--src``."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    if src:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    limit = int(memory_gib * 2**30)
    start = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-c", PROBE, str(limit), "check", str(spec),
                               "--json"], capture_output=True, text=True, timeout=timeout,
                              env=env, cwd=str(spec.parent))
    except subprocess.TimeoutExpired:
        return {"check_s": None, "status": f"timeout after {timeout:g} s"}
    wall = time.perf_counter() - start
    out = {"check_s": wall, "rc": proc.returncode}
    body = proc.stdout
    if "\npeak" in body:
        body, peak = body.rsplit("\npeak", 1)
        out["peak_mib"] = int(peak) / 1024
    try:
        net = json.loads(body)["networks"]["deep"]
    except (ValueError, KeyError):
        said = (body + "\n" + proc.stderr).strip().splitlines() or ["?"]
        out["status"] = f"failed (exit {proc.returncode}, address space {memory_gib:g} GiB): " + \
            next((line for line in said if "memory" in line.lower()), said[-1])[:160]
        return out
    out.update(kind=net["kind"], certified=net["certified"], rho_min=net["rho_min"],
               status="ok")
    return out


def in_process(layers: int, exact_up_to: int, repeats: int) -> dict:
    import lbdsl
    from lbdsl.certify.certificate import _tied_chain, certify
    from lbdsl.certify.symbolic import certify_blocks
    from lbdsl.lift.compact import lift

    net = lbdsl.loads(chain_spec(layers)).networks["deep"]
    lp = lift(net)
    k, m = _tied_chain(lp)
    row: dict = {}
    if layers <= exact_up_to:
        t, res = best_of(repeats, lambda: certify_blocks(k, m, 1, None, 0, exact=True))
        row.update(exact_s=t, rho_min_exact_route=res.rho_min)
    t, res = best_of(repeats, lambda: certify_blocks(k, m, 1, None, 0, exact=False))
    row.update(float_s=t, rho_min_float_route=res.rho_min)
    t, cert = best_of(repeats, lambda: certify(lp, 1.0, None))
    row.update(certify_s=t, certify_kind=cert.kind)
    return row


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip() + f", {os.cpu_count()} cores"
    except OSError:
        pass
    return platform.processor() or "?"


def _fmt(value: float | None, spec: str = "9.3f") -> str:
    return f"{value:{spec}}" if isinstance(value, (int, float)) else f"{'-':>{spec[:-3]}}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", default="10,50,100,200,500,1000,2000,5000,20000")
    parser.add_argument("--exact-up-to", type=int, default=10000,
                        help="time the forced exact route up to this many layers")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--memory", type=float, default=8.0, help="GiB of address space")
    parser.add_argument("--src", default=None, help="a folder holding another lbdsl/ to check")
    parser.add_argument("--no-in-process", action="store_true")
    parser.add_argument("--out", default="bench/certify_depth.json")
    args = parser.parse_args()
    depths = [int(d) for d in args.depths.split(",")]
    rows = []
    print(f"{'layers':>7} {'check s':>9} {'peak MiB':>9} {'kind':>9} {'exact s':>9} "
          f"{'float s':>9} {'certify s':>10}  status")
    with tempfile.TemporaryDirectory() as tmp:
        for layers in depths:
            spec = Path(tmp) / f"chain_{layers}.lbn"
            spec.write_text(chain_spec(layers))
            row = {"layers": layers, **run_check(spec, args.timeout, args.memory, args.src)}
            if not args.no_in_process:
                row.update(in_process(layers, args.exact_up_to, args.repeats))
            rows.append(row)
            print(f"{layers:>7} {_fmt(row.get('check_s'))} {_fmt(row.get('peak_mib'), '9.0f')} "
                  f"{row.get('kind', '-'):>9} {_fmt(row.get('exact_s'))} "
                  f"{_fmt(row.get('float_s'))} {_fmt(row.get('certify_s'), '10.3f')}  "
                  f"{row['status']}", flush=True)
    record = {"machine": platform.platform(), "cpu": _cpu(),
              "python": platform.python_version(), "src": args.src or "this checkout",
              "date": time.strftime("%Y-%m-%d"), "argv": sys.argv[1:], "rows": rows}
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
