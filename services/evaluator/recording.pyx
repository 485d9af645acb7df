# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Activation recording for discovery (reference/discovery.md §1.1): for every record, every
non-input neuron's pre-activation `value`, its `activation` and its VALUE-domain error.

The forward pass is `forward.forward_tile` (the same arithmetic as evaluation); a reverse sweep
over the tile then attributes the error:

* an output neuron's target activation is the record's expected output clipped to the squash's
  range; its error is `unsquash(target, hint=value) - value` (positive: the value should rise);
* that error (a required change of the value) is shared over the neuron's inward synapses in
  proportion to the squared source activations (|w| when they are all ~0), NEAT-AI's elastic
  split; a non-input source asked for `share / w` more activation (synapses with |w| <= 1e-7
  carry no request);
* a hidden neuron's target activation is its activation plus the sum of what its children asked
  for, clipped to its range, and its error follows as for an output (a neuron nobody asked
  anything of has error 0). NEAT-AI keeps only the first visit's request, which depends on its
  traversal order; the sum does not.

`unsquash` inverts the squash exactly where it is invertible (IDENTITY, LOGISTIC, TANH, ReLU,
ReLU6, LeakyReLU, ELU, HARD_TANH, SOFTSIGN, Softplus, ArcTan); a target in a flat region
(ReLU below 0, ...) keeps the value where it already gives that target. Other squashes take a
first-order step `value + (target - activation) / f'(value)`, no step where f' ~ 0. Results are
limited to ±1e12 (NEAT-AI limitValue). Aggregates (MINIMUM, MAXIMUM, IF, HYPOT, MEAN) record
their activation as value and their error in the activation domain, and pass it upstream only
through the inputs they used (`through_used_inputs`; HYPOT passes nothing).
Predictive-coding error columns are not recorded: this code base has no predictive coding yet.
"""
cimport numpy as cnp
from libc.math cimport atanh, expm1, fabs, isfinite, log, tan, NAN
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memset

import numpy as np

from neatai.evaluator.compiled cimport (Net, Network, OP_CONST, OP_HYPOT, OP_HYPOTV2, OP_IF, OP_MAXIMUM, OP_MEAN,
                                        OP_MINIMUM, OP_SOFTMAX, ROLE_CONDITION, ROLE_NEGATIVE, ROLE_STANDARD)
from neatai.evaluator.forward cimport forward_tile, load_tile

cnp.import_array()

TILE = 128
cdef double VALUE_LIMIT = 1e12   # NEAT-AI limitValue
cdef double PLANK = 1e-7         # |w| below it carries no request upstream
cdef double FLAT = 1e-6          # |f'| below it: no first-order step

cdef extern from "squash_math.h":
    float neatai_limit(float r, float lo, float hi) noexcept nogil
    int neatai_gradient_tile(int op, const float* x, const float* fx, float* out, int T) noexcept nogil


cdef inline double _clip(double x, double lo, double hi) noexcept nogil:
    return lo if x < lo else (hi if x > hi else x)


cdef inline double _flat(double t, double edge, double value, bint below) noexcept nogil:
    """A target at the edge of a flat region: keep the value if it already lies in the region."""
    if below:
        return value if value <= edge else edge
    return value if value >= edge else edge


cdef double unsquash(int op, double t, double value, double act, double slope) noexcept nogil:
    """The pre-activation that gives activation t, `value` the hint (see the module doc)."""
    cdef double r
    if op == 0:                          # IDENTITY
        r = t
    elif op == 1:                        # ReLU
        r = t if t > 0 else _flat(t, 0, value, True)
    elif op == 2:                        # ReLU6
        r = _flat(t, 0, value, True) if t <= 0 else (_flat(t, 6, value, False) if t >= 6 else t)
    elif op == 3:                        # LeakyReLU
        r = t if t >= 0 else t / 0.01
    elif op == 5:                        # ELU
        r = t if t > 0 else (log(1 + t) if t > -1 else _flat(t, -1e12, value, True))
    elif op == 6 or op == OP_SOFTMAX:    # LOGISTIC
        t = _clip(t, 1e-7, 1 - 1e-7)
        r = log(t / (1 - t))
    elif op == 7:                        # TANH
        r = atanh(_clip(t, -1 + 1e-7, 1 - 1e-7))
    elif op == 8:                        # HARD_TANH
        r = _flat(t, -1, value, True) if t <= -1 else (_flat(t, 1, value, False) if t >= 1 else t)
    elif op == 9:                        # SOFTSIGN
        t = _clip(t, -0.98999995, 0.98999995)
        r = t / (1 - fabs(t))
    elif op == 10:                       # Softplus
        r = log(expm1(t)) if t > 1e-15 else _flat(t, -1e12, value, True)
    elif op == 17:                       # ArcTan
        r = tan(_clip(t, -1.5707963, 1.5707963))
    else:                                # first order
        r = value + (t - act) / slope if fabs(slope) > FLAT else value
    if r != r:
        return NAN
    return _clip(r, -VALUE_LIMIT, VALUE_LIMIT)


cdef void attribute_tile(const Net* net, const float* acts, const float* pre, float* req, float* scratch,
                         const float* Y, const int* rows, int r0, int T,
                         float* values, float* errors) noexcept nogil:
    """Reverse sweep over one forward-run tile: `values`/`errors` ([n_nodes][T], neuron-major
    like the tile) get every neuron's value and error. `req` ([n_nodes][T], zeroed) accumulates the activation
    requests; `scratch` holds three T-float rows. Loops run over the tile innermost, as the
    forward pass's do."""
    cdef int n_in = net.n_in, n = net.n_nodes, n_out = net.n_out
    cdef int first_out = n - n_out
    cdef int k, j, s, s0, s1, op, src
    cdef double target, err, v
    cdef float wv, inv, p
    cdef float lo, hi
    cdef bint aggregate, any_error
    cdef const float* act
    cdef const float* x
    cdef const float* a
    cdef float* slope = scratch
    cdef float* err_row = scratch + T
    cdef float* total = scratch + 2 * T
    cdef float* r
    for k in range(n - 1, -1, -1):
        op = net.op[k]
        lo = net.lo[k]
        hi = net.hi[k]
        act = acts + <Py_ssize_t>(n_in + k) * T
        x = pre + <Py_ssize_t>k * T
        r = req + <Py_ssize_t>k * T
        aggregate = op >= OP_MINIMUM and op != OP_SOFTMAX and op != OP_CONST
        if op == OP_CONST or aggregate:
            for j in range(T):
                slope[j] = 1
        else:
            neatai_gradient_tile(op, x, act, slope, T)
        s0 = net.off[k]
        s1 = net.off[k + 1]
        any_error = False
        for j in range(T):
            if op == OP_CONST:
                v = net.bias[k]
            elif aggregate:
                v = act[j]
            else:
                v = x[j]
            values[<Py_ssize_t>k * T + j] = <float>v
            if k >= first_out:
                target = neatai_limit(Y[<Py_ssize_t>rows[r0 + j] * n_out + (k - first_out)], lo, hi)
            elif r[j] == 0:
                err_row[j] = 0
                errors[<Py_ssize_t>k * T + j] = 0
                continue
            else:
                target = neatai_limit(act[j] + r[j], lo, hi)
            if aggregate or op == OP_CONST:
                err = target - act[j]
            else:
                err = unsquash(op, target, v, act[j], slope[j]) - v
            errors[<Py_ssize_t>k * T + j] = <float>err
            err_row[j] = <float>err if isfinite(err) else 0
            any_error = any_error or err_row[j] != 0
        if not any_error or s1 == s0:
            continue
        if aggregate:
            if op != OP_HYPOT and op != OP_HYPOTV2:
                through_used_inputs(net, acts, req, err_row, op, s0, s1, T)
            continue
        # elastic split of the required value change over the inward synapses, by a²
        for j in range(T):
            total[j] = 0
        for s in range(s0, s1):
            a = acts + <Py_ssize_t>net.src[s] * T
            for j in range(T):
                total[j] = total[j] + a[j] * a[j]
        for s in range(s0, s1):
            src = net.src[s]
            wv = net.w[s]
            if src < n_in or fabs(wv) <= PLANK or net.role[s] != ROLE_STANDARD:
                continue
            a = acts + <Py_ssize_t>src * T
            inv = 1.0 / wv
            p = 1.0 / (s1 - s0)
            for j in range(T):
                if total[j] > 1e-12:
                    req[<Py_ssize_t>(src - n_in) * T + j] += err_row[j] * (a[j] * a[j] / total[j]) * inv
                else:
                    req[<Py_ssize_t>(src - n_in) * T + j] += err_row[j] * p * inv


cdef inline void request(const Net* net, float* req, int s, float amount, int j, int T) noexcept nogil:
    """Ask synapse s's source for `amount` more weighted input (amount / w more activation)."""
    cdef int src = net.src[s]
    if src >= net.n_in and fabs(net.w[s]) > PLANK:
        req[<Py_ssize_t>(src - net.n_in) * T + j] += amount / net.w[s]


cdef void through_used_inputs(const Net* net, const float* acts, float* req, const float* err_row, int op,
                              int s0, int s1, int T) noexcept nogil:
    """An aggregate passes its (activation-domain) error only through the inputs it used, as
    NEAT-AI's activateAndTrace does: MINIMUM/MAXIMUM the winning synapse; IF the synapses of
    the branch its condition chose (split by a²); MEAN all of them, the error times their count."""
    cdef int j, s, win, n = s1 - s0
    cdef float best, v, cond, total, scale, a
    cdef bint positive
    for j in range(T):
        if err_row[j] == 0:
            continue
        if op == OP_MINIMUM or op == OP_MAXIMUM:
            win = s0
            best = net.w[s0] * acts[<Py_ssize_t>net.src[s0] * T + j]
            for s in range(s0 + 1, s1):
                v = net.w[s] * acts[<Py_ssize_t>net.src[s] * T + j]
                if (v > best) if op == OP_MAXIMUM else (v < best):
                    best, win = v, s
            request(net, req, win, err_row[j], j, T)
            continue
        cond = 0
        if op == OP_IF:
            for s in range(s0, s1):
                if net.role[s] == ROLE_CONDITION:
                    cond = cond + net.w[s] * acts[<Py_ssize_t>net.src[s] * T + j]
        positive = cond > 0
        scale = n if op == OP_MEAN else 1
        total = 0
        for s in range(s0, s1):
            if op != OP_IF or (net.role[s] != ROLE_CONDITION and (net.role[s] == ROLE_NEGATIVE) != positive):
                a = acts[<Py_ssize_t>net.src[s] * T + j]
                total = total + a * a
        for s in range(s0, s1):
            if op != OP_IF or (net.role[s] != ROLE_CONDITION and (net.role[s] == ROLE_NEGATIVE) != positive):
                a = acts[<Py_ssize_t>net.src[s] * T + j]
                request(net, req, s, err_row[j] * scale * (a * a / total if total > 1e-12 else 1.0 / n), j, T)


def record_activations(Network network, X, Y, rows=None, int tile=TILE):
    """(values, activations, errors) of every non-input neuron, each float32[len(rows), neurons]
    in the creature's neuron order, for records `rows` (int32 indices into X and Y; all when
    None). X: float32[records, inputs], Y: float32[records, outputs]. Every record starts from a
    zero state (recurrent synapses read 0), as evaluation without feedback_loop does."""
    network._check_built()
    x_arr = np.ascontiguousarray(X, dtype=np.float32)
    y_arr = np.ascontiguousarray(Y, dtype=np.float32)
    if x_arr.ndim != 2 or x_arr.shape[1] != network.n_inputs:
        raise ValueError(f"X must have shape (n, {network.n_inputs}), got {x_arr.shape}")
    if y_arr.ndim != 2 or y_arr.shape[1] != network.n_outputs or y_arr.shape[0] != x_arr.shape[0]:
        raise ValueError(f"Y must have shape ({x_arr.shape[0]}, {network.n_outputs}), got {y_arr.shape}")
    cdef cnp.ndarray x = x_arr, y = y_arr
    cdef cnp.ndarray r = (np.arange(x.shape[0], dtype=np.int32) if rows is None
                          else np.ascontiguousarray(rows, dtype=np.int32))
    if r.ndim != 1 or (r.shape[0] and (r.min() < 0 or r.max() >= x.shape[0])):
        raise ValueError("rows must be 1-D indices into X")
    if tile < 1:
        raise ValueError(f"tile must be >= 1, got {tile}")
    cdef int n = r.shape[0], nodes = network.n_neurons, n_in = network.n_inputs
    cdef cnp.ndarray values = np.empty((n, nodes), np.float32)
    cdef cnp.ndarray activations = np.empty((n, nodes), np.float32)
    cdef cnp.ndarray errors = np.empty((n, nodes), np.float32)
    cdef float* acts = <float*>malloc(<size_t>(n_in + nodes) * tile * sizeof(float))
    cdef float* pre = <float*>calloc(<size_t>nodes * tile, sizeof(float))
    cdef float* req = <float*>malloc(<size_t>nodes * tile * sizeof(float))
    cdef float* vt = <float*>malloc(<size_t>nodes * tile * sizeof(float))   # tile-shaped values, errors
    cdef float* et = <float*>malloc(<size_t>nodes * tile * sizeof(float))
    cdef float* scratch = <float*>malloc(6 * <size_t>tile * sizeof(float))
    if acts == NULL or pre == NULL or req == NULL or scratch == NULL or vt == NULL or et == NULL:
        free(acts); free(pre); free(req); free(scratch); free(vt); free(et)
        raise MemoryError()
    cdef const Net* net = &network.net
    cdef const float* xp = <const float*>cnp.PyArray_DATA(x)
    cdef const float* yp = <const float*>cnp.PyArray_DATA(y)
    cdef const int* rp = <const int*>cnp.PyArray_DATA(r)
    cdef float* vp = <float*>cnp.PyArray_DATA(values)
    cdef float* ap = <float*>cnp.PyArray_DATA(activations)
    cdef float* ep = <float*>cnp.PyArray_DATA(errors)
    cdef int r0 = 0, t, k, j
    cdef Py_ssize_t row
    cdef const float* tile_acts
    with nogil:
        while r0 < n:
            t = tile if n - r0 > tile else n - r0
            load_tile(net, xp, rp, r0, t, acts, True)
            forward_tile(net, acts, scratch, t, pre)
            memset(req, 0, <size_t>nodes * t * sizeof(float))
            attribute_tile(net, acts, pre, req, scratch + 3 * tile, yp, rp, r0, t, vt, et)
            # tile (neuron-major) -> output rows (record-major): reads strided within the
            # cached tile, writes sequential
            tile_acts = acts + <Py_ssize_t>n_in * t
            for j in range(t):
                row = <Py_ssize_t>(r0 + j) * nodes
                for k in range(nodes):
                    ap[row + k] = tile_acts[<Py_ssize_t>k * t + j]
                    vp[row + k] = vt[<Py_ssize_t>k * t + j]
                    ep[row + k] = et[<Py_ssize_t>k * t + j]
            r0 += t
    free(acts); free(pre); free(req); free(scratch); free(vt); free(et)
    return values, activations, errors
