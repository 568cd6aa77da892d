"""Front-end speed: parse + IR of a deep `repeat` spec, and lift + certify of a tied residual net.

Targets (issues 3 and 4): parse and build a 1000-layer `repeat` spec in under a second; lift and
certify a 100-layer tied residual spec well under 2 seconds.  Prints a table and writes JSON.

    python bench/frontend.py [--out bench/frontend.json] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from lbdsl.certify.certificate import certify
from lbdsl.program import build_module
from lbdsl.lift.compact import lift
from lbdsl.syntax.parser import parse


def residual_spec(layers: int, width: int = 4) -> str:
    return f"""
network deep {{
    input u : {width}
    repeat {layers} {{
        param W : {width}x{width} = normal(std = 0.1, seed = 1)
        param b : {width} = zeros
        u = u + W.T @ relu(W @ u + b)
    }}
    output u
}}
"""


def best_of(repeats: int, fn) -> float:  # noqa: ANN001
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench/frontend.json")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = []
    parse("network warm { input u : 1  output u }")  # build the LALR tables once
    for layers in (10, 100, 300, 1000):
        source = residual_spec(layers)
        t_parse = best_of(args.repeats, lambda: parse(source, "<bench>"))
        module = parse(source, "<bench>")
        t_ir = best_of(args.repeats, lambda: build_module(module))
        net = build_module(module).networks["deep"]
        t_lift = best_of(args.repeats, lambda: lift(net))
        lp = lift(net)
        t_cert = (best_of(args.repeats, lambda: certify(lp, 1.0, None))
                  if layers <= 1000 else None)
        rows.append({"layers": layers, "parse_s": t_parse, "ir_s": t_ir, "lift_s": t_lift,
                     "certify_s": t_cert})
    print(f"{'layers':>7} {'parse s':>9} {'IR s':>9} {'lift s':>9} {'certify s':>10}")
    for r in rows:
        cert = f"{r['certify_s']:10.3f}" if r["certify_s"] is not None else f"{'-':>10}"
        print(f"{r['layers']:>7} {r['parse_s']:9.3f} {r['ir_s']:9.3f} {r['lift_s']:9.3f} {cert}")
    record = {"machine": platform.platform(), "python": platform.python_version(), "rows": rows}
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
