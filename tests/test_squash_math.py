"""Specification of services/evaluator/squash_math.h through neatai.evaluator.activations: every
squash value and derivative against the float64 reference of reference/neat-ai.md §2.1
(tests/squash_reference.py), the documented quirks, the huge-argument behaviour of the
trigonometric squashes, and independence from the tile width (SIMD body vs scalar remainder)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import squash_reference as ref

from neatai.evaluator import activations
from neatai.squash import BY_NAME, SQUASHES

F32 = np.float32
NON_AGGREGATE = [s.name for s in SQUASHES if not s.aggregate]
ALL = [s.name for s in SQUASHES]

# Worst error allowed against float64, per squash: |got - ref| <= atol + rtol * |ref|.
# Bounded functions (and the bounded parts of the others: |ref| <= 1) are held to an absolute
# error, unbounded ones to a relative error; 0 means exact. About 1.5x what
# bench/bench_squash.py measures on this grid (float32 has eps 1.19e-7).
#                     value: atol   rtol     derivative: atol  rtol
TOLERANCE = {
    "IDENTITY":        (0,      0,       0,      0),
    "ReLU":            (0,      0,       0,      0),
    "ReLU6":           (0,      0,       0,      0),
    "LeakyReLU":       (8e-8,   2e-7,    4e-10,  0),      # 0.01f is not 0.01
    "SELU":            (2e-7,   2e-7,    2e-7,   2e-7),
    "ELU":             (7e-8,   0,       7e-8,   0),
    "LOGISTIC":        (2e-7,   0,       2e-7,   0),
    "TANH":            (3e-7,   0,       4e-7,   0),
    "HARD_TANH":       (0,      0,       0,      0),
    "SOFTSIGN":        (2e-7,   0,       3e-7,   0),
    "Softplus":        (2e-7,   2e-7,    2e-7,   0),
    "Swish":           (2e-7,   2e-7,    3e-7,   3e-7),
    "Mish":            (2e-7,   3e-7,    5e-7,   0),
    "GELU":            (2e-7,   2e-7,    3e-7,   3e-7),
    "SINE":            (2e-7,   0,       2e-7,   0),      # |x| <= 1e5
    "Cosine":          (2e-7,   0,       2e-7,   0),
    "TAN":             (3e-7,   3e-7,    0,      7e-7),
    "ArcTan":          (2e-7,   2e-7,    2e-7,   0),
    "GAUSSIAN":        (8e-8,   0,       2e-7,   0),
    "BENT_IDENTITY":   (1e-7,   3e-7,    2e-7,   2e-7),
    "BIPOLAR_SIGMOID": (3e-7,   0,       2e-7,   0),
    "BIPOLAR":         (0,      0,       0,      0),
    "STEP":            (0,      0,       4e-10,  0),      # 0.01f
    "COMPLEMENT":      (5e-8,   9e-8,    0,      0),
    "ABSOLUTE":        (0,      0,       0,      0),
    "SQUARE":          (5e-8,   9e-8,    0,      0),
    "Cube":            (9e-8,   2e-7,    1e-7,   2e-7),
    "SQRT":            (5e-8,   9e-8,    2e-7,   2e-7),
    "StdInverse":      (5e-8,   9e-8,    3e-7,   0),
    "Exponential":     (7e-8,   2e-7,    7e-8,   2e-7),
    "LogSigmoid":      (2e-7,   2e-7,    2e-7,   0),
    "ISRU":            (2e-7,   0,       6e-7,   0),
    "MINIMUM":         (None,   None,    0,      0),      # aggregates: no squash, derivative 0
    "MAXIMUM":         (None,   None,    0,      0),
    "IF":              (None,   None,    0,      0),
    "HYPOT":           (None,   None,    0,      0),
    "HYPOTv2":         (None,   None,    0,      0),
    "MEAN":            (None,   None,    0,      0),
    "SOFTMAX":         (2e-7,   0,       2e-7,   0),
}


def special_points() -> np.ndarray:
    """0, tiny, the branch thresholds of every squash, overflow points, huge values, +-inf,
    NaN and every range bound, each with its float32 neighbours, both signs."""
    base = [0.0, 1e-45, float(np.finfo(F32).tiny), 1e-10, 1e-4, 0.01, 0.35, 0.4142135, 0.625, 1.0,
            1.5707964, 2.4142137, 6.0, 20.0, 36.0, 44.0, 80.0, 87.33, 88.0, 88.38, 100.0, 709.0, 1e5,
            1e6, 1e18, 1e19, 1e30, float(np.finfo(F32).max)]
    for s in SQUASHES:
        base += [abs(s.lo), abs(s.hi)]
    b = np.array(base, F32)
    with np.errstate(over="ignore"):
        b = np.concatenate([b, np.nextafter(b, F32(np.inf)), np.nextafter(b, F32(0)), [np.inf]]).astype(F32)
    return np.concatenate([b, -b, np.array([np.nan], F32)])


GEO = np.geomspace(1e-8, 1e5, 40001).astype(F32)
X = np.concatenate([np.linspace(-50, 50, 200001).astype(F32), GEO, -GEO, special_points()])
XD = X.astype(np.float64)


def check(got: np.ndarray, want: np.ndarray, atol: float, rtol: float, what: str) -> None:
    assert got.dtype == np.float32 and got.shape == want.shape
    err = np.abs(got.astype(np.float64) - want)
    bad = ~(err <= atol + rtol * np.abs(want))
    if bad.any():
        i = int(np.argmax(np.where(bad, err / (atol + rtol * np.abs(want) + 1e-300), 0)))
        raise AssertionError(f"{what}: {int(bad.sum())} points out of tolerance (atol {atol}, rtol {rtol}); "
                             f"worst x={X[i]!r}: got {got[i]!r}, want {want[i]!r}")


def test_every_squash_has_a_tolerance():
    assert set(TOLERANCE) == set(ALL)


@pytest.mark.parametrize("name", NON_AGGREGATE)
def test_values_match_the_float64_reference(name):
    s = BY_NAME[name]
    got = activations.squash(s.id, X)
    assert np.all(np.isfinite(got)), "the range limit maps NaN to 0 and +-inf to the bounds"
    assert np.all((got >= F32(s.lo)) & (got <= F32(s.hi)))
    atol, rtol, _, _ = TOLERANCE[name]
    check(got, ref.squash(s.id, XD), atol, rtol, f"{name} value")


@pytest.mark.parametrize("name", ALL)
def test_derivatives_match_the_float64_reference(name):
    s = BY_NAME[name]
    got = activations.derivative(s.id, X)
    assert np.all(np.isfinite(got)), "a derivative is finite for every x, inf and NaN included"
    _, _, atol, rtol = TOLERANCE[name]
    check(got, ref.derivative(s.id, XD), atol, rtol, f"{name} derivative")


@pytest.mark.parametrize("name", ALL)
def test_tile_width_does_not_change_a_bit(name):
    """T = 1 runs only the scalar remainder of each loop, a whole-array call almost only the
    SIMD body; both must give the same bits (also through odd widths)."""
    op = BY_NAME[name].id
    if not BY_NAME[name].aggregate:
        whole = activations.squash(op, X).view(np.uint32)
        for tile in (1, 7, 128):
            np.testing.assert_array_equal(activations.squash(op, X, tile=tile).view(np.uint32), whole,
                                          err_msg=f"{name} value, tile {tile}")
    whole = activations.derivative(op, X).view(np.uint32)
    for tile in (1, 7, 128):
        np.testing.assert_array_equal(activations.derivative(op, X, tile=tile).view(np.uint32), whole,
                                      err_msg=f"{name} derivative, tile {tile}")


@pytest.mark.parametrize("name", ["SINE", "Cosine", "TAN"])
def test_trigonometric_squashes_by_polynomial_up_to_1e5_and_by_libm_beyond(name):
    op = BY_NAME[name].id
    x = np.random.default_rng(1).uniform(-1e5, 1e5, 200001).astype(F32)
    x[:2] = [1e5, -1e5]
    atol, rtol, datol, drtol = TOLERANCE[name]
    check_x = x.astype(np.float64)
    got, want = activations.squash(op, x), ref.squash(op, check_x)
    err = np.abs(got - want)
    assert np.all(err <= atol + rtol * np.abs(want)), f"{name} worst error {err.max()} within 1e5"
    d, dwant = activations.derivative(op, x), ref.derivative(op, check_x)
    assert np.all(np.abs(d - dwant) <= datol + drtol * np.abs(dwant))
    # Beyond |x| = 1e5 libm's exact range reduction takes over (the values NEAT-AI's f32 path
    # gives); +-inf and NaN read NaN, which the limit maps to 0, the derivative to 0 or, for
    # TAN, the non-finite cap 1000.
    huge = np.array([np.nextafter(F32(1e5), F32(np.inf)), 1.5e5, 1e6, 3e7, 1e18, 1e30, np.finfo(F32).max], F32)
    huge = np.concatenate([huge, -huge])
    libm = {"SINE": (np.sin, np.cos), "Cosine": (np.cos, lambda v: -np.sin(v)),
            "TAN": (lambda v: np.clip(np.tan(v), -1000, 1000), lambda v: np.minimum(1 + np.clip(np.tan(v), -1000, 1000) ** 2, 1000))}
    value, slope = libm[name]
    wide = huge.astype(np.float64)
    np.testing.assert_allclose(activations.squash(op, huge), value(wide), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(activations.derivative(op, huge), slope(wide), rtol=1e-5, atol=1e-7)
    bad = np.array([np.inf, -np.inf, np.nan], F32)
    np.testing.assert_array_equal(activations.squash(op, bad), 0.0)
    np.testing.assert_array_equal(activations.derivative(op, bad), 1000.0 if name == "TAN" else 0.0)


@pytest.mark.parametrize("name,x,expected", [
    ("SOFTSIGN", 1e30, 0.98999995), ("SOFTSIGN", -1e30, -0.98999995), ("SOFTSIGN", np.inf, 0.0),
    ("Softplus", 710.0, 100.0), ("Softplus", 709.0, 100.0), ("Softplus", np.nan, 1e-15),
    ("Softplus", -800.0, 1e-15), ("Softplus", -np.inf, 1e-15), ("Softplus", 30.0, 30.0),
    ("SELU", np.nan, -1.0507009873554805 * 1.6732632423543772), ("SELU", 1e30, 1.0507009873554805 * 709),
    ("Exponential", 36.0, 2.0 ** 53), ("Exponential", -np.inf, 2.0 ** 53), ("Exponential", np.nan, 2.0 ** 53),
    ("LogSigmoid", -709.0, -2.0 ** 53), ("LogSigmoid", -30.0, -30.0), ("LogSigmoid", np.inf, 0.0),
    ("TAN", 1.5707964, -1000.0), ("TAN", -1.5707964, 1000.0), ("TAN", np.inf, 0.0),
    ("StdInverse", 0.0, 1e10), ("StdInverse", -1e-12, -1e10), ("StdInverse", 4.0, 0.25),
    ("SQUARE", 1e4, 1e6), ("Cube", -1e3, -1e6), ("SQRT", -4.0, 0.0), ("ReLU6", 7.0, 6.0),
    ("IDENTITY", np.inf, 3.4028234663852886e38), ("IDENTITY", np.nan, 0.0), ("BIPOLAR", np.nan, -1.0),
    ("ISRU", np.inf, 1.0), ("ISRU", -1e30, -1.0), ("ArcTan", 1e30, math.pi / 2), ("SOFTMAX", 0.0, 0.5),
    ("BENT_IDENTITY", 1e30, 1.5e30), ("GELU", -1e30, 0.0),
])
def test_documented_value_quirks(name, x, expected):
    assert activations.squash(BY_NAME[name].id, np.array([x], F32))[0] == pytest.approx(expected, rel=1e-6, abs=1e-30)


@pytest.mark.parametrize("name,x,expected", [
    ("STEP", 0.005, 0.01), ("STEP", -0.005, 0.01), ("STEP", 0.02, 0.0), ("BIPOLAR", 0.5, 0.0),
    ("StdInverse", 2.0, -1 / 9), ("StdInverse", -2.0, 1 / 9), ("StdInverse", 0.0, 0.0),
    ("Exponential", 10.0, 50.0), ("Exponential", -30.0, 0.0), ("Exponential", 1.0, math.e),
    ("LogSigmoid", 100.0, 1e-6), ("LogSigmoid", 709.0, 0.0), ("LogSigmoid", -709.0, 1.0),
    ("LogSigmoid", -100.0, 1.0), ("TAN", 1.5707964, 1000.0), ("TAN", np.nan, 1000.0), ("TAN", 0.0, 1.0),
    ("Softplus", np.nan, 0.0), ("Softplus", 0.0, 0.5), ("Mish", 0.0, 0.56), ("Mish", -5.0, 0.0),
    ("Mish", 1000.0, 0.0), ("GAUSSIAN", 1.0, -2 / math.e), ("GELU", 0.0, 0.5), ("GELU", 1e30, 1.0),
    ("SELU", 0.0, 1.0507009873554805), ("ABSOLUTE", 0.0, 0.0), ("ABSOLUTE", -3.0, -1.0),
    ("SQUARE", np.inf, 0.0), ("Cube", 1e30, 3.4028234663852886e38), ("LOGISTIC", 0.0, 0.25),
    ("SOFTMAX", 0.0, 0.25), ("BIPOLAR_SIGMOID", 0.0, 0.5), ("ArcTan", 1.0, 0.5), ("SQRT", 0.0, 0.0),
    ("Swish", 0.0, 0.5), ("IF", 3.0, 0.0), ("HYPOTv2", 3.0, 0.0),
])
def test_documented_derivative_quirks(name, x, expected):
    got = activations.derivative(BY_NAME[name].id, np.array([x], F32))[0]
    assert got == pytest.approx(expected, rel=1e-6, abs=1e-30)


def test_softmax_is_logistic_per_neuron():
    for f in (activations.squash, activations.derivative):
        np.testing.assert_array_equal(f(BY_NAME["SOFTMAX"].id, X).view(np.uint32),
                                      f(BY_NAME["LOGISTIC"].id, X).view(np.uint32))


def test_bad_arguments_are_refused():
    x = np.zeros(4, F32)
    for op in (-1, len(SQUASHES)):
        with pytest.raises(ValueError, match="unknown squash"):
            activations.squash(op, x)
        with pytest.raises(ValueError, match="unknown squash"):
            activations.derivative(op, x)
    for s in SQUASHES:
        if s.aggregate:
            with pytest.raises(ValueError, match="aggregate"):
                activations.squash(s.id, x)
    with pytest.raises(ValueError, match="1-D"):
        activations.squash(0, np.zeros((2, 2), F32))
    # other dtypes and strides are converted, empty arrays are fine
    np.testing.assert_array_equal(activations.squash(1, np.array([-1.0, 2.0])[::-1]), [2.0, 0.0])
    assert activations.derivative(7, np.zeros(0, F32)).shape == (0,)


@pytest.mark.parametrize("name", NON_AGGREGATE)
def test_gradient_is_the_exact_derivative_of_the_value(name):
    """activations.gradient (the reverse sweep's f') against central differences of the float64
    value before the limit, from 1e-4 to 2000 on both sides, caps included, kinks and TAN's
    poles left out; it differs from `derivative` exactly where NEAT-AI's coded f' is not f'."""
    import reference_gradients as rg

    s = BY_NAME[name]
    mag = np.logspace(-4, math.log10(2000), 600)
    x = np.concatenate([-mag[::-1], mag]).astype(F32)
    keep = np.ones(len(x), bool)
    for k in rg.KINKS.get(name, ()):
        keep &= np.abs(x - k) > 5e-3 * max(1, abs(k))
    if name == "TAN":  # poles at pi/2 + k pi
        keep &= np.abs(np.remainder(x.astype(np.float64), np.pi) - np.pi / 2) > 0.05
    x = x[keep]
    xd = x.astype(np.float64)
    h = 1e-7 * np.maximum(1, np.abs(xd))
    want = (ref.value(s.id, xd + h) - ref.value(s.id, xd - h)) / (2 * h)
    got = activations.gradient(s.id, x).astype(np.float64)
    assert np.all(np.isfinite(got))
    err = np.abs(got - want) / np.maximum(1, np.abs(want))
    worst = int(np.argmax(err))
    assert err[worst] < 2e-5, f"{name} at x = {x[worst]}: {got[worst]} vs {want[worst]}"


def test_gradient_is_coded_derivative_except_where_noted():
    x = np.linspace(-30, 30, 601).astype(F32)
    differs = {s.name for s in SQUASHES if not s.aggregate
               and not np.array_equal(activations.gradient(s.id, x), activations.derivative(s.id, x))}
    assert differs == {"Mish", "TAN", "STEP", "StdInverse", "Exponential", "LogSigmoid"}
