"""A float64 NumPy reference of every squash value and derivative, written from the catalogue
in reference/neat-ai.md §2.1 (f(x), f'(x) "as coded", range limit) and sharing no code with
services/evaluator/squash_math.h. Used by tests/test_squash_math.py and bench/bench_squash.py.

Inputs are float32 values widened to float64. Where NEAT-AI's float32 path differs from the
formula by more than rounding the reference mirrors it: SOFTSIGN's 0.99-minus-one-ulp limit,
StdInverse's |1/x| <= 1e10, the Softplus / SELU / Exponential / LogSigmoid / TAN caps, and
thresholds compared in float32 (STEP's 0.01). Two documented kernel behaviours are mirrored
too: sin/cos/tan of +-inf and NaN read NaN (so the limit gives 0; TAN's derivative 1000), and
a derivative is always finite (NaN -> 0, +-inf -> +-FLT_MAX).
"""
from __future__ import annotations

import numpy as np

from neatai.squash import SQUASHES

FLT_MAX = float(np.finfo(np.float32).max)
TWO53 = 2.0 ** 53
MAX_SAFE = 9007199254740991.0
LAMBDA, ALPHA = 1.0507009873554805, 1.6732632423543772
C_GELU = np.sqrt(2.0 / np.pi)
TRIG_MAX = 1e5  # squash_math.h NEATAI_TRIG_MAX: the polynomials' range; libm beyond it
F32 = lambda v: float(np.float32(v))  # noqa: E731 - a float32 threshold, as the f32 path compares


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _trig(fn, x):
    finite = np.isfinite(x)
    return np.where(finite, fn(np.where(finite, x, 0.0)), np.nan)


def value(op: int, x: np.ndarray) -> np.ndarray:
    """f(x) before the range limit (float64)."""
    x = np.asarray(x, np.float64)
    with np.errstate(all="ignore"):
        if op == 0:
            return x.copy()
        if op == 1:
            return np.where(x > 0, x, 0.0)
        if op == 2:
            return np.clip(x, 0.0, 6.0)
        if op == 3:
            return np.where(x >= 0, x, 0.01 * x)
        if op == 4:
            r = LAMBDA * np.where(x > 0, np.minimum(x, 709.0), ALPHA * np.expm1(x))
            return np.where(np.isfinite(r), r, -MAX_SAFE)
        if op == 5:
            return np.where(x > 0, x, np.expm1(x))
        if op in (6, 38):
            return _sigmoid(x)
        if op == 7:
            return np.tanh(x)
        if op == 8:
            return np.clip(x, -1.0, 1.0)
        if op == 9:
            c = F32(0.98999995)
            return np.clip(x / (1 + np.abs(x)), -c, c)  # +-inf: inf/inf = NaN -> 0, as coded
        if op == 10:
            r = np.where(x >= 709, 100.0, np.log1p(np.exp(x)))
            return np.where(np.isnan(x), 1e-15, r)
        if op == 11:
            return x * _sigmoid(x)
        if op == 12:
            return x * np.tanh(np.logaddexp(0.0, x))
        if op == 13:
            return 0.5 * x * (1 + np.tanh(C_GELU * (x + 0.044715 * x ** 3)))
        if op == 14:
            return _trig(np.sin, x)
        if op == 15:
            return _trig(np.cos, x)
        if op == 16:
            t = _trig(np.tan, x)
            return np.clip(np.where(np.isfinite(t), t, 0.0), -1000.0, 1000.0)
        if op == 17:
            return np.arctan(x)
        if op == 18:
            return np.exp(-x * x)
        if op == 19:
            return (np.sqrt(x * x + 1) - 1) / 2 + x
        if op == 20:
            return 2 * _sigmoid(x) - 1
        if op == 21:
            return np.where(x > 0, 1.0, -1.0)
        if op == 22:
            return np.where(x > 0, 1.0, 0.0)
        if op == 23:
            return 1 - x
        if op == 24:
            return np.abs(x)
        if op == 25:
            return np.minimum(x * x, 1e6)
        if op == 26:
            return np.clip(x ** 3, -1e6, 1e6)
        if op == 27:
            return np.where(x >= 0, np.sqrt(x), 0.0)
        if op == 28:
            return np.where(np.abs(x) < 1e-10, np.where(x < 0, -1e10, 1e10), 1 / x)
        if op == 29:
            return np.where((x >= 36) | ~np.isfinite(x), TWO53, np.exp(x))
        if op == 30:
            return np.where(x <= -709, -TWO53, -np.log1p(np.exp(-x)))
        if op == 31:
            # the limit +-1 at +-inf (x/sqrt(1+x^2) is inf/inf there)
            return np.where(np.isinf(x), np.sign(x), x / np.sqrt(1 + x * x))
    raise ValueError(f"no squash value for op {op}")


def limit(op: int, r: np.ndarray) -> np.ndarray:
    """apply_limit_range: NaN -> 0, then clamp to the squash's [lo, hi]."""
    s = SQUASHES[op]
    return np.clip(np.where(np.isnan(r), 0.0, r), s.lo, s.hi)


def squash(op: int, x: np.ndarray) -> np.ndarray:
    return limit(op, value(op, x))


def derivative(op: int, x: np.ndarray) -> np.ndarray:
    """f'(x) as coded (neat-core derivative.rs, reference table), made finite."""
    x = np.asarray(x, np.float64)
    with np.errstate(all="ignore"):
        d = _derivative(op, x)
    d = np.broadcast_to(np.asarray(d, np.float64), x.shape)
    return np.clip(np.where(np.isnan(d), 0.0, d), -FLT_MAX, FLT_MAX)


def _derivative(op: int, x: np.ndarray):
    if op == 0:
        return 1.0
    if op == 1:
        return np.where(x > 0, 1.0, 0.0)
    if op == 2:
        return np.where((x > 0) & (x < 6), 1.0, 0.0)
    if op == 3:
        return np.where(x >= 0, 1.0, 0.01)
    if op == 4:
        return np.where(x >= 0, LAMBDA, LAMBDA * ALPHA * np.exp(x))
    if op == 5:
        return np.where(x > 0, 1.0, np.exp(x))
    if op in (6, 38):
        s = squash(op, x)
        return s * (1 - s)
    if op == 7:
        t = np.tanh(x)
        return 1 - t * t
    if op == 8:
        return np.where((x > -1) & (x < 1), 1.0, 0.0)
    if op == 9:
        return 1 / (1 + np.abs(x)) ** 2
    if op == 10:
        return _sigmoid(x)
    if op == 11:
        s = _sigmoid(x)
        return s * (1 + x * (1 - s))
    if op == 12:  # the table's omega/delta^2 form (0.56 at 0, not Mish's true 0.6), >= 0
        e, e2 = np.exp(x), np.exp(2 * x)
        w = 4 * e2 + 4 * e * x + e2 * x ** 2 + 2 * e * x ** 2 + 2 * x ** 3 + 4 * e + 4 * x + 6
        raw = e * w / (2 + 2 * e + e2) ** 2
        return np.where(np.isfinite(raw), np.maximum(raw, 0.0), 0.0)
    if op == 13:
        t = np.tanh(C_GELU * (x + 0.044715 * x ** 3))
        r = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * C_GELU * (1 + 3 * 0.044715 * x * x)
        return np.where(np.isfinite(r), r, 0.0)
    if op == 14:
        return _trig(np.cos, x)
    if op == 15:
        return -_trig(np.sin, x)
    if op == 16:
        t = _trig(np.tan, x)
        d = 1 + t * t
        return np.where(~np.isfinite(d) | (d > 1000), 1000.0, d)
    if op == 17:
        return 1 / (1 + x * x)
    if op == 18:
        r = -2 * x * np.exp(-x * x)
        return np.where(np.isfinite(r) & (np.abs(r) >= 1e-300), r, 0.0)
    if op == 19:
        return x / (2 * np.sqrt(x * x + 1)) + 1
    if op == 20:
        f = 2 * _sigmoid(x) - 1
        return (1 - f * f) / 2
    if op == 22:
        return np.where(np.abs(x) < F32(0.01), 0.01, 0.0)
    if op == 23:
        return -1.0
    if op == 24:
        return np.sign(x)
    if op == 25:
        return np.where(np.isfinite(x), 2 * x, 0.0)
    if op == 26:
        return 3 * x * x
    if op == 27:
        return np.where(x > 0, 1 / (2 * np.sqrt(x)), 0.0)
    if op == 28:
        return np.where(x == 0, 0.0, -np.sign(x) / (1 + np.abs(x)) ** 2)
    if op == 29:
        r = np.exp(x)
        return np.where(r < 1e-12, 0.0, np.where(r > 50, 50.0, r))
    if op == 30:
        e = np.exp(-x)
        r = np.clip(e / (1 + e), 1e-6, 1.0)
        return np.where(x >= 709, 0.0, np.where(x <= -709, 1.0, r))
    if op == 31:
        return (1 + x * x) ** -1.5
    if op == 21 or SQUASHES[op].aggregate:
        return 0.0
    raise ValueError(f"no squash derivative for op {op}")
