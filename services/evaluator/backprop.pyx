# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Exact gradients of a network's dataset error: the forward pass keeping what the reverse
sweep needs (forward.forward_tile's `pre`), then a reverse sweep over the compiled format
(float32 buffers, float64 sums per parameter, GIL released), sample-inner like the forward pass.

The error is what `evaluate_population` reports (reference/neat-ai.md §7.2: the mean over
records of the per-record cost, RMSE its root); the gradients are d(error)/d(weight) per CSR
slot and d(error)/d(bias) per neuron, of the float32 function the kernels compute:

* squashes differentiate by squash_math.h's neatai_gradient_tile (the true f' of the value,
  not NEAT-AI's pseudo-derivatives); where the range limit changed the value the gradient is 0;
* MINIMUM/MAXIMUM route it through the winning term (the first in slot order, as the forward
  pass keeps it), IF through the branch taken (condition synapses get none), HYPOT/HYPOTv2
  and MEAN by their formulas;
* constants get none (nor do synapses into them: the forward pass ignores those).

Recurrence: without `feedback_loop` every record starts from zeroed state, so a self or back
synapse reads 0 — its gradient is exactly 0 and nothing flows back in time. With
`feedback_loop` state carries from record to record and the sweep is back-propagation
through time over windows of `window` records (all of them by default: the exact gradient);
the state entering a window is taken as a constant (truncation).
"""
cimport numpy as cnp
from libc.math cimport INFINITY
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

import numpy as np

from neatai.evaluator.compiled cimport (Net, Network, OP_CONST, OP_HYPOT, OP_HYPOTV2, OP_IF, OP_MAXIMUM,
                                        OP_MINIMUM, OP_SOFTMAX)
from neatai.evaluator.forward cimport dataset_error, forward_tile, load_tile, record_cost, tile_width

from neatai.costs import COST_NAMES as COSTS
from neatai.evaluator.forward import TILE, _check_inputs, kernel_cost

cnp.import_array()

cdef extern from "squash_math.h":
    int neatai_squash_tile(int op, const float* x, float* out, int T, float lo, float hi) noexcept nogil
    int neatai_gradient_tile(int op, const float* x, const float* fx, float* out, int T) noexcept nogil

# The sweep's loops over a tile, in C so that each is a plain counted loop gcc vectorises (the
# AVX2 clone of NEATAI_SIMD, as forward.pyx). Sums over the tile keep eight float lanes (a GCC
# vector: gcc neither reassociates one float accumulator without fast-math nor made good code of
# an eight-element array) and end in double.
# A synapse whose source row is at or after its target's reads `prev` (the previous record's
# activations) or, when prev is NULL, zero (a reset row); its source's gradient goes to
# prev_delta, or nowhere when that is NULL (state entering a window, or always zero).
cdef extern from *:
    """
    #include "squash_math.h"
    #pragma GCC push_options
    #pragma GCC optimize ("no-trapping-math")
    /* eight float lanes as one value (GCC vector extension: one AVX register in the AVX2
       clone, two SSE ones in the baseline); unaligned loads and stores through memcpy */
    typedef float neatai_v8 __attribute__((vector_size(32)));
    static inline neatai_v8 neatai_load8(const float *p) { neatai_v8 v; memcpy(&v, p, sizeof v); return v; }
    static inline double neatai_lanes(neatai_v8 v) {
        double s = 0;
        for (int l = 0; l < 8; l++)
            s += v[l];
        return s;
    }

    NEATAI_SIMD static double neatai_sum(const float *restrict g, int T) {
        neatai_v8 p = {0, 0, 0, 0, 0, 0, 0, 0};
        double s = 0;
        int j = 0;
        for (; j + 8 <= T; j += 8)
            p += neatai_load8(g + j);
        for (; j < T; j++)
            s += g[j];
        return s + neatai_lanes(p);
    }

    /* returns g . a; d[0:T] += wv * g[0:T] when d is not NULL */
    NEATAI_SIMD static double neatai_dot_axpy(const float *restrict g, const float *restrict a,
                                              float *restrict d, float wv, int T) {
        neatai_v8 p = {0, 0, 0, 0, 0, 0, 0, 0};
        double s = 0;
        int j = 0;
        if (d)
            for (; j + 8 <= T; j += 8) {
                neatai_v8 gv = neatai_load8(g + j);
                neatai_v8 dv = neatai_load8(d + j) + wv * gv;
                p += gv * neatai_load8(a + j);
                memcpy(d + j, &dv, sizeof dv);
            }
        else
            for (; j + 8 <= T; j += 8)
                p += neatai_load8(g + j) * neatai_load8(a + j);
        for (; j < T; j++) {
            s += g[j] * a[j];
            if (d)
                d[j] = d[j] + wv * g[j];
        }
        return s + neatai_lanes(p);
    }

    typedef struct {
        const float *acts, *prev, *zeros;
        float *delta, *prev_delta;
        const int *src;
        const float *w;
        int row, n_in, T;
        double *gw;
    } NeataiSweep;

    /* the row slot s read in the forward pass, and where its gradient goes (NULL: nowhere) */
    static inline const float *neatai_source(const NeataiSweep *w, int s, float **d) {
        int r = w->src[s];
        int back = r >= w->row;
        float *to = back ? w->prev_delta : w->delta;
        *d = (r < w->n_in || to == NULL) ? NULL : to + (long)r * w->T;
        if (back && w->prev == NULL)
            return w->zeros;
        return (back ? w->prev : w->acts) + (long)r * w->T;
    }

    /* A weighted sum with d(error)/d(sum) = g: every slot s0..s1 */
    NEATAI_SIMD static void neatai_reverse_sum(const NeataiSweep *w, const float *restrict g, int s0, int s1) {
        float *d;
        for (int s = s0; s < s1; s++) {
            const float *a = neatai_source(w, s, &d);
            if (a == w->zeros)
                continue;   /* g . 0 */
            w->gw[s] += neatai_dot_axpy(g, a, d, w->w[s], w->T);
        }
    }

    /* g = d(error)/d(pre-activation) = delta * f' where the value was not clamped: with f (the
       value before the limit) when given, else every lane's value was inside (lo, hi). A NaN
       pre-activation (a value of 0 whatever the parameters) and a non-finite product read 0.
       Returns the sum of g. */
    NEATAI_SIMD static double neatai_pre_gradient(const float *restrict delta, const float *restrict fp,
                                                  const float *restrict x, const float *restrict f,
                                                  float lo, float hi, float *restrict g, int T) {
        if (f)
            for (int j = 0; j < T; j++) {
                float v = delta[j] * fp[j];
                g[j] = (x[j] == x[j] && fabsf(v) <= FLT_MAX && f[j] >= lo && f[j] <= hi) ? v : 0.0f;
            }
        else
            for (int j = 0; j < T; j++) {
                float v = delta[j] * fp[j];
                g[j] = (x[j] == x[j] && fabsf(v) <= FLT_MAX) ? v : 0.0f;
            }
        return neatai_sum(g, T);
    }

    /* 1 when some lane with f' != 0 has its value at a bound of the range (clamped there, or
       naturally: ReLU's 0, a saturated TANH; those have f' = 0, so this is rare) */
    NEATAI_SIMD static int neatai_at_bound(const float *restrict a, const float *restrict fp,
                                           float lo, float hi, int T) {
        int any = 0;
        for (int j = 0; j < T; j++)
            any |= ((a[j] <= lo) | (a[j] >= hi)) & (fp[j] != 0.0f);
        return any;
    }

    /* an aggregate's g = delta where its value is strictly inside the range (their ranges
       are the whole line, or [0, inf) for HYPOTv2 whose 0 is the root's kink); its sum */
    NEATAI_SIMD static double neatai_inside(const float *restrict delta, const float *restrict a,
                                            float lo, float hi, float scale, float *restrict g, int T) {
        for (int j = 0; j < T; j++)
            g[j] = (a[j] > lo && a[j] < hi) ? delta[j] : 0.0f;
        double s = neatai_sum(g, T);
        if (scale != 1.0f)
            for (int j = 0; j < T; j++)
                g[j] = g[j] * scale;
        return s;
    }

    /* MINIMUM/MAXIMUM: the winner of every lane is the first slot whose term w*a equals the
       extreme the forward pass kept (best); it alone gets the gradient */
    NEATAI_SIMD static void neatai_reverse_extreme(const NeataiSweep *w, const float *restrict g,
                                                   const float *restrict best, int s0, int s1,
                                                   int *restrict win, float *restrict gs) {
        int T = w->T;
        float *d;
        for (int j = 0; j < T; j++)
            win[j] = -1;
        for (int s = s0; s < s1; s++) {
            const float *a = neatai_source(w, s, &d);
            float wv = w->w[s];
            for (int j = 0; j < T; j++)
                win[j] = (win[j] < 0 && wv * a[j] == best[j]) ? s : win[j];
        }
        for (int s = s0; s < s1; s++) {
            const float *a = neatai_source(w, s, &d);
            for (int j = 0; j < T; j++)
                gs[j] = win[j] == s ? g[j] : 0.0f;
            w->gw[s] += neatai_dot_axpy(gs, a, d, w->w[s], T);
        }
    }

    /* IF: the branch taken by the condition sum c (positive and untyped when c > 0, negative
       otherwise); condition synapses get nothing */
    NEATAI_SIMD static void neatai_reverse_if(const NeataiSweep *w, const signed char *role,
                                              const float *restrict g, const float *restrict c,
                                              int s0, int s1, float *restrict gs) {
        int T = w->T;
        float *d;
        for (int s = s0; s < s1; s++) {
            if (role[s] == 3)        /* ROLE_CONDITION */
                continue;
            const float *a = neatai_source(w, s, &d);
            int negative = role[s] == 2;
            for (int j = 0; j < T; j++)
                gs[j] = ((c[j] > 0) != negative) ? g[j] : 0.0f;
            w->gw[s] += neatai_dot_axpy(gs, a, d, w->w[s], T);
        }
    }

    /* HYPOT/HYPOTv2, r = sqrt(sum of t_s^2), t_s = inner + w_s a_s: d r/d t_s = t_s / r (0 at
       the origin). Returns the sum over slots and lanes of d(error)/d(t_s) (HYPOTv2's bias). */
    NEATAI_SIMD static double neatai_reverse_hypot(const NeataiSweep *w, const float *restrict g,
                                                   const float *restrict r, float inner, int s0, int s1,
                                                   float *restrict q, float *restrict gs) {
        int T = w->T;
        float *d;
        double total = 0;
        for (int j = 0; j < T; j++)
            q[j] = r[j] > 0 ? g[j] / r[j] : 0.0f;
        for (int s = s0; s < s1; s++) {
            const float *a = neatai_source(w, s, &d);
            float wv = w->w[s];
            for (int j = 0; j < T; j++)
                gs[j] = q[j] * (inner + wv * a[j]);
            total += neatai_sum(gs, T);
            w->gw[s] += neatai_dot_axpy(gs, a, d, wv, T);
        }
        return total;
    }
    #pragma GCC pop_options
    """
    ctypedef struct NeataiSweep:
        const float* acts
        const float* prev
        const float* zeros
        float* delta
        float* prev_delta
        const int* src
        const float* w
        int row, n_in, T
        double* gw
    double neatai_pre_gradient(const float* delta, const float* fp, const float* x, const float* f,
                               float lo, float hi, float* g, int T) noexcept nogil
    int neatai_at_bound(const float* a, const float* fp, float lo, float hi, int T) noexcept nogil
    double neatai_inside(const float* delta, const float* a, float lo, float hi, float scale, float* g,
                         int T) noexcept nogil
    void neatai_reverse_sum(const NeataiSweep* w, const float* g, int s0, int s1) noexcept nogil
    void neatai_reverse_extreme(const NeataiSweep* w, const float* g, const float* best, int s0, int s1,
                                int* win, float* gs) noexcept nogil
    void neatai_reverse_if(const NeataiSweep* w, const signed char* role, const float* g, const float* c,
                           int s0, int s1, float* gs) noexcept nogil
    double neatai_reverse_hypot(const NeataiSweep* w, const float* g, const float* r, float inner,
                                int s0, int s1, float* q, float* gs) noexcept nogil

cdef enum:  # kernel cost ids (forward.kernel_cost, record_cost's order)
    COST_MSE = 0
    COST_RMSE = 1
    COST_MAE = 2
    COST_MAPE = 3
    COST_MSLE = 4
    COST_CROSS_ENTROPY = 5


cdef inline double output_gradient(int cost, double o, double t, int n_out) noexcept nogil:
    """d(record_cost)/d(output o) for target t; 0 where record_cost is flat (its floors and
    clips) and at the kinks of MAE/MAPE/HINGE."""
    if cost == COST_MSE or cost == COST_RMSE:   # RMSE: its chain factor is applied at the end
        return -2 * (t - o) / n_out
    if cost == COST_MAE:
        return ((o > t) - (o < t)) / <double>n_out
    if cost == COST_MAPE:
        return ((o > t) - (o < t)) / (t if t > 1e-15 else 1e-15) / n_out
    if cost == COST_MSLE:                    # log t - log o, o floored at 1e-15, no 1/n
        return -1 / o if o > 1e-15 else 0
    if cost == COST_CROSS_ENTROPY:           # o clipped to [1e-15, 1 - 1e-15]
        if o < 1e-15 or o > 1 - 1e-15:
            return 0
        return (-t / o + (1 - t) / (1 - o)) / n_out
    return -t if 1 - t * o > 0 else 0        # HINGE, no 1/n


cdef struct Work:
    float* scratch   # [3][T] forward_tile's
    float* g         # [T] d(error)/d(a neuron's sum)
    float* fp        # [T] f'
    float* f         # [T] a squash's value before the limit
    float* gs        # [T] one slot's share of g
    float* zeros     # [T] what a reset row reads
    int* win         # [T] MINIMUM/MAXIMUM winners


cdef void reverse_tile(const Net* net, Work* w, NeataiSweep* sw, const float* pre, double* gb) noexcept nogil:
    """Adds one tile's d(error)/d(parameter) to sw.gw and gb. sw.delta holds d(error)/d(activation)
    of the output rows (and, through time, what the next record sent back) and gets the rest."""
    cdef int k, op, s0, s1, n, T = sw.T
    cdef float lo, hi
    cdef float* d
    cdef const float* a
    cdef const float* x
    for k in range(net.n_nodes - 1, -1, -1):
        op = net.op[k]
        if op == OP_CONST:
            continue
        sw.row = net.n_in + k
        d = sw.delta + <Py_ssize_t>sw.row * T
        a = sw.acts + <Py_ssize_t>sw.row * T
        x = pre + <Py_ssize_t>k * T
        lo, hi = net.lo[k], net.hi[k]
        s0, s1 = net.off[k], net.off[k + 1]
        n = s1 - s0
        if op < OP_MINIMUM or op == OP_SOFTMAX:
            neatai_gradient_tile(op, x, a, w.fp, T)
            if neatai_at_bound(a, w.fp, lo, hi, T):   # clamped there, or its value: the value before the limit tells
                neatai_squash_tile(op, x, w.f, T, -INFINITY, INFINITY)
                gb[k] += neatai_pre_gradient(d, w.fp, x, w.f, lo, hi, w.g, T)
            else:
                gb[k] += neatai_pre_gradient(d, w.fp, x, NULL, lo, hi, w.g, T)
            neatai_reverse_sum(sw, w.g, s0, s1)
        elif op == OP_MINIMUM or op == OP_MAXIMUM:
            gb[k] += neatai_inside(d, a, lo, hi, 1, w.g, T)
            if n:
                neatai_reverse_extreme(sw, w.g, x, s0, s1, w.win, w.gs)
        elif op == OP_IF:
            gb[k] += neatai_inside(d, a, lo, hi, 1, w.g, T)
            neatai_reverse_if(sw, net.role, w.g, x, s0, s1, w.gs)
        elif op == OP_HYPOT or op == OP_HYPOTV2:
            if op == OP_HYPOT:
                gb[k] += neatai_inside(d, a, lo, hi, 1, w.g, T)
                neatai_reverse_hypot(sw, w.g, x, 0, s0, s1, w.f, w.gs)
            else:   # the bias sits inside every term
                neatai_inside(d, a, lo, hi, 1, w.g, T)
                gb[k] += neatai_reverse_hypot(sw, w.g, x, net.bias[k], s0, s1, w.f, w.gs)
        else:   # MEAN = sum * p + bias, p as the forward pass rounds it
            gb[k] += neatai_inside(d, a, lo, hi, <float>(1.0 / (n if n > 0 else 1)), w.g, T)
            neatai_reverse_sum(sw, w.g, s0, s1)


cdef void output_deltas(int cost, const float* out, int t, const float* Y, const int* rows, int r0,
                        int n_out, float* delta) noexcept nogil:
    """delta[o][j] += d(record cost)/d(output o) of records rows[r0:r0+t] (out: [n_out][t])."""
    cdef int o, j
    cdef Py_ssize_t i
    for o in range(n_out):
        for j in range(t):
            i = <Py_ssize_t>o * t + j
            delta[i] += <float>output_gradient(cost, out[i], Y[<Py_ssize_t>rows[r0 + j] * n_out + o], n_out)


cdef double run_gradients(const Net* net, const float* X, const float* Y, const int* rows, int n, int cost,
                          int T, bint carry, int window, Work* w, float* acts, float* delta, float* pre,
                          double* gw, double* gb) noexcept nogil:
    """d(error)/d(parameter) into gw, gb (zeroed) over records rows[0:n]; returns the error.
    Without `carry`: tiles of T records from zeroed state (acts, delta: [rows][T], pre:
    [n_nodes][T]). With it (T = 1, state carried from record to record): windows of `window` records (acts, delta: [window + 1][rows], the
    state before the window first; pre: [window][n_nodes])."""
    cdef int width = net.n_in + net.n_nodes, n_out = net.n_out, first_out = width - n_out
    cdef int r0 = 0, t, i, m = net.off[net.n_nodes]
    cdef double total = 0, scale, error
    cdef NeataiSweep sw
    sw.src, sw.w, sw.n_in, sw.zeros, sw.gw = net.src, net.w, net.n_in, w.zeros, gw
    if not carry:   # every record from zeroed state: back synapses read zero
        sw.prev, sw.prev_delta = NULL, NULL
        while r0 < n:
            t = T if n - r0 > T else n - r0
            load_tile(net, X, rows, r0, t, acts, net.recurrent)
            forward_tile(net, acts, w.scratch, t, pre)
            for i in range(t):
                total += record_cost(cost, acts + <Py_ssize_t>first_out * t, t, i,
                                     Y + <Py_ssize_t>rows[r0 + i] * n_out, n_out)
            memset(delta, 0, <size_t>width * t * sizeof(float))
            output_deltas(cost, acts + <Py_ssize_t>first_out * t, t, Y, rows, r0, n_out,
                          delta + <Py_ssize_t>first_out * t)
            sw.acts, sw.delta, sw.T = acts, delta, t
            reverse_tile(net, w, &sw, pre, gb)
            r0 += t
    else:   # back-propagation through time: a window forward, then backwards record by record
        sw.T = 1
        memset(acts, 0, <size_t>width * sizeof(float))   # the state before the first record
        while r0 < n:
            t = window if n - r0 > window else n - r0
            for i in range(t):
                memcpy(acts + <Py_ssize_t>(i + 1) * width, acts + <Py_ssize_t>i * width, width * sizeof(float))
                load_tile(net, X, rows, r0 + i, 1, acts + <Py_ssize_t>(i + 1) * width, False)
                forward_tile(net, acts + <Py_ssize_t>(i + 1) * width, w.scratch, 1, pre + <Py_ssize_t>i * net.n_nodes)
                total += record_cost(cost, acts + <Py_ssize_t>(i + 1) * width + first_out, 1, 0,
                                     Y + <Py_ssize_t>rows[r0 + i] * n_out, n_out)
            memset(delta, 0, <size_t>(t + 1) * width * sizeof(float))
            for i in range(t - 1, -1, -1):
                sw.acts = acts + <Py_ssize_t>(i + 1) * width
                sw.prev = acts + <Py_ssize_t>i * width
                sw.delta = delta + <Py_ssize_t>(i + 1) * width
                sw.prev_delta = delta + <Py_ssize_t>i * width if i > 0 else NULL   # truncated at the window
                output_deltas(cost, sw.acts + first_out, 1, Y, rows, r0 + i, n_out, sw.delta + first_out)
                reverse_tile(net, w, &sw, pre + <Py_ssize_t>i * net.n_nodes, gb)
            memcpy(acts, acts + <Py_ssize_t>t * width, width * sizeof(float))   # state into the next window
            r0 += t
    # the per-record gradients summed; the error is their mean (RMSE: d sqrt(e) = de / (2 sqrt(e)))
    error = dataset_error(cost, total, n)
    scale = 1.0 / n
    if cost == COST_RMSE:
        scale = scale / (2 * error) if error > 0 else 0
    for i in range(m):
        gw[i] *= scale
    for i in range(net.n_nodes):
        gb[i] *= scale
    return error


def gradients(Network network, X, Y, cost="MSE", bint feedback_loop=False, int window=0, int tile=TILE):
    """(error, d(error)/d(weight) float64[m] in CSR slot order, d(error)/d(bias) float64[n]) over
    every record of X, Y (float32) in order. `window` > 0 truncates back-propagation through time
    (recurrent network, feedback_loop) to windows of that many records; 0 means all of them."""
    network._check_built()
    if cost not in COSTS:
        raise ValueError(f"unknown cost {cost!r}; expected one of {', '.join(COSTS)}")
    if tile < 1 or window < 0:
        raise ValueError(f"tile must be >= 1 and window >= 0, got {tile}, {window}")
    cdef cnp.ndarray x = _check_inputs(X, network.n_inputs, "X")
    cdef cnp.ndarray y = _check_inputs(Y, network.n_outputs, "Y")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"X has {x.shape[0]} records, Y has {y.shape[0]}")
    cdef int n = x.shape[0]
    if n == 0:
        raise ValueError("no records")
    cdef const Net* net = &network.net
    cdef int T = tile_width(net, feedback_loop, tile)
    cdef bint carry = net.recurrent and feedback_loop
    cdef int L = (window if 0 < window < n else n) if carry else 1
    cdef size_t width = net.n_in + net.n_nodes
    cdef size_t cols = L + 1 if carry else T
    cdef cnp.ndarray gw = np.zeros(network.n_synapses, dtype=np.float64)
    cdef cnp.ndarray gb = np.zeros(network.n_neurons, dtype=np.float64)
    cdef cnp.ndarray rows = np.arange(n, dtype=np.int32)
    cdef Work w
    cdef float* acts = <float*>malloc(width * cols * sizeof(float))
    cdef float* delta = <float*>malloc(width * cols * sizeof(float))
    cdef float* pre = <float*>malloc(<size_t>(net.n_nodes if net.n_nodes else 1) * cols * sizeof(float))
    cdef float* block = <float*>malloc(8 * <size_t>T * sizeof(float) + <size_t>T * sizeof(int))
    if acts == NULL or delta == NULL or pre == NULL or block == NULL:
        free(acts)
        free(delta)
        free(pre)
        free(block)
        raise MemoryError()
    w.scratch, w.g, w.fp, w.f, w.gs, w.zeros = block, block + 3 * T, block + 4 * T, block + 5 * T, block + 6 * T, block + 7 * T
    w.win = <int*>(block + 8 * T)
    memset(w.zeros, 0, T * sizeof(float))
    cdef const float* xp = <const float*>cnp.PyArray_DATA(x)
    cdef const float* yp = <const float*>cnp.PyArray_DATA(y)
    cdef const int* rp = <const int*>cnp.PyArray_DATA(rows)
    cdef double* gwp = <double*>cnp.PyArray_DATA(gw)
    cdef double* gbp = <double*>cnp.PyArray_DATA(gb)
    cdef int cost_id = kernel_cost(cost)
    cdef double error
    with nogil:
        error = run_gradients(net, xp, yp, rp, n, cost_id, T, carry, L, &w, acts, delta, pre, gwp, gbp)
    free(acts)
    free(delta)
    free(pre)
    free(block)
    return error, gw, gb
