# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The forward pass and the costs: activating one network, scoring a population (float32, GIL
released), on the compiled format of `compiled.pxd`.

Evaluation is sample-inner: the activation buffer is neuron-major over a tile of `T` records,
so every synapse is one axpy over the tile and every squash one loop over it (both vectorise;
measured against record-at-a-time in bench/bench_kernels.py). A recurrent network evaluated
with `feedback_loop` runs with T = 1 so each record sees the previous record's state.
"""
cimport numpy as cnp
from libc.math cimport INFINITY, isfinite, log, sqrt
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

import numpy as np

from neatai.costs import COST_NAMES as COSTS, cost_number

from neatai.evaluator.compiled cimport (Net, Network, OP_CONST, OP_HYPOT, OP_HYPOTV2, OP_IDENTITY, OP_IF, OP_MAXIMUM,
                                        OP_MINIMUM, OP_SOFTMAX, ROLE_CONDITION, ROLE_NEGATIVE)

cnp.import_array()

TILE = 128  # records per tile (bench_kernels.py measures the choice)


# The synapse sums, in C so that the loop is a plain counted loop gcc turns into SIMD (cloned for
# AVX2 and dispatched at load time, NEATAI_SIMD in squash_math.h; the baseline build is SSE2).
cdef extern from *:
    """
    #include "squash_math.h"
    #pragma GCC push_options
    #pragma GCC optimize ("no-trapping-math")
    /* acc[0:T] += sum over synapses s0..s1 of w[s] * acts[src[s]][0:T], four at a time */
    NEATAI_SIMD static void neatai_accumulate(float *restrict acc, const float *restrict acts,
                                              const int *src, const float *w, int s0, int s1, int T) {
        int s = s0;
        if (T == 1) {  /* record-at-a-time (feedback loops): same arithmetic, no inner loops */
            float v = acc[0];
            for (; s + 4 <= s1; s += 4)
                v = v + ((w[s] * acts[src[s]] + w[s + 1] * acts[src[s + 1]])
                         + (w[s + 2] * acts[src[s + 2]] + w[s + 3] * acts[src[s + 3]]));
            for (; s < s1; s++)
                v = v + w[s] * acts[src[s]];
            acc[0] = v;
            return;
        }
        for (; s + 4 <= s1; s += 4) {
            const float *a0 = acts + (long)src[s] * T, *a1 = acts + (long)src[s + 1] * T;
            const float *a2 = acts + (long)src[s + 2] * T, *a3 = acts + (long)src[s + 3] * T;
            float w0 = w[s], w1 = w[s + 1], w2 = w[s + 2], w3 = w[s + 3];
            for (int j = 0; j < T; j++)
                acc[j] = acc[j] + ((w0 * a0[j] + w1 * a1[j]) + (w2 * a2[j] + w3 * a3[j]));
        }
        for (; s < s1; s++) {
            const float *a = acts + (long)src[s] * T;
            float wv = w[s];
            for (int j = 0; j < T; j++)
                acc[j] = acc[j] + wv * a[j];
        }
    }

    /* acc[0:T] = min (or max) over synapses s0..s1 of w[s] * acts[src[s]][0:T]; s1 > s0.
       A NaN term never replaces what acc holds (the comparison is false). */
    NEATAI_SIMD static void neatai_extreme(float *restrict acc, const float *restrict acts,
                                           const int *src, const float *w, int s0, int s1, int T,
                                           int is_max) {
        const float *a = acts + (long)src[s0] * T;
        float wv = w[s0];
        for (int j = 0; j < T; j++)
            acc[j] = wv * a[j];
        for (int s = s0 + 1; s < s1; s++) {
            a = acts + (long)src[s] * T;
            wv = w[s];
            if (is_max)
                for (int j = 0; j < T; j++) {
                    float v = wv * a[j];
                    acc[j] = v > acc[j] ? v : acc[j];
                }
            else
                for (int j = 0; j < T; j++) {
                    float v = wv * a[j];
                    acc[j] = v < acc[j] ? v : acc[j];
                }
        }
    }

    /* acc[0:T] = sqrt(sum over synapses of (inner + w[s] * acts[src[s]])^2) */
    NEATAI_SIMD static void neatai_hypot(float *restrict acc, const float *restrict acts,
                                         const int *src, const float *w, int s0, int s1, int T,
                                         float inner) {
        int s = s0;
        for (int j = 0; j < T; j++)
            acc[j] = 0.0f;
        for (; s + 4 <= s1; s += 4) {  /* four synapses per pass over acc, as neatai_accumulate */
            const float *a0 = acts + (long)src[s] * T, *a1 = acts + (long)src[s + 1] * T;
            const float *a2 = acts + (long)src[s + 2] * T, *a3 = acts + (long)src[s + 3] * T;
            float w0 = w[s], w1 = w[s + 1], w2 = w[s + 2], w3 = w[s + 3];
            for (int j = 0; j < T; j++) {
                float v0 = inner + w0 * a0[j], v1 = inner + w1 * a1[j];
                float v2 = inner + w2 * a2[j], v3 = inner + w3 * a3[j];
                acc[j] = acc[j] + ((v0 * v0 + v1 * v1) + (v2 * v2 + v3 * v3));
            }
        }
        for (; s < s1; s++) {
            const float *a = acts + (long)src[s] * T;
            float wv = w[s];
            for (int j = 0; j < T; j++) {
                float v = inner + wv * a[j];
                acc[j] = acc[j] + v * v;
            }
        }
        for (int j = 0; j < T; j++)
            acc[j] = sqrtf(acc[j]);
    }
    #pragma GCC pop_options
    """
    void neatai_hypot(float* acc, const float* acts, const int* src, const float* w,
                      int s0, int s1, int T, float inner) noexcept nogil
    void neatai_extreme(float* acc, const float* acts, const int* src, const float* w,
                        int s0, int s1, int T, int is_max) noexcept nogil
    void neatai_accumulate(float* acc, const float* acts, const int* src, const float* w,
                           int s0, int s1, int T) noexcept nogil

cdef extern from "squash_math.h":
    float neatai_limit(float r, float lo, float hi) noexcept nogil  # NEAT-AI apply_limit_range
    int neatai_squash_tile(int op, const float* x, float* out, int T, float lo, float hi) noexcept nogil


cdef void forward_tile(const Net* net, float* acts, float* scratch, int T, float* pre) noexcept nogil:
    """One ordered pass over a tile. `acts` is [n_in + n_nodes][T]; rows < n_in hold the
    inputs. A synapse whose source is not yet computed in this pass (self/back synapse) reads
    what the row holds: zero after a reset, or the previous record's activation. When `pre`
    is not NULL ([n_nodes][T]) it receives what the reverse sweep differentiates: the
    pre-activation (bias + weighted sum) of every neuron with a squash; for MINIMUM/MAXIMUM the
    extreme term (before the bias), for IF the condition sum, for HYPOT/HYPOTv2 the root
    (before HYPOT's bias). MEAN and constant rows are left as are."""
    cdef int k, s, s0, s1, j, op, n, count
    cdef float b, wv, lo, hi, v, p
    cdef float* out
    cdef const float* a
    cdef float* acc = scratch
    cdef float* x
    cdef float* pos = scratch + T
    cdef float* neg = scratch + 2 * T
    cdef int n_in = net.n_in
    for k in range(net.n_nodes):
        out = acts + <Py_ssize_t>(n_in + k) * T
        op = net.op[k]
        b = net.bias[k]
        lo = net.lo[k]
        hi = net.hi[k]
        s0 = net.off[k]
        s1 = net.off[k + 1]
        n = s1 - s0
        if op == OP_CONST:
            v = neatai_limit(b, lo, hi)
            for j in range(T):
                out[j] = v
        elif op < OP_MINIMUM or op == OP_SOFTMAX:
            x = acc if pre == NULL else pre + <Py_ssize_t>k * T
            for j in range(T):
                x[j] = b
            neatai_accumulate(x, acts, net.src, net.w, s0, s1, T)
            neatai_squash_tile(op, x, out, T, lo, hi)   # every op below the aggregates
        elif op == OP_MINIMUM or op == OP_MAXIMUM:
            if n == 0:
                for j in range(T):
                    acc[j] = b
            else:
                x = acc if pre == NULL else pre + <Py_ssize_t>k * T
                neatai_extreme(x, acts, net.src, net.w, s0, s1, T, op == OP_MAXIMUM)
                for j in range(T):
                    acc[j] = x[j] + b
            neatai_squash_tile(OP_IDENTITY, acc, out, T, lo, hi)   # the range limit alone
        elif op == OP_IF:
            memset(scratch, 0, 3 * T * sizeof(float))   # acc = condition sum
            for s in range(s0, s1):
                wv = net.w[s]
                a = acts + <Py_ssize_t>net.src[s] * T
                if net.role[s] == ROLE_CONDITION:
                    for j in range(T):
                        acc[j] = acc[j] + wv * a[j]
                elif net.role[s] == ROLE_NEGATIVE:
                    for j in range(T):
                        neg[j] = neg[j] + wv * a[j]
                else:
                    for j in range(T):
                        pos[j] = pos[j] + wv * a[j]
            for j in range(T):
                out[j] = neatai_limit((pos[j] if acc[j] > 0 else neg[j]) + b, lo, hi)
            if pre != NULL:
                memcpy(pre + <Py_ssize_t>k * T, acc, T * sizeof(float))
        elif op == OP_HYPOT or op == OP_HYPOTV2:
            # HYPOTv2 adds the bias inside every term, HYPOT after the root
            x = acc if pre == NULL else pre + <Py_ssize_t>k * T
            neatai_hypot(x, acts, net.src, net.w, s0, s1, T, b if op == OP_HYPOTV2 else 0)
            if op == OP_HYPOT:
                for j in range(T):
                    acc[j] = x[j] + b
                x = acc
            neatai_squash_tile(OP_IDENTITY, x, out, T, lo, hi)
        else:  # MEAN
            memset(acc, 0, T * sizeof(float))
            neatai_accumulate(acc, acts, net.src, net.w, s0, s1, T)
            p = 1.0 / (n if n > 0 else 1)
            for j in range(T):
                acc[j] = acc[j] * p + b
            neatai_squash_tile(OP_IDENTITY, acc, out, T, lo, hi)


cdef void load_tile(const Net* net, const float* X, const int* rows, int r0, int T,
                           float* acts, bint reset) noexcept nogil:
    """Copy records rows[r0:r0+T] into the input rows of the tile; zero the state if asked."""
    cdef int i, j
    cdef int n_in = net.n_in
    cdef const float* x
    for j in range(T):
        x = X + <Py_ssize_t>rows[r0 + j] * n_in
        for i in range(n_in):
            acts[<Py_ssize_t>i * T + j] = x[i]
    if reset:
        memset(acts + <Py_ssize_t>n_in * T, 0, <size_t>net.n_nodes * T * sizeof(float))


cdef int tile_width(const Net* net, bint feedback, int tile) noexcept nogil:
    # State carried from record to record forces record-at-a-time evaluation.
    return 1 if (net.recurrent and feedback) else tile


cdef double run_records(const Net* net, const float* X, const int* rows, int n, bint feedback, int tile,
                        float* acts, float* scratch, float* outputs, const float* Y, int cost) noexcept nogil:
    """Records rows[0:n] through the network a tile at a time: their outputs into `outputs`
    ([records][n_out], by record index) when it is not NULL, and the summed per-record cost
    against Y (returned; 0 when Y is NULL)."""
    cdef int T = tile_width(net, feedback, tile)
    cdef int r0, t, o, j
    cdef int n_out = net.n_out
    cdef int first_out = net.n_in + net.n_nodes - n_out
    cdef bint carry = net.recurrent and feedback
    cdef double total = 0
    if carry:
        memset(acts, 0, <size_t>(net.n_in + net.n_nodes) * sizeof(float))
    r0 = 0
    while r0 < n:
        t = T if n - r0 > T else n - r0
        load_tile(net, X, rows, r0, t, acts, net.recurrent and not carry)
        forward_tile(net, acts, scratch, t, NULL)
        if outputs != NULL:
            for o in range(n_out):
                for j in range(t):
                    outputs[<Py_ssize_t>rows[r0 + j] * n_out + o] = acts[<Py_ssize_t>(first_out + o) * t + j]
        if Y != NULL:
            for j in range(t):
                total += record_cost(cost, acts + <Py_ssize_t>first_out * t, t, j,
                                     Y + <Py_ssize_t>rows[r0 + j] * n_out, n_out)
        r0 += t
    return total


cdef double record_cost(int cost, const float* acts, int stride, int j, const float* y,
                        int n_out) noexcept nogil:
    """The per-record error of reference/neat-ai.md §7.2 in float64."""
    cdef double s = 0, o, t, d
    cdef int k
    for k in range(n_out):
        o = acts[<Py_ssize_t>k * stride + j]
        t = y[k]
        if cost == 0 or cost == 1:          # MSE, RMSE
            d = t - o
            s += d * d
        elif cost == 2:                     # MAE
            d = t - o
            s += d if d >= 0 else -d
        elif cost == 3:                     # MAPE
            d = (o - t) / (t if t > 1e-15 else 1e-15)
            s += d if d >= 0 else -d
        elif cost == 4:                     # MSLE (as coded: not squared, not divided by n)
            s += log(t if t > 1e-15 else 1e-15) - log(o if o > 1e-15 else 1e-15)
        elif cost == 5:                     # CROSS_ENTROPY
            if o < 1e-15:
                o = 1e-15
            elif o > 1 - 1e-15:
                o = 1 - 1e-15
            s -= t * log(o) + (1 - t) * log(1 - o)
        else:                               # HINGE
            d = 1 - t * o
            if d > 0:
                s += d
    if cost == 4 or cost == 6:
        return s
    return s / n_out


cdef double run_error(const Net* net, const float* X, const float* Y, const int* rows, int n,
                      int cost, bint feedback, int tile, float* acts, float* scratch) noexcept nogil:
    return dataset_error(cost, run_records(net, X, rows, n, feedback, tile, acts, scratch, NULL, Y, cost), n)


cdef double dataset_error(int cost, double total, int n) noexcept nogil:
    """The dataset error from the sum of n per-record costs: their mean (RMSE: its root)."""
    total /= n
    if cost == 1:
        total = sqrt(total)
    # Outputs are finite (range clamp) and costs are summed in float64, so this is rare
    # (e.g. inf - inf); a non-finite error always reads as +inf so it sorts last.
    return total if isfinite(total) else INFINITY


def activate(Network network, X, bint feedback_loop=False, int tile=TILE):
    """Outputs float32[n, outputs] of `network` for inputs float32[n, inputs] (records in order)."""
    network._check_built()
    cdef cnp.ndarray x = _check_inputs(X, network.n_inputs, "X")
    cdef int n = x.shape[0]
    cdef cnp.ndarray Y = np.empty((n, network.n_outputs), dtype=np.float32)
    cdef cnp.ndarray rows = np.arange(n, dtype=np.int32)
    if tile < 1:
        raise ValueError(f"tile must be >= 1, got {tile}")
    cdef int T = tile_width(&network.net, feedback_loop, tile)
    cdef float* acts = <float*>malloc(<size_t>(network.net.n_in + network.net.n_nodes) * T * sizeof(float))
    cdef float* scratch = <float*>malloc(3 * <size_t>T * sizeof(float))
    cdef const float* xp = <const float*>cnp.PyArray_DATA(x)
    cdef float* yp = <float*>cnp.PyArray_DATA(Y)
    cdef const int* rp = <const int*>cnp.PyArray_DATA(rows)
    if acts == NULL or scratch == NULL:
        free(acts)
        free(scratch)
        raise MemoryError()
    with nogil:
        run_records(&network.net, xp, rp, n, feedback_loop, tile, acts, scratch, yp, NULL, 0)
    free(acts)
    free(scratch)
    return Y


def activate_from(Network network, X, cnp.ndarray state):
    """Outputs float32[n, outputs] for records X in order, starting from `state` — the
    activation buffer float32[inputs + neurons] as the previous call left it — and leaving the
    last record's activations there: a recurrent creature's memory across calls (a session).
    Self and back synapses read the previous step's activations, as with feedbackLoop."""
    network._check_built()
    cdef cnp.ndarray x = _check_inputs(X, network.n_inputs, "X")
    cdef int n_in = network.net.n_in, n_out = network.net.n_out
    cdef Py_ssize_t width = n_in + network.net.n_nodes
    if state.dtype != np.float32 or state.ndim != 1 or state.shape[0] != width or not state.flags.c_contiguous:
        raise ValueError(f"state must be contiguous float32[{width}], got {state.dtype} of shape "
                         f"{(<object>state).shape}")
    if not state.flags.writeable:
        raise ValueError("state must be writeable")
    cdef int n = x.shape[0]
    cdef cnp.ndarray Y = np.empty((n, n_out), dtype=np.float32)
    cdef float* acts = <float*>cnp.PyArray_DATA(state)
    cdef const float* xp = <const float*>cnp.PyArray_DATA(x)
    cdef float* yp = <float*>cnp.PyArray_DATA(Y)
    cdef int first_out = <int>width - n_out
    cdef int r, i
    cdef float* scratch = <float*>malloc(3 * sizeof(float))
    if scratch == NULL:
        raise MemoryError()
    with nogil:
        for r in range(n):  # a tile of one record: the buffer holds one activation per neuron
            for i in range(n_in):
                acts[i] = xp[<Py_ssize_t>r * n_in + i]
            forward_tile(&network.net, acts, scratch, 1, NULL)
            for i in range(n_out):
                yp[<Py_ssize_t>r * n_out + i] = acts[first_out + i]
    free(scratch)
    return Y


def _check_inputs(X, int width, str name, bint check_finite=True):
    if not isinstance(X, np.ndarray):
        raise ValueError(f"{name} must be a numpy float32 array, got {type(X).__name__}")
    if X.dtype != np.float32:
        raise ValueError(f"{name} must be float32, got {X.dtype}")
    if X.ndim != 2 or X.shape[1] != width:
        raise ValueError(f"{name} must have shape (n, {width}), got {X.shape}")
    if X.shape[0] > 2147483647:
        raise ValueError(f"{name} has too many records")
    if check_finite and not np.isfinite(X).all():
        raise ValueError(f"{name} holds non-finite values")
    return np.ascontiguousarray(X)


def kernel_cost(str cost):
    """The kernels' id of a cost name: its `CostFunction` number - 1 (record_cost's order)."""
    return cost_number(cost) - 1


def sample_rows(int n, double rate):
    """Indices of the records a fitnessSampleRate keeps: i iff floor((i+1)·rate) > floor(i·rate)."""
    if not (0 < rate <= 1):
        raise ValueError(f"sample_rate must be in (0, 1], got {rate}")
    if rate == 1:
        return np.arange(n, dtype=np.int32)
    i = np.arange(n, dtype=np.float64)
    return np.flatnonzero(np.floor((i + 1) * rate) > np.floor(i * rate)).astype(np.int32)


def evaluate_population(networks, X, Y, cost="MSE", double sample_rate=1.0, bint feedback_loop=False,
                        int tile=TILE, *, bint check_finite=True):
    """Dataset error (mean over the sampled records) of every network: float64[len(networks)].

    The whole population runs in one call without the GIL, so several threads can score
    disjoint slices at once (each call owns its scratch memory). Outputs are always finite
    (the range clamp maps NaN to 0 and ±inf to the bounds) and costs are summed in float64, so
    errors are finite in practice; one that is not is returned as +inf, so it sorts last.
    `check_finite=False` skips the scan of X and Y for NaN/inf, for callers that validated a
    registered dataset once.
    """
    if cost not in COSTS:
        raise ValueError(f"unknown cost {cost!r}; expected one of {', '.join(COSTS)}")
    cdef int cost_id = kernel_cost(cost)
    cdef list nets = list(networks)
    cdef int m = len(nets), i
    cdef Network net
    cdef cnp.ndarray errors = np.empty(m, dtype=np.float64)
    if m == 0:
        return errors
    net = nets[0]
    cdef int n_in = net.n_inputs, n_out = net.n_outputs
    cdef size_t width = 0
    for i in range(m):
        if not isinstance(nets[i], Network):
            raise ValueError(f"networks[{i}] is not a compiled Network")
        net = nets[i]
        net._check_built()
        if net.n_inputs != n_in or net.n_outputs != n_out:
            raise ValueError(f"networks[{i}] has {net.n_inputs} inputs/{net.n_outputs} outputs, "
                             f"networks[0] has {n_in}/{n_out}")
        width = max(width, <size_t>(net.n_inputs + net.n_neurons))
    cdef cnp.ndarray x = _check_inputs(X, n_in, "X", check_finite)
    cdef cnp.ndarray y = _check_inputs(Y, n_out, "Y", check_finite)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"X has {x.shape[0]} records, Y has {y.shape[0]}")
    if tile < 1:
        raise ValueError(f"tile must be >= 1, got {tile}")
    cdef cnp.ndarray rows = sample_rows(x.shape[0], sample_rate)
    cdef int n = rows.shape[0]
    if n == 0:
        raise ValueError("no records to score (empty dataset or sample)")
    cdef Net* packed = <Net*>malloc(m * sizeof(Net))
    cdef float* acts = <float*>malloc(width * tile * sizeof(float))
    cdef float* scratch = <float*>malloc(3 * <size_t>tile * sizeof(float))
    if packed == NULL or acts == NULL or scratch == NULL:
        free(packed)
        free(acts)
        free(scratch)
        raise MemoryError()
    for i in range(m):
        net = nets[i]
        packed[i] = net.net
    cdef const float* xp = <const float*>cnp.PyArray_DATA(x)
    cdef const float* yp = <const float*>cnp.PyArray_DATA(y)
    cdef const int* rp = <const int*>cnp.PyArray_DATA(rows)
    cdef double[::1] out = errors
    with nogil:
        for i in range(m):
            out[i] = run_error(&packed[i], xp, yp, rp, n, cost_id, feedback_loop, tile, acts, scratch)
    free(packed)
    free(acts)
    free(scratch)
    return errors
