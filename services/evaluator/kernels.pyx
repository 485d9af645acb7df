# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Forward-pass and population-scoring kernels (float32, GIL released).

A `Network` holds one compiled creature as flat arrays (reference/neat-ai.md §1.4): per
non-input neuron an op (the `neatai.squash` id, or OP_CONST for a constant), a bias and the
output range; inward synapses grouped by target (CSR: `offsets`, `sources`, `weights`,
`roles` 0 standard / 1 positive / 2 negative / 3 condition).

Evaluation is sample-inner: the activation buffer is neuron-major over a tile of `T` records,
so every synapse is one axpy over the tile and every squash one loop over it (both vectorise;
measured against record-at-a-time in bench/bench_kernels.py). A recurrent network evaluated
with `feedback_loop` runs with T = 1 so each record sees the previous record's state.

`flatten` compiles a creature model object into the byte strings a Network reads (and the
compiler's caches key on); `evaluate_population` scores many networks on one dataset.
"""
cimport numpy as cnp
from libc.math cimport INFINITY, atanf, cosf, expf, fabsf, isfinite, log, log1pf, sinf, sqrt, sqrtf, tanf
from libc.stdlib cimport free, malloc, qsort
from libc.string cimport memset
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize

import numpy as np

from neatai import squash as _squash

cnp.import_array()

# Op codes: 0..38 are neatai.squash ids; a constant neuron gets OP_CONST.
cdef enum:
    OP_IDENTITY = 0
    OP_MINIMUM = 32
    OP_MAXIMUM = 33
    OP_IF = 34
    OP_HYPOT = 35
    OP_HYPOTV2 = 36
    OP_MEAN = 37
    OP_SOFTMAX = 38
    OP_CONST = 64

cdef enum:
    ROLE_STANDARD = 0
    ROLE_POSITIVE = 1
    ROLE_NEGATIVE = 2
    ROLE_CONDITION = 3

OP_CONSTANT = OP_CONST
# Cost ids of the population kernel, in this order.
COSTS = ("MSE", "RMSE", "MAE", "MAPE", "MSLE", "CROSS_ENTROPY", "HINGE")
TILE = 128  # records per tile (bench_kernels.py measures the choice)

cdef float TWO53 = 9007199254740992.0


# Vectorisable inner loops, in C so that every loop is a plain counted loop gcc can turn
# into SIMD (cloned for AVX2 and dispatched at load time; the baseline build is SSE2). The
# exponential is Cephes' expf (range reduction + degree-6 polynomial, ~1 ulp), written
# branch-free so that it vectorises; tanh is an odd Taylor polynomial near 0 (no
# cancellation) and 1 - 2/(e^2|x| + 1) elsewhere. Tile remainders run the same arithmetic
# scalar, so results do not depend on the tile width. Inside the loops both arms of a select
# are computed (no conditional calls, no clamped exp arguments): gcc's AVX2 if-conversion
# gives up on those.
cdef extern from *:
    """
    #include <math.h>
    #include <string.h>
    /* FP exception flags are never read, so selects may evaluate both arms (if-conversion) */
    #pragma GCC push_options
    #pragma GCC optimize ("no-trapping-math")
    #if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
    #define NEATAI_SIMD __attribute__((target_clones("avx2", "default")))
    #else
    #define NEATAI_SIMD
    #endif

    static inline float neatai_exp(float x) {
        /* out-of-range (and NaN) x make garbage here that the selects at the end replace;
           clamping x first instead stops gcc from vectorising the AVX2 clone */
        float c = x;
        float t = c * 1.44269504088896341f + 0.5f;
        float fx = (float)(int)t;
        fx = fx > t ? fx - 1.0f : fx;            /* floor */
        int i = (int)fx;
        float r = c - fx * 0.693359375f;
        r = r - fx * -2.12194440e-4f;
        float z = r * r;
        float y = ((((1.9875691500E-4f * r + 1.3981999507E-3f) * r + 8.3334519073E-3f) * r
                    + 4.1665795894E-2f) * r + 1.6666665459E-1f) * r + 5.0000001201E-1f;
        y = y * z + r + 1.0f;
        int bits = (i + 127) << 23;
        float scale;
        memcpy(&scale, &bits, sizeof scale);
        y = y * scale;
        y = x > 88.3762626647949f ? INFINITY : y;
        y = x < -87.3365447504f ? 0.0f : y;
        return x != x ? x : y;
    }

    static inline float neatai_tanh(float x) {
        float a = fabsf(x);
        float z = x * x;
        /* odd Taylor series to x^15 for |x| < 0.625 (relative error < 2e-7) */
        float p = x + x * z * (-0.333333333333f + z * (0.133333333333f + z * (-0.0539682539683f
                  + z * (0.0218694885362f + z * (-0.00886323552990f + z * (0.00359212803657f
                  + z * (-0.00145583438705f)))))));
        float e = neatai_exp(2.0f * a);          /* inf above 44: q = 1 */
        float q = 1.0f - 2.0f / (e + 1.0f);
        q = x < 0 ? -q : q;
        return a < 0.625f ? p : q;
    }

    /* e^x - 1 without cancellation near 0 (Taylor to x^7 below |x| = 0.35, rel. error < 1e-7) */
    static inline float neatai_expm1(float x) {
        float t = x * (1.0f + x * (0.5f + x * (0.166666667f + x * (0.0416666667f + x * (0.00833333333f
                  + x * (0.00138888889f + x * 0.000198412698f))))));
        float e = neatai_exp(x) - 1.0f;
        return fabsf(x) < 0.35f ? t : e;
    }

    static inline float neatai_limit(float r, float lo, float hi) {
        r = r != r ? 0.0f : r;
        r = r < lo ? lo : r;
        return r > hi ? hi : r;
    }

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

    /* out = limit(f(x)) over a tile for the squashes with a vectorisable form; 0 if none */
    NEATAI_SIMD static int neatai_squash_tile(int op, const float *restrict x, float *restrict out, int T,
                                              float lo, float hi) {
        int j;
        switch (op) {
        case 0:  /* IDENTITY */
            for (j = 0; j < T; j++) out[j] = neatai_limit(x[j], lo, hi);
            return 1;
        case 1:  /* ReLU */
            for (j = 0; j < T; j++) out[j] = neatai_limit(x[j] > 0 ? x[j] : 0.0f, lo, hi);
            return 1;
        case 2:  /* ReLU6 */
            for (j = 0; j < T; j++) out[j] = neatai_limit(x[j] <= 0 ? 0.0f : (x[j] >= 6 ? 6.0f : x[j]), lo, hi);
            return 1;
        case 3:  /* LeakyReLU */
            for (j = 0; j < T; j++) out[j] = neatai_limit(x[j] >= 0 ? x[j] : 0.01f * x[j], lo, hi);
            return 1;
        case 5:  /* ELU */
            for (j = 0; j < T; j++) {
                float e = neatai_expm1(x[j]);
                out[j] = neatai_limit(x[j] > 0 ? x[j] : e, lo, hi);
            }
            return 1;
        case 6: case 38:  /* LOGISTIC, SOFTMAX */
            for (j = 0; j < T; j++) out[j] = neatai_limit(1.0f / (1.0f + neatai_exp(-x[j])), lo, hi);
            return 1;
        case 7:  /* TANH */
            for (j = 0; j < T; j++) out[j] = neatai_limit(neatai_tanh(x[j]), lo, hi);
            return 1;
        case 8:  /* HARD_TANH */
            for (j = 0; j < T; j++) out[j] = neatai_limit(x[j] <= -1 ? -1.0f : (x[j] >= 1 ? 1.0f : x[j]), lo, hi);
            return 1;
        case 4:  /* SELU: x capped at 709, a non-finite result reads -MAX_SAFE */
            for (j = 0; j < T; j++) {
                float neg = 1.7580993408473766f * neatai_expm1(x[j]);   /* lambda * alpha */
                float pos = 1.0507009873554805f * (x[j] > 709.0f ? 709.0f : x[j]);
                float r = x[j] > 0 ? pos : neg;
                out[j] = neatai_limit(r != r ? -9007199254740991.0f : r, lo, hi);
            }
            return 1;
        case 9:  /* SOFTSIGN, f32 path: within 0.99f minus one ulp */
            for (j = 0; j < T; j++) {
                float r = x[j] / (1.0f + fabsf(x[j]));
                r = r > 0.98999995f ? 0.98999995f : (r < -0.98999995f ? -0.98999995f : r);
                out[j] = neatai_limit(r, lo, hi);
            }
            return 1;
        case 12:  /* Mish: x tanh(ln(1+e^x)) = x n/(n+2), n = e^x (e^x + 2) */
            for (j = 0; j < T; j++) {
                float e = neatai_exp(x[j]);
                float n = e * (e + 2.0f);
                float r = x[j] * n / (n + 2.0f);
                out[j] = neatai_limit(x[j] > 20.0f ? x[j] : r, lo, hi);
            }
            return 1;
        case 11:  /* Swish */
            for (j = 0; j < T; j++) out[j] = neatai_limit(x[j] / (1.0f + neatai_exp(-x[j])), lo, hi);
            return 1;
        case 13:  /* GELU */
            for (j = 0; j < T; j++) {
                float v = x[j];
                out[j] = neatai_limit(0.5f * v * (1.0f + neatai_tanh(0.7978845608028654f * (v + 0.044715f * v * v * v))),
                                      lo, hi);
            }
            return 1;
        case 18:  /* GAUSSIAN */
            for (j = 0; j < T; j++) out[j] = neatai_limit(neatai_exp(-x[j] * x[j]), lo, hi);
            return 1;
        case 20:  /* BIPOLAR_SIGMOID */
            /* 2/(1+e^-x) - 1 == tanh(x/2), without the cancellation near 0 */
            for (j = 0; j < T; j++) out[j] = neatai_limit(neatai_tanh(0.5f * x[j]), lo, hi);
            return 1;
        case 19:  /* BENT_IDENTITY; above 1e18 x*x overflows, and sqrt(x^2+1) == |x| there */
            for (j = 0; j < T; j++) {
                float v = x[j], a = fabsf(v);
                float big = 0.5f * (a - 1.0f) + v;
                float r = 0.5f * (sqrtf(v * v + 1.0f) - 1.0f) + v;
                out[j] = neatai_limit(a > 1e18f ? big : r, lo, hi);
            }
            return 1;
        case 21:  /* BIPOLAR */
            for (j = 0; j < T; j++) out[j] = x[j] > 0 ? 1.0f : -1.0f;
            return 1;
        case 22:  /* STEP */
            for (j = 0; j < T; j++) out[j] = x[j] > 0 ? 1.0f : 0.0f;
            return 1;
        case 23:  /* COMPLEMENT */
            for (j = 0; j < T; j++) out[j] = neatai_limit(1.0f - x[j], lo, hi);
            return 1;
        case 24:  /* ABSOLUTE */
            for (j = 0; j < T; j++) out[j] = neatai_limit(fabsf(x[j]), lo, hi);
            return 1;
        case 25:  /* SQUARE */
            for (j = 0; j < T; j++) {
                float r = x[j] * x[j];
                out[j] = neatai_limit(r > 1e6f ? 1e6f : r, lo, hi);
            }
            return 1;
        case 26:  /* Cube */
            for (j = 0; j < T; j++) {
                float r = x[j] * x[j] * x[j];
                out[j] = neatai_limit(r > 1e6f ? 1e6f : (r < -1e6f ? -1e6f : r), lo, hi);
            }
            return 1;
        case 27:  /* SQRT */
            for (j = 0; j < T; j++) {
                float r = sqrtf(x[j]);
                out[j] = neatai_limit(x[j] >= 0 ? r : 0.0f, lo, hi);
            }
            return 1;
        case 31:  /* ISRU; above 1e18 x*x overflows and the value is the sign */
            for (j = 0; j < T; j++) {
                float v = x[j];
                float r = v / sqrtf(1.0f + v * v);
                float sign = v > 0 ? 1.0f : -1.0f;
                out[j] = neatai_limit(fabsf(v) > 1e18f ? sign : r, lo, hi);
            }
            return 1;
        }
        return 0;
    }
    #pragma GCC pop_options
    """
    void neatai_accumulate(float* acc, const float* acts, const int* src, const float* w,
                           int s0, int s1, int T) noexcept nogil
    int neatai_squash_tile(int op, const float* x, float* out, int T, float lo, float hi) noexcept nogil


cdef struct Net:
    int n_in
    int n_out
    int n_nodes          # non-input neurons
    int recurrent
    const int* op
    const float* bias
    const float* lo
    const float* hi
    const int* off       # n_nodes + 1
    const int* src
    const float* w
    const signed char* role


cdef inline float squash(int op, float x) noexcept nogil:
    """f(x) for the squashes without a vectorised loop in neatai_squash_tile (reference/neat-ai.md
    §2.1, f32 path): those that need sin/cos/tan/atan/log, kept on libm."""
    cdef float r
    if op == 10:                                  # Softplus
        if x != x:
            return 1e-15
        if x >= 709:
            return 100
        return x if x > 20 else log1pf(expf(x))   # ln(1+e^x) == x in f32 above 20
    elif op == 14:                                # SINE
        return sinf(x)
    elif op == 15:                                # Cosine
        return cosf(x)
    elif op == 16:                                # TAN
        r = tanf(x)
        if not isfinite(r):
            return 0
        return 1000 if r > 1000 else (-1000 if r < -1000 else r)
    elif op == 17:                                # ArcTan
        return atanf(x)
    elif op == 28:                                # StdInverse: f32 path caps |1/x| at 1e10
        if fabsf(x) < 1e-10:
            return -1e10 if x < 0 else 1e10
        return 1 / x
    elif op == 29:                                # Exponential
        if not isfinite(x) or x >= 36:
            return TWO53
        return expf(x)
    elif op == 30:                                # LogSigmoid
        if x <= -709:
            return -TWO53
        return x if x < -20 else -log1pf(expf(-x))  # -ln(1+e^-x) == x in f32 below -20
    return x


cdef inline float limit(float r, float lo, float hi) noexcept nogil:
    """NEAT-AI apply_limit_range: NaN -> 0, then clamp to [lo, hi] (so +-inf -> bounds)."""
    if r != r:
        r = 0
    if r < lo:
        return lo
    if r > hi:
        return hi
    return r


cdef void forward_tile(const Net* net, float* acts, float* scratch, int T) noexcept nogil:
    """One ordered pass over a tile. `acts` is [n_in + n_nodes][T]; rows < n_in hold the
    inputs. A synapse whose source is not yet computed in this pass (self/back synapse) reads
    what the row holds: zero after a reset, or the previous record's activation."""
    cdef int k, s, s0, s1, j, op, n, count
    cdef float b, wv, lo, hi, v, p
    cdef float* out
    cdef const float* a
    cdef float* acc = scratch
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
            v = limit(b, lo, hi)
            for j in range(T):
                out[j] = v
        elif op < OP_MINIMUM or op == OP_SOFTMAX:
            for j in range(T):
                acc[j] = b
            neatai_accumulate(acc, acts, net.src, net.w, s0, s1, T)
            if not neatai_squash_tile(op, acc, out, T, lo, hi):
                for j in range(T):
                    out[j] = limit(squash(op, acc[j]), lo, hi)
        elif op == OP_MINIMUM or op == OP_MAXIMUM:
            if n == 0:
                for j in range(T):
                    acc[j] = b
            else:
                wv = net.w[s0]
                a = acts + <Py_ssize_t>net.src[s0] * T
                for j in range(T):
                    acc[j] = wv * a[j]
                for s in range(s0 + 1, s1):
                    wv = net.w[s]
                    a = acts + <Py_ssize_t>net.src[s] * T
                    if op == OP_MINIMUM:
                        for j in range(T):
                            v = wv * a[j]
                            if v < acc[j]:
                                acc[j] = v
                    else:
                        for j in range(T):
                            v = wv * a[j]
                            if v > acc[j]:
                                acc[j] = v
                for j in range(T):
                    acc[j] = acc[j] + b
            for j in range(T):
                out[j] = limit(acc[j], lo, hi)
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
                out[j] = limit((pos[j] if acc[j] > 0 else neg[j]) + b, lo, hi)
        elif op == OP_HYPOT or op == OP_HYPOTV2:
            p = b if op == OP_HYPOTV2 else 0   # HYPOTv2 adds the bias inside every term
            for j in range(T):
                acc[j] = 0
            for s in range(s0, s1):
                wv = net.w[s]
                a = acts + <Py_ssize_t>net.src[s] * T
                for j in range(T):
                    v = p + wv * a[j]
                    acc[j] = acc[j] + v * v
            p = 0 if op == OP_HYPOTV2 else b
            for j in range(T):
                out[j] = limit(sqrtf(acc[j]) + p, lo, hi)
        else:  # MEAN
            for j in range(T):
                acc[j] = 0
            for s in range(s0, s1):
                wv = net.w[s]
                a = acts + <Py_ssize_t>net.src[s] * T
                for j in range(T):
                    acc[j] = acc[j] + wv * a[j]
            count = n if n > 0 else 1
            for j in range(T):
                out[j] = limit(acc[j] / count + b, lo, hi)


cdef inline void load_tile(const Net* net, const float* X, const int* rows, int r0, int T,
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


cdef void run_activate(const Net* net, const float* X, const int* rows, int n, float* Y,
                       bint feedback, int tile, float* acts, float* scratch) noexcept nogil:
    cdef int T = tile_width(net, feedback, tile)
    cdef int r0, t, o, j
    cdef int n_out = net.n_out
    cdef int first_out = net.n_in + net.n_nodes - n_out
    cdef bint carry = net.recurrent and feedback
    if carry:
        memset(acts, 0, <size_t>(net.n_in + net.n_nodes) * sizeof(float))
    r0 = 0
    while r0 < n:
        t = T if n - r0 > T else n - r0
        load_tile(net, X, rows, r0, t, acts, net.recurrent and not carry)
        forward_tile(net, acts, scratch, t)
        for o in range(n_out):
            for j in range(t):
                Y[<Py_ssize_t>rows[r0 + j] * n_out + o] = acts[<Py_ssize_t>(first_out + o) * t + j]
        r0 += t


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
    cdef int T = tile_width(net, feedback, tile)
    cdef int r0, t, j
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
        forward_tile(net, acts, scratch, t)
        for j in range(t):
            total += record_cost(cost, acts + <Py_ssize_t>first_out * t, t, j,
                                 Y + <Py_ssize_t>rows[r0 + j] * n_out, n_out)
        r0 += t
    total /= n
    if cost == 1:
        total = sqrt(total)
    # Outputs are finite (range clamp) and costs are summed in float64, so this is rare
    # (e.g. inf - inf); a non-finite error always reads as +inf so it sorts last.
    return total if isfinite(total) else INFINITY


# A compiled network lives in byte strings that double as the cache keys:
#   index      = header i32[5] (inputs, outputs, n, m, recurrent) | ops i32[n] |
#                offsets i32[n+1] | sources i32[m] | roles i8[m]   (the topology key)
#   parameters = bias f32[n] | weights f32[m]     ((index, parameters) is the structure key)
# plus `ranges` = lo f32[n] | hi f32[n], derived from the ops. Every segment starts 4-byte
# aligned. Networks of one topology share the template's index and ranges (memory: a cached
# network then costs its parameters), so only the parameters are per network.
cdef enum:
    HEADER = 5


cdef class Network:
    """One compiled creature: flat contiguous arrays the kernels read without the GIL.

    Build it with `neatai.evaluator.compile_network` (or `NetworkCompiler.compile`); the
    constructor takes the arrays and validates them. The arrays (`ops`, `bias`, `lo`, `hi`,
    `offsets`, `sources`, `weights`, `roles`) are read-only views. `n_neurons` counts the
    non-input neurons.
    """
    cdef Net net
    cdef readonly int n_inputs, n_outputs, n_neurons, n_synapses
    cdef readonly bint recurrent
    cdef bytes _params, _index, _ranges

    def __init__(self, int n_inputs, int n_outputs, ops, bias, lo, hi, offsets, sources, weights, roles):
        arrays = [np.ascontiguousarray(a, dtype=t) for a, t in (
            (ops, np.int32), (bias, np.float32), (lo, np.float32), (hi, np.float32), (offsets, np.int32),
            (sources, np.int32), (weights, np.float32), (roles, np.int8))]
        ops, bias, lo, hi, offsets, sources, weights, roles = arrays
        cdef Py_ssize_t n_nodes = ops.shape[0], n_syn = sources.shape[0]
        if any(a.ndim != 1 for a in arrays):
            raise ValueError("network arrays must be one-dimensional")
        if (bias.shape[0] != n_nodes or lo.shape[0] != n_nodes or hi.shape[0] != n_nodes
                or offsets.shape[0] != n_nodes + 1 or weights.shape[0] != n_syn or roles.shape[0] != n_syn):
            raise ValueError("network arrays disagree in length")
        if n_inputs < 1 or n_outputs < 1 or n_outputs > n_nodes:
            raise ValueError(f"bad network shape: {n_inputs} inputs, {n_outputs} outputs, {n_nodes} neurons")
        if offsets[0] != 0 or offsets[n_nodes] != n_syn or np.any(np.diff(offsets) < 0):
            raise ValueError("offsets must rise from 0 to the synapse count")
        if not np.all(((ops >= 0) & (ops < len(_squash.SQUASHES))) | (ops == OP_CONST)):
            raise ValueError("unknown op in ops")
        if n_syn and (sources.min() < 0 or sources.max() >= n_inputs + n_nodes):
            raise ValueError("synapse source out of range")
        if n_syn and (roles.min() < 0 or roles.max() > ROLE_CONDITION):
            raise ValueError("synapse role out of range")
        targets = np.repeat(np.arange(n_inputs, n_inputs + n_nodes), np.diff(offsets))
        header = np.array([n_inputs, n_outputs, n_nodes, n_syn, np.any(sources >= targets)], dtype=np.int32)
        index = b"".join((header.tobytes(), ops.tobytes(), offsets.tobytes(), sources.tobytes(), roles.tobytes()))
        self._attach(b"".join((bias.tobytes(), weights.tobytes())), index,
                     b"".join((lo.tobytes(), hi.tobytes())))

    cdef void _attach(self, bytes params, bytes index, bytes ranges):
        cdef const char* ix = PyBytes_AS_STRING(index)
        cdef const int* header = <const int*>ix
        cdef const char* pp = PyBytes_AS_STRING(params)
        cdef const char* rp = PyBytes_AS_STRING(ranges)
        cdef int n = header[2], m = header[3]
        self._params, self._index, self._ranges = params, index, ranges
        self.n_inputs, self.n_outputs, self.n_neurons, self.n_synapses = header[0], header[1], n, m
        self.recurrent = header[4]
        self.net.n_in, self.net.n_out, self.net.n_nodes, self.net.recurrent = header[0], header[1], n, header[4]
        self.net.bias = <const float*>pp
        self.net.w = <const float*>(pp + 4 * n)
        self.net.op = <const int*>(ix + 4 * HEADER)
        self.net.off = <const int*>(ix + 4 * (HEADER + n))
        self.net.src = <const int*>(ix + 4 * (HEADER + 2 * n + 1))
        self.net.role = <const signed char*>(ix + 4 * (HEADER + 2 * n + 1 + m))
        self.net.lo = <const float*>rp
        self.net.hi = <const float*>(rp + 4 * n)

    cdef _check_built(self):
        if self._params is None:
            raise ValueError("network was never built (use compile_network or Network(...))")

    cdef _view(self, bytes owner, dtype, Py_ssize_t count, Py_ssize_t offset):
        self._check_built()
        return np.frombuffer(owner, dtype=dtype, count=count, offset=offset)

    @property
    def bias(self):
        return self._view(self._params, np.float32, self.n_neurons, 0)

    @property
    def weights(self):
        return self._view(self._params, np.float32, self.n_synapses, 4 * self.n_neurons)

    @property
    def ops(self):
        return self._view(self._index, np.int32, self.n_neurons, 4 * HEADER)

    @property
    def offsets(self):
        return self._view(self._index, np.int32, self.n_neurons + 1, 4 * (HEADER + self.n_neurons))

    @property
    def sources(self):
        return self._view(self._index, np.int32, self.n_synapses,
                          4 * (HEADER + 2 * self.n_neurons + 1))

    @property
    def roles(self):
        return self._view(self._index, np.int8, self.n_synapses,
                          4 * (HEADER + 2 * self.n_neurons + 1 + self.n_synapses))

    @property
    def lo(self):
        return self._view(self._ranges, np.float32, self.n_neurons, 0)

    @property
    def hi(self):
        return self._view(self._ranges, np.float32, self.n_neurons, 4 * self.n_neurons)

    @property
    def squash(self):
        """`neatai.squash` id per non-input neuron (IDENTITY for constants)."""
        return np.where(self.ops == OP_CONST, 0, self.ops).astype(np.int8)

    @property
    def constant(self):
        return self.ops == OP_CONST

    @property
    def topology_key(self):
        """The index bytes (see `flatten`); one object for all networks of a template."""
        return self._index

    @property
    def parameters(self):
        """The bias and weight bytes (see `flatten`)."""
        return self._params

    def shares_topology(self, Network other):
        """True when both networks read the very same index arrays (one came from the other's template)."""
        return self._index is other._index

    def with_parameters(self, bias, weights):
        """A network of this topology with other biases and weights (what a template hit
        builds): the index and range arrays are shared, only the parameters are new."""
        bias = np.ascontiguousarray(bias, dtype=np.float32)
        weights = np.ascontiguousarray(weights, dtype=np.float32)
        if bias.shape != (self.n_neurons,) or weights.shape != (self.n_synapses,):
            raise ValueError(f"expected {self.n_neurons} biases and {self.n_synapses} weights, "
                             f"got {bias.shape} and {weights.shape}")
        cdef Network other = Network.__new__(Network)
        other._attach(bias.tobytes() + weights.tobytes(), self._index, self._ranges)
        return other

    def activate(self, X, bint feedback_loop=False, int tile=TILE):
        """Outputs float32[n, outputs] for inputs float32[n, inputs] (records in order)."""
        self._check_built()
        cdef cnp.ndarray x = _check_inputs(X, self.n_inputs, "X")
        cdef int n = x.shape[0]
        cdef cnp.ndarray Y = np.empty((n, self.n_outputs), dtype=np.float32)
        cdef cnp.ndarray rows = np.arange(n, dtype=np.int32)
        if tile < 1:
            raise ValueError(f"tile must be >= 1, got {tile}")
        cdef int T = tile_width(&self.net, feedback_loop, tile)
        cdef float* acts = <float*>malloc(<size_t>(self.net.n_in + self.net.n_nodes) * T * sizeof(float))
        cdef float* scratch = <float*>malloc(3 * <size_t>T * sizeof(float))
        cdef const float* xp = <const float*>cnp.PyArray_DATA(x)
        cdef float* yp = <float*>cnp.PyArray_DATA(Y)
        cdef const int* rp = <const int*>cnp.PyArray_DATA(rows)
        if acts == NULL or scratch == NULL:
            free(acts)
            free(scratch)
            raise MemoryError()
        with nogil:
            run_activate(&self.net, xp, rp, n, yp, feedback_loop, tile, acts, scratch)
        free(acts)
        free(scratch)
        return Y

    def __repr__(self):
        return (f"Network(inputs={self.n_inputs}, outputs={self.n_outputs}, neurons={self.n_neurons}, "
                f"synapses={self.n_synapses}, recurrent={bool(self.recurrent)})")


cdef struct Edge:
    int to
    int frm
    int role
    int pos


cdef int edge_order(const void* a, const void* b) noexcept nogil:
    cdef const Edge* x = <const Edge*>a
    cdef const Edge* y = <const Edge*>b
    if x.to != y.to:
        return -1 if x.to < y.to else 1
    if x.frm != y.frm:
        return -1 if x.frm < y.frm else 1
    if x.role != y.role:
        return -1 if x.role < y.role else 1
    return -1 if x.pos < y.pos else (1 if x.pos > y.pos else 0)


cdef dict _OP_OF = {s.name: s.id for s in _squash.SQUASHES}
cdef dict _ROLE_OF = {None: ROLE_STANDARD, "positive": ROLE_POSITIVE, "negative": ROLE_NEGATIVE,
                      "condition": ROLE_CONDITION}
cdef dict _INPUT_OF = {}   # "input-i" -> i, grown on demand (saves parsing the names of every creature)
cdef float RANGE_LO[64]
cdef float RANGE_HI[64]
for _s in _squash.SQUASHES:
    RANGE_LO[_s.id] = _s.lo
    RANGE_HI[_s.id] = _s.hi


cdef tuple _NEURON_FIELDS = ("uuid", "type", "squash", "bias")
cdef tuple _SYNAPSE_FIELDS = ("from_uuid", "to_uuid", "type", "weight")


cdef inline dict _fields(obj, tuple names):
    """The attributes flatten reads, as a dict: the instance dict of the creature model's
    dataclasses (plain lookups, the fast path), else gathered by name."""
    d = getattr(obj, "__dict__", None)
    if type(d) is dict:
        return <dict>d
    return {name: getattr(obj, name) for name in names}


cdef struct Keys:
    # Write pointers into the two key strings of one network (layout above `Network`).
    int* header
    int* op
    int* off
    int* src
    signed char* role
    float* bias
    float* w


cdef tuple _new_keys(Py_ssize_t n, Py_ssize_t m, Keys* k):
    """Allocate (index, parameters) for n neurons and m synapses; `k` points into them."""
    cdef bytes params = PyBytes_FromStringAndSize(NULL, 4 * (n + m))
    cdef bytes topology = PyBytes_FromStringAndSize(NULL, 4 * (HEADER + 2 * n + 1 + m) + m)
    k.bias = <float*>PyBytes_AS_STRING(params)
    k.w = k.bias + n
    k.header = <int*>PyBytes_AS_STRING(topology)
    k.op = k.header + HEADER
    k.off = k.op + n
    k.src = k.off + n + 1
    k.role = <signed char*>(k.src + m)
    return topology, params


cdef void _finish_keys(Keys* k, int n_in, int n_out, Py_ssize_t n, Py_ssize_t m, Edge* edges,
                       const double* raw_w) noexcept:
    """Synapses into canonical CSR order (target, source, role), the header last. `k.op` and
    `k.bias` are filled by the caller; `edges[i].pos` indexes `raw_w`."""
    cdef Py_ssize_t i
    cdef bint recurrent = False
    qsort(edges, m, sizeof(Edge), edge_order)
    memset(k.off, 0, (n + 1) * sizeof(int))
    for i in range(m):
        k.src[i] = edges[i].frm
        k.w[i] = <float>raw_w[edges[i].pos]
        k.role[i] = <signed char>edges[i].role
        k.off[edges[i].to - n_in + 1] += 1
        if edges[i].frm >= edges[i].to:
            recurrent = True
    for i in range(n):
        k.off[i + 1] += k.off[i]
    k.header[0], k.header[1], k.header[2], k.header[3], k.header[4] = n_in, n_out, n, m, recurrent


def flatten(creature):
    """The creature compiled in one pass into two byte strings: (index, parameters).

    `index` (counts, squash ops, CSR index arrays, roles) is the topology key — what a
    template shares; `parameters` holds the float32 biases and weights, so (index, parameters)
    is everything the kernels read: the structure key. Both are exact (no digest, no
    collisions) and independent of uuids and of the order synapses are listed in: synapses sit
    in canonical CSR order (target, source, role), so creatures of one topology fill the same
    slots. `network_from_keys` builds the network on them without copying.
    """
    cdef int n_in = creature.input, n_out = creature.output
    cdef list neurons = creature.neurons
    cdef list synapses = creature.synapses
    cdef Py_ssize_t n = len(neurons), m = len(synapses), k, i
    cdef int op, frm, to
    cdef dict index = {}
    cdef dict fields
    cdef Keys out
    if n_in < 1 or n_out < 1 or n_out > n:
        raise ValueError(f"bad creature shape: {n_in} inputs, {n_out} outputs, {n} neurons")
    if n + n_in > 2147483647 or m > 2147483647:
        raise ValueError("creature too large")
    cdef tuple keys = _new_keys(n, m, &out)
    cdef Edge* edges = <Edge*>malloc((m if m else 1) * sizeof(Edge))
    cdef double* raw_w = <double*>malloc((m if m else 1) * sizeof(double))
    if edges == NULL or raw_w == NULL:
        free(edges)
        free(raw_w)
        raise MemoryError()
    try:
        _grow_input_names(n_in)
        for k in range(n):
            fields = _fields(neurons[k], _NEURON_FIELDS)
            index[fields["uuid"]] = n_in + k
            if fields["type"] == "constant":
                out.op[k] = OP_CONST
            else:
                name = fields["squash"]
                op = _OP_OF.get("IDENTITY" if name is None else name, -1)
                if op < 0:
                    raise ValueError(f"neurons[{k}]: unknown squash {name!r}")
                out.op[k] = op
            out.bias[k] = fields["bias"]
        for i in range(m):
            fields = _fields(synapses[i], _SYNAPSE_FIELDS)
            found = index.get(fields["to_uuid"])
            if found is None:
                raise ValueError(f"synapses[{i}].toUUID: unknown or input neuron {fields['to_uuid']!r}")
            to = found
            found = index.get(fields["from_uuid"])
            if found is None:
                found = _INPUT_OF.get(fields["from_uuid"])
                if found is None or found >= n_in:
                    raise ValueError(f"synapses[{i}].fromUUID: unknown neuron {fields['from_uuid']!r}")
            frm = found
            edges[i].to = to
            edges[i].frm = frm
            edges[i].role = _ROLE_OF[fields["type"]]
            edges[i].pos = i
            raw_w[i] = fields["weight"]
        _finish_keys(&out, n_in, n_out, n, m, edges, raw_w)
    finally:
        free(edges)
        free(raw_w)
    return keys


cdef void _grow_input_names(Py_ssize_t n_in):
    cdef Py_ssize_t k
    if len(_INPUT_OF) < n_in:
        for k in range(len(_INPUT_OF), n_in):
            _INPUT_OF[f"input-{k}"] = k


def network_from_keys(bytes index, bytes params, Network template=None):
    """The Network on `flatten`'s byte strings; with a template of the same index, the
    template's index and range arrays are shared (the caller's `index` is then dropped)."""
    cdef Network net = Network.__new__(Network)
    cdef const int* header
    cdef bytes ranges
    cdef float* r
    cdef Py_ssize_t n, k
    cdef int op
    if template is not None:
        net._attach(params, template._index, template._ranges)
        return net
    header = <const int*>PyBytes_AS_STRING(index)
    n = header[2]
    ranges = PyBytes_FromStringAndSize(NULL, 8 * n)
    r = <float*>PyBytes_AS_STRING(ranges)
    for k in range(n):
        op = header[HEADER + k]
        op = OP_IDENTITY if op == OP_CONST else op   # a constant is limited as IDENTITY
        r[k] = RANGE_LO[op]
        r[n + k] = RANGE_HI[op]
    net._attach(params, index, ranges)
    return net


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
    cdef int cost_id = COSTS.index(cost)
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
include "wire.pxi"
