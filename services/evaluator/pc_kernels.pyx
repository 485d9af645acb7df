# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Predictive-coding kernels (reference/neat-ai.md §5, reference/predictive-coding.md): settling
the latents of a block of samples to a minimum of the prediction-error energy, and the Hebbian
update from the settled state. float32 state, GIL released, on the compiled format.

Convention (MBA, predictive-coding.md §0): for every non-input neuron k
    mu_k = f_k(b_k + sum_j w_jk x_j),  eps_k = x_k - mu_k,  E = 1/2 sum_k eps_k^2
and the inference gradient of a free latent h is
    g_h = eps_h - sum_{m in children(h)} w_hm f'_m eps_m   (- beta (y - x_h) for a free output).

Batch-inner like the forward pass: the state of a tile of samples is neuron-major
([row][column], stride = the tile width), every synapse one axpy over the active columns.
A sample that stops (converged) is written out and the remaining columns are compacted, so a
finished sample costs no more work.

Squashes: values by neatai_squash_tile, f' by neatai_gradient_tile (the exact derivative), 0
where the range limit clamps. Aggregates (MINIMUM, MAXIMUM, IF, HYPOT, MEAN) predict by the
identity of the weighted sum (f' = 1), as NEAT-AI's PC codes them (§5.2); constants are clamped
(no error). Recurrence: a self or back synapse reads the state before the record, which the
unrolled step holds fixed: zero, as a record evaluated from reset state, or in the feedback
loop the previous record's forward activations (as the forward pass carries them).
"""
cimport numpy as cnp
from libc.math cimport INFINITY, sqrt
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

import numpy as np

from neatai.evaluator.forward import _check_inputs

from neatai.evaluator.compiled cimport (Net, Network, OP_CONST, OP_IDENTITY, OP_MINIMUM, OP_SOFTMAX,
                                        ROLE_CONDITION)

cnp.import_array()

cdef extern from *:
    """
    #include "squash_math.h"
    #pragma GCC push_options
    #pragma GCC optimize ("no-trapping-math")
    /* acc[0:A] = b (when reset) + sum over slots s0..s1 of w[s] * x[src[s]][0:A] (rows of stride B) */
    NEATAI_SIMD static void pc_sum(float *restrict acc, const float *restrict x, const int *src,
                                   const float *w, float b, int s0, int s1, int A, int B, int reset) {
        int s = s0;
        if (reset)
            for (int j = 0; j < A; j++)
                acc[j] = b;
        for (; s + 2 <= s1; s += 2) {
            const float *a0 = x + (long)src[s] * B, *a1 = x + (long)src[s + 1] * B;
            float w0 = w[s], w1 = w[s + 1];
            for (int j = 0; j < A; j++)
                acc[j] = acc[j] + (w0 * a0[j] + w1 * a1[j]);
        }
        for (; s < s1; s++) {
            const float *a = x + (long)src[s] * B;
            float wv = w[s];
            for (int j = 0; j < A; j++)
                acc[j] = acc[j] + wv * a[j];
        }
    }

    /* g[src[s]][0:A] -= w[s] * d[0:A] for the slots whose source row is free */
    NEATAI_SIMD static void pc_scatter(float *g, const float *restrict d, const int *src, const float *w,
                                       const unsigned char *free_row, int s0, int s1, int A, int B) {
        for (int s = s0; s < s1; s++) {
            if (!free_row[src[s]])
                continue;
            float *restrict t = g + (long)src[s] * B;
            float wv = w[s];
            for (int j = 0; j < A; j++)
                t[j] = t[j] - wv * d[j];
        }
    }

    /* eps = x - mu; d = f' * eps; E[j] += eps^2 / 2 when E is not NULL */
    NEATAI_SIMD static void pc_error(float *restrict eps, float *restrict d, const float *restrict x,
                                     const float *restrict mu, const float *restrict fp,
                                     double *restrict E, int A) {
        if (E)
            for (int j = 0; j < A; j++) {
                float e = x[j] - mu[j];
                eps[j] = e;
                d[j] = fp[j] * e;
                E[j] += 0.5 * (double)e * (double)e;
            }
        else
            for (int j = 0; j < A; j++) {
                float e = x[j] - mu[j];
                eps[j] = e;
                d[j] = fp[j] * e;
            }
    }

    /* f' = 0 where the range limit moved the value (the unlimited value f lies outside [lo, hi]) */
    NEATAI_SIMD static void pc_clamped(float *restrict fp, const float *restrict f, float lo, float hi, int A) {
        for (int j = 0; j < A; j++)
            fp[j] = (f[j] >= lo && f[j] <= hi) ? fp[j] : 0.0f;
    }

    NEATAI_SIMD static int pc_at_bound(const float *restrict mu, const float *restrict fp, float lo, float hi,
                                       int A) {
        int any = 0;
        for (int j = 0; j < A; j++)
            any |= ((mu[j] <= lo) | (mu[j] >= hi)) & (fp[j] != 0.0f);
        return any;
    }

    /* n[j] += g^2 */
    NEATAI_SIMD static void pc_norm(double *restrict n, const float *restrict g, int A) {
        for (int j = 0; j < A; j++)
            n[j] += (double)g[j] * (double)g[j];
    }

    /* x -= rate * g */
    NEATAI_SIMD static void pc_step(float *restrict x, const float *restrict g, const float *restrict rate, int A) {
        for (int j = 0; j < A; j++)
            x[j] = x[j] - rate[j] * g[j];
    }
    #pragma GCC pop_options
    """
    void pc_sum(float* acc, const float* x, const int* src, const float* w, float b, int s0, int s1,
                int A, int B, int reset) noexcept nogil
    void pc_scatter(float* g, const float* d, const int* src, const float* w, const unsigned char* free_row,
                    int s0, int s1, int A, int B) noexcept nogil
    void pc_error(float* eps, float* d, const float* x, const float* mu, const float* fp, double* E,
                  int A) noexcept nogil
    void pc_clamped(float* fp, const float* f, float lo, float hi, int A) noexcept nogil
    int pc_at_bound(const float* mu, const float* fp, float lo, float hi, int A) noexcept nogil
    void pc_norm(double* n, const float* g, int A) noexcept nogil
    void pc_step(float* x, const float* g, const float* rate, int A) noexcept nogil

cdef extern from "squash_math.h":
    float neatai_limit(float r, float lo, float hi) noexcept nogil
    int neatai_squash_tile(int op, const float* x, float* out, int T, float lo, float hi) noexcept nogil
    int neatai_gradient_tile(int op, const float* x, const float* fx, float* out, int T) noexcept nogil


cdef struct Options:
    int max_steps
    float rate           # inference rate eta (already scaled)
    double threshold     # convergence threshold (already scaled); 0: never stop early
    double cap           # L2 cap on a sample's gradient; 0: none
    float beta           # > 0: outputs free with beta/2 |y - x_out|^2 in the energy; 0: clamped
    bint fixed           # fixed prediction: mu and f' at their feed-forward values
    bint backtrack       # halve a sample's rate and undo its step when its energy rises
    bint has_y
    bint carry           # feedback loop: records in order, self/back synapses read the previous one
    bint track           # the energy is read every step (threshold, guard, history), not only at the end


cdef struct Tile:
    int B, A             # capacity and active columns
    float* x             # [rows][B] latents
    float* x_old         # [rows][B] before the step (backtracking)
    float* g             # [rows][B] inference gradient
    float* mu            # [n][B] predictions
    float* fp            # [n][B] f'
    float* eps           # [n][B] errors
    float* d             # [n][B] f' * eps
    float* y             # [n_out][B] targets
    float* prev          # [rows][B] the state before the record (read by self/back synapses), or NULL
    float* next          # [rows] (carry) the forward state of the record: the next one's prev
    float* f             # [B] scratch: a squash's value before the limit
    float* rate          # [B] step per column
    double* E            # [B] energy
    double* E_old        # [B]
    double* nrm          # [B]
    float* eta           # [B] per-column rate (halved by backtracking)
    int* col             # [B] the sample in each column
    int* steps           # [B]
    unsigned char* free_row   # [rows] 1 for latents that settle
    unsigned char* done  # [B]


cdef inline int forward_end(const Net* net, int k) noexcept nogil:
    """End of neuron k's forward slots: sources are sorted, the self/back ones (source row at or
    after the neuron's, reading the held state: zero) come last."""
    cdef int s = net.off[k + 1], row = net.n_in + k
    while s > net.off[k] and net.src[s - 1] >= row:
        s -= 1
    return s


cdef void predict(const Net* net, Tile* t, bint init) noexcept nogil:
    """mu and f' of every non-input neuron from the latents; with `init` each latent is set to
    its prediction as it is made (the forward initialisation, in neuron order)."""
    cdef int k, j, op, end, A = t.A, B = t.B
    cdef float* mu
    cdef float* fp
    cdef float* pre = t.g   # scratch row: g is rebuilt before it is read
    cdef float lo, hi
    for k in range(net.n_nodes):
        op = net.op[k]
        mu = t.mu + <Py_ssize_t>k * B
        fp = t.fp + <Py_ssize_t>k * B
        lo, hi = net.lo[k], net.hi[k]
        if op == OP_CONST:
            for j in range(A):
                mu[j] = neatai_limit(net.bias[k], lo, hi)
                fp[j] = 0
        else:
            end = forward_end(net, k)
            pc_sum(pre, t.x, net.src, net.w, net.bias[k], net.off[k], end, A, B, 1)
            if t.prev != NULL:   # the held state through self/back synapses
                pc_sum(pre, t.prev, net.src, net.w, 0, end, net.off[k + 1], A, B, 0)
            if op < OP_MINIMUM or op == OP_SOFTMAX:
                neatai_squash_tile(op, pre, mu, A, lo, hi)
                neatai_gradient_tile(op, pre, mu, fp, A)
                if pc_at_bound(mu, fp, lo, hi, A):
                    neatai_squash_tile(op, pre, t.f, A, -INFINITY, INFINITY)
                    pc_clamped(fp, t.f, lo, hi, A)
            else:   # aggregates: the identity of the weighted sum
                neatai_squash_tile(OP_IDENTITY, pre, mu, A, lo, hi)
                for j in range(A):
                    fp[j] = 1
                pc_clamped(fp, pre, lo, hi, A)
        if init:
            memcpy(t.x + <Py_ssize_t>(net.n_in + k) * B, mu, A * sizeof(float))


cdef void errors(const Net* net, Tile* t, const Options* o, bint energy) noexcept nogil:
    """eps and d = f' eps of every column from the latents and predictions, and with `energy`
    the energy (with the output term of free outputs)."""
    cdef int k, j, i, A = t.A, B = t.B, first_out = net.n_in + net.n_nodes - net.n_out
    cdef double r
    if energy:
        memset(t.E, 0, A * sizeof(double))
    for k in range(net.n_nodes):
        pc_error(t.eps + <Py_ssize_t>k * B, t.d + <Py_ssize_t>k * B, t.x + <Py_ssize_t>(net.n_in + k) * B,
                 t.mu + <Py_ssize_t>k * B, t.fp + <Py_ssize_t>k * B, t.E if energy else NULL, A)
    if energy and o.beta > 0:
        for i in range(net.n_out):
            for j in range(t.A):
                r = t.y[<Py_ssize_t>i * t.B + j] - t.x[<Py_ssize_t>(first_out + i) * t.B + j]
                t.E[j] += 0.5 * o.beta * r * r


cdef void refresh(const Net* net, Tile* t, const Options* o, bint energy) noexcept nogil:
    """The state after the latents moved: predictions (strict PC only), errors, energy if asked."""
    if not o.fixed:
        predict(net, t, False)
    errors(net, t, o, energy)


cdef void gradient(const Net* net, Tile* t, const Options* o) noexcept nogil:
    """g of every free latent (rows without a free latent hold garbage, never read)."""
    cdef int k, j, i, row, A = t.A, B = t.B
    cdef int first_out = net.n_in + net.n_nodes - net.n_out
    cdef float* g
    for k in range(net.n_nodes):
        row = net.n_in + k
        if t.free_row[row]:
            memcpy(t.g + <Py_ssize_t>row * B, t.eps + <Py_ssize_t>k * B, A * sizeof(float))
    for k in range(net.n_nodes):
        if net.op[k] != OP_CONST:
            pc_scatter(t.g, t.d + <Py_ssize_t>k * B, net.src, net.w, t.free_row, net.off[k],
                       forward_end(net, k), A, B)
    if o.beta > 0:
        for i in range(net.n_out):
            g = t.g + <Py_ssize_t>(first_out + i) * B
            for j in range(A):
                g[j] = g[j] - o.beta * (t.y[<Py_ssize_t>i * B + j] - t.x[<Py_ssize_t>(first_out + i) * B + j])


cdef void step(const Net* net, Tile* t, const Options* o) noexcept nogil:
    """x_h -= eta * s * g_h for every free latent, s the L2 cap of the column's gradient."""
    cdef int r, j, A = t.A, B = t.B, rows = net.n_in + net.n_nodes
    cdef double norm
    if o.cap > 0:
        memset(t.nrm, 0, A * sizeof(double))
        for r in range(rows):
            if t.free_row[r]:
                pc_norm(t.nrm, t.g + <Py_ssize_t>r * B, A)
    for j in range(A):
        norm = sqrt(t.nrm[j]) if o.cap > 0 else 0
        t.rate[j] = t.eta[j] * (<float>(o.cap / norm) if norm > o.cap else 1.0)
    for r in range(rows):
        if t.free_row[r]:
            pc_step(t.x + <Py_ssize_t>r * B, t.g + <Py_ssize_t>r * B, t.rate, A)


cdef struct Out:
    float* latents       # [S][rows]
    float* errors        # [S][rows] (0 for inputs)
    float* activity      # [S][rows] presynaptic activity of the Hebbian rule
    float* gain          # [S][n] f'
    float* previous      # [S][rows] the state each record's self/back synapses read (carry only)
    double* energy       # [S]
    int* steps           # [S]
    unsigned char* converged   # [S]
    double* history      # [S][max_steps + 1] or NULL


cdef void emit(const Net* net, Tile* t, const Options* o, Out* out, int j, bint converged) noexcept nogil:
    """Column j's results into the outputs of its sample."""
    cdef int r, k, rows = net.n_in + net.n_nodes, B = t.B
    cdef Py_ssize_t s = t.col[j]
    cdef float* lat = out.latents + s * rows
    cdef float* err = out.errors + s * rows
    cdef float* act = out.activity + s * rows
    for r in range(rows):
        lat[r] = t.x[<Py_ssize_t>r * B + j]
    for r in range(net.n_in):
        err[r] = 0
        act[r] = lat[r]
    for k in range(net.n_nodes):
        err[net.n_in + k] = t.eps[<Py_ssize_t>k * B + j]
        # under fixed prediction the rule multiplies the feed-forward activities (the predictions)
        act[net.n_in + k] = t.mu[<Py_ssize_t>k * B + j] if o.fixed else lat[net.n_in + k]
        out.gain[s * net.n_nodes + k] = t.fp[<Py_ssize_t>k * B + j]
    if t.prev != NULL:
        for r in range(rows):
            out.previous[s * rows + r] = t.prev[<Py_ssize_t>r * B + j]
    out.energy[s] = t.E[j]
    out.steps[s] = t.steps[j]
    out.converged[s] = converged or t.E[j] < o.threshold


cdef void move_column(const Net* net, Tile* t, int to, int frm) noexcept nogil:
    cdef int r, B = t.B, rows = net.n_in + net.n_nodes
    for r in range(rows):
        t.x[<Py_ssize_t>r * B + to] = t.x[<Py_ssize_t>r * B + frm]
    for r in range(net.n_nodes):
        t.mu[<Py_ssize_t>r * B + to] = t.mu[<Py_ssize_t>r * B + frm]
        t.fp[<Py_ssize_t>r * B + to] = t.fp[<Py_ssize_t>r * B + frm]
        t.eps[<Py_ssize_t>r * B + to] = t.eps[<Py_ssize_t>r * B + frm]
        t.d[<Py_ssize_t>r * B + to] = t.d[<Py_ssize_t>r * B + frm]
    for r in range(net.n_out):
        t.y[<Py_ssize_t>r * B + to] = t.y[<Py_ssize_t>r * B + frm]
    t.E[to], t.eta[to], t.col[to], t.steps[to] = t.E[frm], t.eta[frm], t.col[frm], t.steps[frm]


cdef void compact(const Net* net, Tile* t) noexcept nogil:
    """Drop the columns marked done, keeping the others in order."""
    cdef int j, n = 0
    for j in range(t.A):
        if not t.done[j]:
            if n != j:
                move_column(net, t, n, j)
            t.done[n] = 0
            n += 1
    t.A = n


cdef void settle_tile(const Net* net, Tile* t, const Options* o, const float* X, const float* Y, int s0,
                      Out* out) noexcept nogil:
    """Settle samples s0 .. s0 + t.A - 1."""
    cdef int j, i, r, it, n_done, B = t.B, rows = net.n_in + net.n_nodes, rejected
    cdef int first_out = net.n_in + net.n_nodes - net.n_out
    cdef bint finished
    for j in range(t.A):
        t.col[j] = s0 + j
        t.steps[j] = 0
        t.eta[j] = o.rate
        t.done[j] = 0
        for i in range(net.n_in):
            t.x[<Py_ssize_t>i * B + j] = X[<Py_ssize_t>(s0 + j) * net.n_in + i]
        if o.has_y:
            for i in range(net.n_out):
                t.y[<Py_ssize_t>i * B + j] = Y[<Py_ssize_t>(s0 + j) * net.n_out + i]
    predict(net, t, True)   # forward initialisation: every error 0
    if o.carry:             # the forward pass's state after this record: the next record's
        memcpy(t.next, t.x, <size_t>rows * sizeof(float))
    if o.has_y and o.beta == 0:
        for i in range(net.n_out):
            memcpy(t.x + <Py_ssize_t>(first_out + i) * B, t.y + <Py_ssize_t>i * B, t.A * sizeof(float))
    # strict PC predicts again from the clamped outputs (an output may feed another); under
    # fixed prediction mu and f' stay at the feed-forward point
    refresh(net, t, o, True)
    if out.history != NULL:
        for j in range(t.A):
            out.history[<Py_ssize_t>t.col[j] * (o.max_steps + 1)] = t.E[j]
    for it in range(o.max_steps):
        n_done = 0
        for j in range(t.A):   # checked before the step: an already-settled sample costs nothing
            if t.E[j] < o.threshold:
                t.done[j] = 1
                emit(net, t, o, out, j, True)
                n_done += 1
        if n_done:
            compact(net, t)
        if t.A == 0:
            return
        gradient(net, t, o)
        memcpy(t.E_old, t.E, t.A * sizeof(double))
        if o.backtrack:
            memcpy(t.x_old, t.x, <size_t>rows * B * sizeof(float))
        step(net, t, o)
        refresh(net, t, o, o.track)
        rejected = 0
        for j in range(t.A):
            t.steps[j] += 1
            if o.backtrack and t.E[j] > t.E_old[j]:   # undo and halve this sample's rate
                for r in range(rows):
                    t.x[<Py_ssize_t>r * B + j] = t.x_old[<Py_ssize_t>r * B + j]
                t.eta[j] *= 0.5
                rejected = 1
        if rejected:
            refresh(net, t, o, True)
        n_done = 0
        for j in range(t.A):
            if out.history != NULL:
                out.history[<Py_ssize_t>t.col[j] * (o.max_steps + 1) + t.steps[j]] = t.E[j]
            # a rejected step leaves E as it was: that is no sign of convergence
            if o.threshold > 0 and t.E[j] < t.E_old[j] and t.E_old[j] - t.E[j] < o.threshold:
                t.done[j] = 1
                emit(net, t, o, out, j, True)
                n_done += 1
        if n_done:
            compact(net, t)
    if not o.track:   # the final energy, from the errors of the last step
        errors(net, t, o, True)
    for j in range(t.A):
        emit(net, t, o, out, j, False)


def settle(Network network, X, Y, int max_steps, double rate, double threshold, double cap=1.0,
           double beta=0.0, bint fixed_prediction=False, bint backtrack=True, int tile=64,
           bint history=False, initial_state=None):
    """Settle every record of X (float32 [S, inputs]; Y float32 [S, outputs] or None) on
    `network`. Returns a dict of float32 `latents`, `errors`, `activity` ([S, inputs + neurons]),
    `gain` (f', [S, neurons]), float64 `energy` [S], int32 `steps` [S], bool `converged` [S] and,
    with `history`, float64 `history` [S, max_steps + 1] (the energy after every step; the last
    value repeats once a sample stops). Rates and thresholds are used as given (no scaling).

    With `initial_state` (float32 [inputs + neurons]) a recurrent network runs the feedback
    loop: records in order, one at a time, each settling on its unrolled step with the state its
    self/back synapses read held at the previous record's forward activations (the first record
    reads initial_state); `previous` [S, inputs + neurons] holds what each record read and
    `state` the forward activations after the last record (the next batch's initial_state)."""
    network._check_built()
    cdef const Net* net = &network.net
    cdef bint carry = initial_state is not None and net.recurrent
    cdef int S = X.shape[0], rows = net.n_in + net.n_nodes
    cdef int B = 1 if carry else min(max(tile, 1), max(S, 1))
    cdef Options o
    o.max_steps, o.rate, o.threshold, o.cap, o.beta = max_steps, <float>rate, threshold, cap, <float>beta
    o.fixed, o.backtrack, o.has_y, o.carry = fixed_prediction, backtrack, Y is not None, carry
    o.track = threshold > 0 or backtrack or history
    if beta > 0 and Y is None:
        raise ValueError("beta needs targets Y")
    if max_steps < 0 or not (rate > 0) or not (threshold >= 0) or not (cap >= 0) or not (beta >= 0):
        raise ValueError("max_steps, threshold, cap and beta must be >= 0 and rate > 0")
    cdef cnp.ndarray xa = _check_inputs(X, net.n_in, "X")
    cdef cnp.ndarray ya = (_check_inputs(Y, net.n_out, "Y") if Y is not None
                           else np.zeros((S, net.n_out), dtype=np.float32))
    if ya.shape[0] != S:
        raise ValueError(f"X has {S} records, Y has {ya.shape[0]}")
    res = {"latents": np.zeros((S, rows), np.float32), "errors": np.zeros((S, rows), np.float32),
           "activity": np.zeros((S, rows), np.float32), "gain": np.zeros((S, net.n_nodes), np.float32),
           "energy": np.zeros(S, np.float64), "steps": np.zeros(S, np.int32),
           "converged": np.zeros(S, np.bool_)}
    if history:
        res["history"] = np.zeros((S, max_steps + 1), np.float64)
    cdef cnp.ndarray state = None
    if carry:
        state = np.array(initial_state, dtype=np.float32).reshape(-1)
        if state.shape[0] != rows:
            raise ValueError(f"initial_state must have {rows} values, got {state.shape[0]}")
        res["previous"] = np.zeros((S, rows), np.float32)
    cdef Out out
    out.latents = <float*>cnp.PyArray_DATA(res["latents"])
    out.errors = <float*>cnp.PyArray_DATA(res["errors"])
    out.activity = <float*>cnp.PyArray_DATA(res["activity"])
    out.gain = <float*>cnp.PyArray_DATA(res["gain"])
    out.energy = <double*>cnp.PyArray_DATA(res["energy"])
    out.steps = <int*>cnp.PyArray_DATA(res["steps"])
    out.converged = <unsigned char*>cnp.PyArray_DATA(res["converged"])
    out.history = <double*>cnp.PyArray_DATA(res["history"]) if history else NULL
    out.previous = <float*>cnp.PyArray_DATA(res["previous"]) if carry else NULL
    cdef const float* xp = <const float*>cnp.PyArray_DATA(xa)
    cdef const float* yp = <const float*>cnp.PyArray_DATA(ya)
    cdef size_t fl = <size_t>(3 * rows + 5 * net.n_nodes + net.n_out + 3) * B + (2 * rows if carry else 0)
    cdef float* fbuf = <float*>malloc(fl * sizeof(float))
    cdef double* dbuf = <double*>malloc(3 * <size_t>B * sizeof(double))
    cdef int* ibuf = <int*>malloc(2 * <size_t>B * sizeof(int))
    cdef unsigned char* cbuf = <unsigned char*>malloc(<size_t>rows + B)
    if fbuf == NULL or dbuf == NULL or ibuf == NULL or cbuf == NULL:
        free(fbuf); free(dbuf); free(ibuf); free(cbuf)
        raise MemoryError()
    cdef Tile t
    t.B = B
    t.x, t.x_old, t.g = fbuf, fbuf + <Py_ssize_t>rows * B, fbuf + <Py_ssize_t>2 * rows * B
    t.mu = fbuf + <Py_ssize_t>3 * rows * B
    t.fp = t.mu + <Py_ssize_t>net.n_nodes * B
    t.eps = t.fp + <Py_ssize_t>net.n_nodes * B
    t.d = t.eps + <Py_ssize_t>net.n_nodes * B
    t.y = t.d + <Py_ssize_t>net.n_nodes * B
    t.f = t.y + <Py_ssize_t>net.n_out * B
    t.rate = t.f + B
    t.eta = t.rate + B
    t.prev = t.eta + B if carry else NULL
    t.next = t.prev + rows if carry else NULL
    t.E, t.E_old, t.nrm = dbuf, dbuf + B, dbuf + 2 * B
    t.col, t.steps = ibuf, ibuf + B
    t.free_row, t.done = cbuf, cbuf + rows
    memset(fbuf, 0, fl * sizeof(float))
    free_rows(net, o.has_y and beta == 0, t.free_row)
    if carry:
        memcpy(t.prev, cnp.PyArray_DATA(state), rows * sizeof(float))
    cdef int s0 = 0
    with nogil:
        while s0 < S:
            t.A = B if S - s0 > B else S - s0
            settle_tile(net, &t, &o, xp, yp, s0, &out)
            if carry:
                memcpy(t.prev, t.next, rows * sizeof(float))
            s0 += B
    if carry:
        memcpy(cnp.PyArray_DATA(state), t.prev, rows * sizeof(float))
        res["state"] = state
    free(fbuf); free(dbuf); free(ibuf); free(cbuf)
    if history:   # after a sample stopped its energy stays where it was
        h = res["history"]
        steps = res["steps"]
        for s in range(S):
            h[s, steps[s] + 1:] = h[s, steps[s]]
    return res


cdef void free_rows(const Net* net, bint outputs_clamped, unsigned char* free_row) noexcept:
    """The latents that settle: hidden neurons, and outputs unless clamped to targets; never
    inputs or constants."""
    cdef int k, first_out = net.n_nodes - net.n_out
    memset(free_row, 0, net.n_in + net.n_nodes)
    for k in range(net.n_nodes):
        free_row[net.n_in + k] = net.op[k] != OP_CONST and (k < first_out or not outputs_clamped)


def hebbian(Network network, activity, errors, gain, double learning_rate, previous=None):
    """The Hebbian updates from a settled state (arrays as `settle` returns them), the mean over
    the samples: (dW float64[m] in CSR slot order, db float64[n]) with
    db_i = eta_W mean(f'_i eps_i) and dW_{j->i} = eta_W mean(f'_i eps_i x_j). Condition
    synapses, synapses into constants and self/back synapses (their source is the held state)
    get 0, unless `previous` (feedback loop: what each record's self/back synapses read) is
    given: then dW = eta_W mean(f'_i eps_i prev_j) for those."""
    network._check_built()
    cdef const Net* net = &network.net
    cdef int rows = net.n_in + net.n_nodes, n = net.n_nodes
    cdef float[:, ::1] act = np.ascontiguousarray(activity, dtype=np.float32)
    cdef float[:, ::1] err = np.ascontiguousarray(errors, dtype=np.float32)
    cdef float[:, ::1] fp = np.ascontiguousarray(gain, dtype=np.float32)
    cdef int S = act.shape[0]
    cdef float[:, ::1] prev = np.ascontiguousarray(previous if previous is not None else np.zeros((0, rows)),
                                                   dtype=np.float32)
    cdef bint back = previous is not None
    if back and (prev.shape[0] != S or prev.shape[1] != rows):
        raise ValueError(f"previous must be [{S}, {rows}]")
    if act.shape[1] != rows or err.shape[0] != S or err.shape[1] != rows or fp.shape[0] != S or fp.shape[1] != n:
        raise ValueError(f"settled arrays must be [{S}, {rows}] and [{S}, {n}]")
    gw_a = np.zeros(net.off[n], np.float64)
    gb_a = np.zeros(n, np.float64)
    cdef double[::1] gw = gw_a
    cdef double[::1] gb = gb_a
    cdef int j, k, s, end
    cdef double dk, scale = learning_rate / S if S else 0
    with nogil:
        for j in range(S):
            for k in range(n):
                if net.op[k] == OP_CONST:
                    continue
                dk = <double>fp[j, k] * err[j, net.n_in + k]
                gb[k] += dk
                end = forward_end(net, k)
                for s in range(net.off[k], end):
                    if net.role[s] != ROLE_CONDITION:
                        gw[s] += dk * act[j, net.src[s]]
                if back:
                    for s in range(end, net.off[k + 1]):
                        if net.role[s] != ROLE_CONDITION:
                            gw[s] += dk * prev[j, net.src[s]]
        for s in range(net.off[n]):
            gw[s] *= scale
        for k in range(n):
            gb[k] *= scale
    return gw_a, gb_a
