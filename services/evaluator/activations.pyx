# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The squash maths of squash_math.h from Python: values and derivatives over float32 arrays.

The forward pass calls the same C tile functions directly; this module exists for tests,
benchmarks and training code that wants f(x) or f'(x) of a whole array. `tile` splits the
array into calls of that many values (0: one call), which lets tests compare the vectorised
loop with its scalar remainder.
"""
cimport numpy as cnp

import numpy as np

from neatai import squash as _squash

cnp.import_array()

cdef extern from "squash_math.h":
    int neatai_squash_tile(int op, const float* x, float* out, int T, float lo, float hi) noexcept nogil
    int neatai_derivative_tile(int op, const float* x, const float* fx, float* out, int T) noexcept nogil
    int neatai_gradient_tile(int op, const float* x, const float* fx, float* out, int T) noexcept nogil

N_OPS = len(_squash.SQUASHES)
cdef Py_ssize_t MAX_CALL = 1 << 30  # the tile functions count in int


cdef cnp.ndarray _input(x):
    a = np.ascontiguousarray(x, dtype=np.float32)
    if a.ndim != 1:
        raise ValueError(f"expected a 1-D array, got shape {a.shape}")
    return a


cdef void _squash_into(int op, const float* x, float* out, Py_ssize_t n, int tile,
                       float lo, float hi) noexcept nogil:
    cdef Py_ssize_t i = 0, step = tile if tile > 0 else MAX_CALL
    cdef int w
    while i < n:
        w = <int>(n - i if n - i < step else step)
        neatai_squash_tile(op, x + i, out + i, w, lo, hi)
        i += w


def squash(int op, x, int tile=0):
    """limit(f(x), lo, hi) of squash `op` (a neatai.squash id) for a 1-D array, as float32."""
    if op < 0 or op >= N_OPS:
        raise ValueError(f"unknown squash id {op}")
    spec = _squash.SQUASHES[op]
    if spec.aggregate:
        raise ValueError(f"{spec.name} is an aggregate: the forward pass computes it, not a squash")
    cdef cnp.ndarray a = _input(x)
    cdef cnp.ndarray out = np.empty(a.shape[0], np.float32)
    cdef float lo = spec.lo, hi = spec.hi
    cdef Py_ssize_t n = a.shape[0]
    cdef const float* xp = <const float*>cnp.PyArray_DATA(a)
    cdef float* op_out = <float*>cnp.PyArray_DATA(out)
    with nogil:
        _squash_into(op, xp, op_out, n, tile, lo, hi)
    return out


def derivative(int op, x, int tile=0):
    """f'(x) of squash `op` as NEAT-AI codes it (aggregates: 0) for a 1-D array, as float32."""
    return _derivative(op, x, tile, False)


def gradient(int op, x, int tile=0):
    """The exact derivative of squash `op`'s value before the range limit (what the reverse
    sweep of backprop.pyx uses; aggregates: 0) for a 1-D array, as float32."""
    return _derivative(op, x, tile, True)


cdef _derivative(int op, x, int tile, bint exact):
    if op < 0 or op >= N_OPS:
        raise ValueError(f"unknown squash id {op}")
    spec = _squash.SQUASHES[op]
    cdef cnp.ndarray a = _input(x)
    cdef Py_ssize_t n = a.shape[0]
    cdef cnp.ndarray fx = np.zeros(n, np.float32)
    cdef cnp.ndarray out = np.empty(n, np.float32)
    cdef float lo = spec.lo, hi = spec.hi
    cdef const float* xp = <const float*>cnp.PyArray_DATA(a)
    cdef float* fp = <float*>cnp.PyArray_DATA(fx)
    cdef float* dp = <float*>cnp.PyArray_DATA(out)
    cdef bint aggregate = spec.aggregate
    cdef Py_ssize_t i = 0, step = tile if tile > 0 else MAX_CALL
    cdef int w
    with nogil:
        if not aggregate:  # fx: the activations the derivatives of LOGISTIC, TANH, ... reuse
            _squash_into(op, xp, fp, n, tile, lo, hi)
        while i < n:
            w = <int>(n - i if n - i < step else step)
            if exact:
                neatai_gradient_tile(op, xp + i, fp + i, dp + i, w)
            else:
                neatai_derivative_tile(op, xp + i, fp + i, dp + i, w)
            i += w
    return out
