"""Accuracy and speed of every squash in services/evaluator/squash_math.h.

For each squash: the worst absolute and relative error of the value and the derivative
against the float64 reference (tests/squash_reference.py) over a dense grid, and the time of
`activations.squash` against the equivalent NumPy float32 expression at n = 4096.

    .venv/bin/python bench/bench_squash.py [--n 4096] [--repeat 7]
"""
from __future__ import annotations

import argparse
import os
import sys
import timeit

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import squash_reference as ref  # noqa: E402

from neatai.evaluator import activations  # noqa: E402
from neatai.squash import SQUASHES  # noqa: E402

F = np.float32
LAM, ALP = F(1.0507009873554805), F(1.6732632423543772)
C = F(0.7978845608028654)
ZERO = F(0)

# f(x) in NumPy float32, before the range clip every entry gets (NaN handling is not counted)
NUMPY = {
    0: lambda x: x,
    1: lambda x: np.maximum(x, ZERO),
    2: lambda x: np.clip(x, ZERO, F(6)),
    3: lambda x: np.where(x >= 0, x, F(0.01) * x),
    4: lambda x: LAM * np.where(x > 0, np.minimum(x, F(709)), ALP * np.expm1(x)),
    5: lambda x: np.where(x > 0, x, np.expm1(x)),
    6: lambda x: F(1) / (F(1) + np.exp(-x)),
    7: np.tanh,
    8: lambda x: np.clip(x, F(-1), F(1)),
    9: lambda x: x / (F(1) + np.abs(x)),
    10: lambda x: np.logaddexp(ZERO, x),
    11: lambda x: x / (F(1) + np.exp(-x)),
    12: lambda x: x * np.tanh(np.logaddexp(ZERO, x)),
    13: lambda x: F(0.5) * x * (F(1) + np.tanh(C * (x + F(0.044715) * x * x * x))),
    14: np.sin,
    15: np.cos,
    16: lambda x: np.clip(np.tan(x), F(-1000), F(1000)),
    17: np.arctan,
    18: lambda x: np.exp(-x * x),
    19: lambda x: (np.sqrt(x * x + F(1)) - F(1)) * F(0.5) + x,
    20: lambda x: F(2) / (F(1) + np.exp(-x)) - F(1),
    21: lambda x: np.where(x > 0, F(1), F(-1)),
    22: lambda x: (x > 0).astype(F),
    23: lambda x: F(1) - x,
    24: np.abs,
    25: lambda x: np.minimum(x * x, F(1e6)),
    26: lambda x: np.clip(x * x * x, F(-1e6), F(1e6)),
    27: lambda x: np.sqrt(np.maximum(x, ZERO)),
    28: lambda x: F(1) / x,
    29: lambda x: np.exp(np.minimum(x, F(36))),
    30: lambda x: -np.logaddexp(ZERO, -x),
    31: lambda x: x / np.sqrt(F(1) + x * x),
}
NUMPY[38] = NUMPY[6]


def errors(got: np.ndarray, want: np.ndarray) -> tuple[float, float]:
    """Worst absolute error, and worst relative error where |want| >= 1e-6 (below that a
    relative error says nothing about a bounded function's zero crossings)."""
    got = got.astype(np.float64)
    diff = np.abs(got - want)
    big = np.abs(want) >= 1e-6
    rel = diff[big] / np.abs(want[big])
    return float(diff.max()), float(rel.max()) if rel.size else 0.0


def best(fn, repeat: int) -> float:
    number = 200
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=4096)
    p.add_argument("--repeat", type=int, default=7)
    args = p.parse_args()

    grid = np.linspace(-50, 50, 200001).astype(np.float32)
    xd = grid.astype(np.float64)
    x = np.random.default_rng(0).uniform(-5, 5, args.n).astype(np.float32)
    print(f"errors over np.linspace(-50, 50, 200001) float32; speed at n = {args.n}, "
          f"x ~ U(-5, 5) (ratio = NumPy time / squash time, > 1: faster)\n")
    print("| id | squash | value abs | value rel | deriv abs | deriv rel | squash µs | NumPy µs | ratio |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    ratios = []
    for s in SQUASHES:
        op = s.id
        d_abs, d_rel = errors(activations.derivative(op, grid), ref.derivative(op, xd))
        if s.aggregate:
            print(f"| {op} | {s.name} | — | — | {d_abs:.1e} | {d_rel:.1e} | — | — | — |")
            continue
        v_abs, v_rel = errors(activations.squash(op, grid), ref.squash(op, xd))
        lo, hi = F(s.lo), F(s.hi)
        fn = NUMPY[op]
        with np.errstate(all="ignore"):
            t_np = best(lambda: np.clip(fn(x), lo, hi), args.repeat)
        t_sq = best(lambda: activations.squash(op, x), args.repeat)
        ratios.append(t_np / t_sq)
        print(f"| {op} | {s.name} | {v_abs:.1e} | {v_rel:.1e} | {d_abs:.1e} | {d_rel:.1e} | "
              f"{t_sq * 1e6:.1f} | {t_np * 1e6:.1f} | {t_np / t_sq:.1f} |")
    print(f"\ngeometric mean ratio over {len(ratios)} squashes: {np.exp(np.mean(np.log(ratios))):.2f}")


if __name__ == "__main__":
    main()
