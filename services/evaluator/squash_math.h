/* NEAT-AI squash maths (reference/neat-ai.md §2.1), float32: values and derivatives over a tile.
 *
 * Included by every Cython module that evaluates squashes (`cdef extern from "squash_math.h"`),
 * so everything here is static and the header is guarded.
 *
 * Every loop is a plain counted loop over branch-free arithmetic so gcc vectorises it (cloned
 * for AVX2 and dispatched at load time; the baseline build is SSE2). Both arms of a select are
 * computed and out-of-range lanes make garbage (inf, NaN) that a later select replaces: FP
 * exception flags are never read, and clamping neatai_exp's argument first stopped gcc
 * vectorising the AVX2 clone. The scalar tile remainder runs the same operations (no FMA contraction: the
 * build passes -ffp-contract=off), so results do not depend on the tile width.
 *
 * Worst errors (vs float64 on float32 inputs; measured by bench/bench_squash.py, asserted per
 * squash by tests/test_squash_math.py):
 *   neatai_exp      Cephes expf, rel. < 1.2e-7
 *   neatai_tanh     rel. < 4e-7 (odd Taylor below |x| = 0.625, 1 - 2/(e^2|x|+1) above), abs. < 2e-7
 *   neatai_expm1    rel. < 1.5e-7
 *   neatai_log1p    Cephes logf + the log1p correction term, rel. < 2e-7 for u >= 0
 *   neatai_atan     Cephes atanf, rel. < 2e-7
 *   neatai_sin/cos  abs. < 1e-7 for |x| <= NEATAI_TRIG_MAX (Cephes polynomials, |r| <= pi/4);
 *                   beyond it the squash tiles call libm (neatai_trig_huge), as NEAT-AI's f32 path
 *   neatai_tan      rel. < 2.5e-7 for |x| <= NEATAI_TRIG_MAX, libm beyond
 */
#ifndef NEATAI_SQUASH_MATH_H
#define NEATAI_SQUASH_MATH_H

#include <float.h>
#include <math.h>
#include <string.h>

#pragma GCC push_options
#pragma GCC optimize ("no-trapping-math")
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
/* unused: a module may include the header for one of the tile functions only */
#define NEATAI_SIMD __attribute__((target_clones("avx2", "default"), unused))
#else
#define NEATAI_SIMD
#endif

#define NEATAI_TWO53 9007199254740992.0f
#define NEATAI_MAX_SAFE 9007199254740991.0f   /* rounds to 2^53 in float */
/* sin/cos/tan are accurate up to here (the Cody-Waite products below stay exact for
   |k| <= 2^16, i.e. |x| <= 102943); beyond it, like +-inf and NaN, they return NaN, which
   the range limit maps to 0 (float32 spacing there is already >= 0.0078). */
#define NEATAI_TRIG_MAX 1e5f

static inline float neatai_exp(float x) {
    /* Cephes expf: range reduction + degree-6 polynomial. Out-of-range (and NaN) x make
       garbage here that the selects at the end replace. */
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
    /* odd Taylor series to x^15 for |x| < 0.625: no cancellation near 0 */
    float p = x + x * z * (-0.333333333333f + z * (0.133333333333f + z * (-0.0539682539683f
              + z * (0.0218694885362f + z * (-0.00886323552990f + z * (0.00359212803657f
              + z * (-0.00145583438705f)))))));
    float e = neatai_exp(2.0f * a);          /* inf above 44: q = 1 */
    float q = 1.0f - 2.0f / (e + 1.0f);
    q = x < 0 ? -q : q;
    return a < 0.625f ? p : q;
}

/* e^x - 1 without cancellation near 0 (Taylor to x^7 below |x| = 0.35) */
static inline float neatai_expm1(float x) {
    float t = x * (1.0f + x * (0.5f + x * (0.166666667f + x * (0.0416666667f + x * (0.00833333333f
              + x * (0.00138888889f + x * 0.000198412698f))))));
    float e = neatai_exp(x) - 1.0f;
    return fabsf(x) < 0.35f ? t : e;
}

/* ln(1 + u) for u >= 0 (u = e^x in Softplus/LogSigmoid). w = 1 + u is >= 1, so always a
   normal float: its exponent and mantissa are split with integer ops, the mantissa brought
   into [sqrt(1/2), sqrt(2)) and Cephes' logf polynomial applied; (u - (w - 1)) / w restores
   what rounding 1 + u lost (it is all of u when u < 2^-24). u = inf gives garbage the
   callers select away. */
static inline float neatai_log1p(float u) {
    float w = 1.0f + u;
    int bits;
    memcpy(&bits, &w, sizeof bits);
    float e = (float)((bits >> 23) - 127);
    int mb = (bits & 0x007fffff) | 0x3f800000;
    float m;
    memcpy(&m, &mb, sizeof m);               /* [1, 2) */
    int big = m > 1.41421356237f;
    m = big ? 0.5f * m : m;
    e = big ? e + 1.0f : e;
    float f = m - 1.0f;
    float z = f * f;
    float y = ((((((((7.0376836292E-2f * f - 1.1514610310E-1f) * f + 1.1676998740E-1f) * f
                - 1.2420140846E-1f) * f + 1.4249322787E-1f) * f - 1.6668057665E-1f) * f
                + 2.0000714765E-1f) * f - 2.4999993993E-1f) * f + 3.3333331174E-1f) * f * z;
    y = y + -2.12194440e-4f * e;
    y = y + -0.5f * z;
    float r = f + y;
    r = r + 0.693359375f * e;
    return r + (u - (w - 1.0f)) / w;
}

/* Cephes atanf: |x| folded onto [0, tan(pi/8)] by atan x = pi/2 + atan(-1/x) (x > tan 3pi/8)
   or pi/4 + atan((x-1)/(x+1)) (x > tan pi/8), one division for both arms. */
static inline float neatai_atan(float x) {
    float a = fabsf(x);
    int hi = a > 2.414213562373095f;
    int mid = a > 0.4142135623730950f;
    float num = hi ? -1.0f : (mid ? a - 1.0f : a);
    float den = hi ? a : (mid ? a + 1.0f : 1.0f);
    float base = hi ? 1.5707963267948966f : (mid ? 0.7853981633974483f : 0.0f);
    float t = num / den;
    float z = t * t;
    float y = base + ((((8.05374449538e-2f * z - 1.38776856032E-1f) * z + 1.99777106478E-1f) * z
                       - 3.33329491539E-1f) * z * t + t);
    return x < 0 ? -y : y;
}

/* x = k pi/2 + r, |r| <= pi/4 (Cody-Waite: pi/2 in four parts, the first three of 8 bits so
   k * part is exact for |k| <= 2^16 and x - k*C1 is exact by Sterbenz). Lanes beyond
   NEATAI_TRIG_MAX (and NaN) are reduced from 0 so the int conversion stays defined; the
   callers return NaN for them. *q gets k mod 4. */
static inline float neatai_reduce_pio2(float x, int *q) {
    float v = fabsf(x) <= NEATAI_TRIG_MAX ? x : 0.0f;
    float k = (v * 0.636619772367581f + 12582912.0f) - 12582912.0f;   /* round to nearest */
    *q = (int)k & 3;
    float r = v - k * 1.5703125f;
    r = r - k * 4.825592041015625e-4f;
    r = r - k * 1.2665987014770508e-06f;
    r = r - k * 9.92093629470503e-10f;
    return r;
}

/* Cephes sinf/cosf polynomials on |r| <= pi/4 */
static inline float neatai_sin_poly(float r) {
    float z = r * r;
    return ((-1.9515295891E-4f * z + 8.3321608736E-3f) * z - 1.6666654611E-1f) * z * r + r;
}

static inline float neatai_cos_poly(float r) {
    float z = r * r;
    return ((2.443315711809948E-005f * z - 1.388731625493765E-003f) * z + 4.166664568298827E-002f) * z * z
           - 0.5f * z + 1.0f;
}

static inline float neatai_sin(float x) {
    int q;
    float r = neatai_reduce_pio2(x, &q);
    float s = neatai_sin_poly(r), c = neatai_cos_poly(r);
    float y = (q & 1) ? c : s;
    y = (q & 2) ? -y : y;
    return fabsf(x) <= NEATAI_TRIG_MAX ? y : NAN;
}

static inline float neatai_cos(float x) {
    int q;
    float r = neatai_reduce_pio2(x, &q);
    float s = neatai_sin_poly(r), c = neatai_cos_poly(r);
    float y = (q & 1) ? s : c;
    y = ((q + 1) & 2) ? -y : y;               /* quadrants 1, 2 are negative */
    return fabsf(x) <= NEATAI_TRIG_MAX ? y : NAN;
}

/* Cephes tanf polynomial on |r| <= pi/4; odd quadrants are -1/tan r */
static inline float neatai_tan(float x) {
    int q;
    float r = neatai_reduce_pio2(x, &q);
    float z = r * r;
    float t = (((((9.38540185543E-3f * z + 3.11992232697E-3f) * z + 2.44301354525E-2f) * z
                + 5.34112807005E-2f) * z + 1.33387994085E-1f) * z + 3.33331568548E-1f) * z * r + r;
    float y = (q & 1) ? -1.0f / t : t;
    return fabsf(x) <= NEATAI_TRIG_MAX ? y : NAN;
}

/* NEAT-AI apply_limit_range: NaN -> 0, then clamp to [lo, hi] (so +-inf -> bounds) */
static inline float neatai_limit(float r, float lo, float hi) {
    r = r != r ? 0.0f : r;
    r = r < lo ? lo : r;
    return r > hi ? hi : r;
}

/* A derivative is always finite: NaN -> 0, +-inf -> +-FLT_MAX */
static inline float neatai_finite(float d) {
    return neatai_limit(d, -FLT_MAX, FLT_MAX);
}

static inline float neatai_sigmoid(float x) {
    return 1.0f / (1.0f + neatai_exp(-x));
}

/* sin, cos, tan of finite |x| > NEATAI_TRIG_MAX through libm's exact range reduction, after
   the vector loop has given those lanes NaN: a scalar pass that calls libm only for them (rare),
   so the loops stay branch-free and huge arguments keep the values libm gives. `derivative`
   selects f' (cos, -sin, 1 + tan^2 capped at 1000) instead of the limited value. */
NEATAI_SIMD static void neatai_trig_huge(int op, const float *x, float *out, int T, float lo, float hi,
                                         int derivative) {
    int any = 0;
    for (int j = 0; j < T; j++)  /* a vectorised scan first: the calls below are rare */
        any |= (fabsf(x[j]) > NEATAI_TRIG_MAX) & (fabsf(x[j]) <= FLT_MAX);
    if (!any)
        return;
    for (int j = 0; j < T; j++) {
        float v = x[j], r;
        if (!(fabsf(v) > NEATAI_TRIG_MAX && fabsf(v) <= FLT_MAX))
            continue;
        if (op == 14)
            r = derivative ? cosf(v) : sinf(v);
        else if (op == 15)
            r = derivative ? -sinf(v) : cosf(v);
        else {
            r = tanf(v);
            r = fabsf(r) <= FLT_MAX ? r : 0.0f;
            r = r > 1000.0f ? 1000.0f : (r < -1000.0f ? -1000.0f : r);
            if (derivative) {
                r = 1.0f + r * r;
                r = r > 1000.0f ? 1000.0f : r;
            }
        }
        out[j] = derivative ? r : neatai_limit(r, lo, hi);
    }
}

/* out[j] = limit(f(x[j]), lo, hi) for every non-aggregate squash (ids 0..31, 38 = SOFTMAX,
   a LOGISTIC per neuron); returns 0 for the aggregates 32..37 (and unknown ops), which the
   forward pass computes itself. Values are NEAT-AI's float32 path, quirks included. */
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
    case 4:  /* SELU: x capped at 709, a non-finite result reads -MAX_SAFE */
        for (j = 0; j < T; j++) {
            float neg = 1.7580993408473766f * neatai_expm1(x[j]);   /* lambda * alpha */
            float pos = 1.0507009873554805f * (x[j] > 709.0f ? 709.0f : x[j]);
            float r = x[j] > 0 ? pos : neg;
            out[j] = neatai_limit(r != r ? -NEATAI_MAX_SAFE : r, lo, hi);
        }
        return 1;
    case 5:  /* ELU */
        for (j = 0; j < T; j++) {
            float e = neatai_expm1(x[j]);
            out[j] = neatai_limit(x[j] > 0 ? x[j] : e, lo, hi);
        }
        return 1;
    case 6: case 38:  /* LOGISTIC, SOFTMAX */
        for (j = 0; j < T; j++) out[j] = neatai_limit(neatai_sigmoid(x[j]), lo, hi);
        return 1;
    case 7:  /* TANH */
        for (j = 0; j < T; j++) out[j] = neatai_limit(neatai_tanh(x[j]), lo, hi);
        return 1;
    case 8:  /* HARD_TANH */
        for (j = 0; j < T; j++) out[j] = neatai_limit(x[j] <= -1 ? -1.0f : (x[j] >= 1 ? 1.0f : x[j]), lo, hi);
        return 1;
    case 9:  /* SOFTSIGN, f32 path: within 0.99f minus one ulp */
        for (j = 0; j < T; j++) {
            float r = x[j] / (1.0f + fabsf(x[j]));
            r = r > 0.98999995f ? 0.98999995f : (r < -0.98999995f ? -0.98999995f : r);
            out[j] = neatai_limit(r, lo, hi);
        }
        return 1;
    case 10:  /* Softplus: NaN -> 1e-15, x >= 709 -> 100; ln(1+e^x) == x in f32 above 20 */
        for (j = 0; j < T; j++) {
            float v = x[j];
            float r = neatai_log1p(neatai_exp(v));
            r = v > 20.0f ? v : r;
            r = v >= 709.0f ? 100.0f : r;
            out[j] = neatai_limit(v != v ? 1e-15f : r, lo, hi);
        }
        return 1;
    case 11:  /* Swish */
        for (j = 0; j < T; j++) out[j] = neatai_limit(x[j] / (1.0f + neatai_exp(-x[j])), lo, hi);
        return 1;
    case 12:  /* Mish: x tanh(ln(1+e^x)) = x n/(n+2), n = e^x (e^x + 2) */
        for (j = 0; j < T; j++) {
            float e = neatai_exp(x[j]);
            float n = e * (e + 2.0f);
            float r = x[j] * n / (n + 2.0f);
            out[j] = neatai_limit(x[j] > 20.0f ? x[j] : r, lo, hi);
        }
        return 1;
    case 13:  /* GELU, tanh form: 0.5x(1 + tanh u) == x/(1 + e^-2u), which does not cancel for x < 0 */
        for (j = 0; j < T; j++) {
            float v = x[j];
            float u = 0.7978845608028654f * (v + 0.044715f * v * v * v);
            out[j] = neatai_limit(v / (1.0f + neatai_exp(-2.0f * u)), lo, hi);
        }
        return 1;
    case 14:  /* SINE */
        for (j = 0; j < T; j++) out[j] = neatai_limit(neatai_sin(x[j]), lo, hi);
        neatai_trig_huge(op, x, out, T, lo, hi, 0);
        return 1;
    case 15:  /* Cosine */
        for (j = 0; j < T; j++) out[j] = neatai_limit(neatai_cos(x[j]), lo, hi);
        neatai_trig_huge(op, x, out, T, lo, hi, 0);
        return 1;
    case 16:  /* TAN: a non-finite tan reads 0, then +-1000 */
        for (j = 0; j < T; j++) {
            float r = neatai_tan(x[j]);
            r = fabsf(r) <= FLT_MAX ? r : 0.0f;
            r = r > 1000.0f ? 1000.0f : (r < -1000.0f ? -1000.0f : r);
            out[j] = neatai_limit(r, lo, hi);
        }
        neatai_trig_huge(op, x, out, T, lo, hi, 0);
        return 1;
    case 17:  /* ArcTan */
        for (j = 0; j < T; j++) out[j] = neatai_limit(neatai_atan(x[j]), lo, hi);
        return 1;
    case 18:  /* GAUSSIAN */
        for (j = 0; j < T; j++) out[j] = neatai_limit(neatai_exp(-x[j] * x[j]), lo, hi);
        return 1;
    case 19:  /* BENT_IDENTITY, sqrt(x^2+1) - 1 written x^2/(sqrt(x^2+1) + 1) (no cancellation
                 near 0); above 1e18 x*x overflows, and sqrt(x^2+1) == |x| there */
        for (j = 0; j < T; j++) {
            float v = x[j], a = fabsf(v), v2 = v * v;
            float big = 0.5f * (a - 1.0f) + v;
            float r = 0.5f * (v2 / (sqrtf(v2 + 1.0f) + 1.0f)) + v;
            out[j] = neatai_limit(a > 1e18f ? big : r, lo, hi);
        }
        return 1;
    case 20:  /* BIPOLAR_SIGMOID: 2/(1+e^-x) - 1 == tanh(x/2), without the cancellation near 0 */
        for (j = 0; j < T; j++) out[j] = neatai_limit(neatai_tanh(0.5f * x[j]), lo, hi);
        return 1;
    case 21:  /* BIPOLAR (NaN -> -1, as NEAT-AI: the comparison is false) */
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
    case 25:  /* SQUARE, capped at 1e6 */
        for (j = 0; j < T; j++) {
            float r = x[j] * x[j];
            out[j] = neatai_limit(r > 1e6f ? 1e6f : r, lo, hi);
        }
        return 1;
    case 26:  /* Cube, within +-1e6 */
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
    case 28:  /* StdInverse, f32 path: |1/x| capped at 1e10 */
        for (j = 0; j < T; j++) {
            float v = x[j];
            float r = 1.0f / v;
            float cap = v < 0 ? -1e10f : 1e10f;
            out[j] = neatai_limit(fabsf(v) < 1e-10f ? cap : r, lo, hi);
        }
        return 1;
    case 29:  /* Exponential: x >= 36 or non-finite (-inf included) -> 2^53 */
        for (j = 0; j < T; j++) {
            float v = x[j];
            float r = neatai_exp(v);
            out[j] = neatai_limit(v >= 36.0f || !(fabsf(v) <= FLT_MAX) ? NEATAI_TWO53 : r, lo, hi);
        }
        return 1;
    case 30:  /* LogSigmoid: x <= -709 -> -2^53; -ln(1+e^-x) == x in f32 below -20 */
        for (j = 0; j < T; j++) {
            float v = x[j];
            float r = -neatai_log1p(neatai_exp(-v));
            r = v < -20.0f ? v : r;
            out[j] = neatai_limit(v <= -709.0f ? -NEATAI_TWO53 : r, lo, hi);
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

/* out[j] = f'(x[j]) as NEAT-AI codes it (neat-core derivative.rs; reference/neat-ai.md §2.1),
   for ops 0..38; x is the pre-activation and fx the activation neatai_squash_tile gave for
   it (LOGISTIC/SOFTMAX, TANH, BIPOLAR_SIGMOID and TAN reuse it). Aggregates read 0. Every
   result goes through neatai_finite, so it is finite for any x. Where NEAT-AI's float32
   code overflows to NaN/inf for a finite x the limit of the formula is returned instead
   (noted per case). Returns 0 only for an unknown op. */
NEATAI_SIMD static int neatai_derivative_tile(int op, const float *restrict x, const float *restrict fx,
                                              float *restrict out, int T) {
    int j;
    switch (op) {
    case 0:  /* IDENTITY */
        for (j = 0; j < T; j++) out[j] = 1.0f;
        return 1;
    case 1:  /* ReLU */
        for (j = 0; j < T; j++) out[j] = x[j] > 0 ? 1.0f : 0.0f;
        return 1;
    case 2:  /* ReLU6 */
        for (j = 0; j < T; j++) out[j] = (x[j] > 0 && x[j] < 6) ? 1.0f : 0.0f;
        return 1;
    case 3:  /* LeakyReLU */
        for (j = 0; j < T; j++) out[j] = x[j] >= 0 ? 1.0f : 0.01f;
        return 1;
    case 4:  /* SELU: lambda, or lambda alpha e^x */
        for (j = 0; j < T; j++) {
            float e = 1.7580993408473766f * neatai_exp(x[j]);
            out[j] = neatai_finite(x[j] >= 0 ? 1.0507009873554805f : e);
        }
        return 1;
    case 5:  /* ELU */
        for (j = 0; j < T; j++) {
            float e = neatai_exp(x[j]);
            out[j] = neatai_finite(x[j] > 0 ? 1.0f : e);
        }
        return 1;
    case 6: case 38:  /* LOGISTIC, SOFTMAX: s (1 - s) */
        for (j = 0; j < T; j++) out[j] = neatai_finite(fx[j] * (1.0f - fx[j]));
        return 1;
    case 7:  /* TANH: 1 - tanh^2 (NaN x: tanh is NaN -> 0, though fx was limited to 0) */
        for (j = 0; j < T; j++) out[j] = x[j] != x[j] ? 0.0f : neatai_finite(1.0f - fx[j] * fx[j]);
        return 1;
    case 8:  /* HARD_TANH */
        for (j = 0; j < T; j++) out[j] = (x[j] > -1 && x[j] < 1) ? 1.0f : 0.0f;
        return 1;
    case 9:  /* SOFTSIGN: 1/(1+|x|)^2 */
        for (j = 0; j < T; j++) {
            float d = 1.0f + fabsf(x[j]);
            out[j] = neatai_finite(1.0f / (d * d));
        }
        return 1;
    case 10:  /* Softplus: sigmoid(x), non-finite -> 0 */
        for (j = 0; j < T; j++) out[j] = neatai_finite(neatai_sigmoid(x[j]));
        return 1;
    case 11:  /* Swish: s (1 + x (1 - s)), 1 - s = e/(1+e) (e = e^-x) so large x do not cancel;
                 x = +-inf reads 0 */
        for (j = 0; j < T; j++) {
            float e = neatai_exp(-x[j]);
            float s = 1.0f / (1.0f + e);
            float c = e > 1e30f ? 1.0f : e * s;
            out[j] = neatai_finite(s * (1.0f + x[j] * c));
        }
        return 1;
    case 12:  /* Mish, NEAT-AI's formula e^x w / d^2 (not the true derivative: 0.56 at 0), >= 0.
                 w = 4e^2x + 4e^x x + e^2x x^2 + 2e^x x^2 + 2x^3 + 4e^x + 4x + 6, d = 2 + 2e^x + e^2x.
                 For x > 0 it is divided through by e^4x (m = e^-x) so nothing overflows; it
                 decays like x^2 e^-x, so x > 80 (and +inf) reads 0, as NEAT-AI's overflow does. */
        for (j = 0; j < T; j++) {
            float v = x[j], v2 = v * v, v3 = v2 * v;
            float e = neatai_exp(v), e2 = e * e;
            float w = 4.0f * e2 + 4.0f * e * v + e2 * v2 + 2.0f * e * v2 + 2.0f * v3 + 4.0f * e + 4.0f * v + 6.0f;
            float dl = 2.0f + 2.0f * e + e2;
            float neg = e * w / (dl * dl);
            float m = neatai_exp(-v), m2 = m * m;
            float p = 1.0f + 2.0f * m + 2.0f * m2;
            float pos = m * ((4.0f + v2) + m * (4.0f * v + 2.0f * v2 + 4.0f) + m2 * (2.0f * v3 + 4.0f * v + 6.0f))
                        / (p * p);
            float r = v > 0 ? pos : neg;
            r = v > 80.0f ? 0.0f : r;
            r = r > 0 ? r : 0.0f;                 /* NaN (x = -inf, NaN) -> 0 too */
            out[j] = neatai_finite(r);
        }
        return 1;
    case 13:  /* GELU: cdf + pdf of the tanh form; beyond |x| = 10 it is 1 or 0 to float
                 precision (NEAT-AI's float32 0 * inf would read 0 above 1e19); +-inf: 0, as coded */
        for (j = 0; j < T; j++) {
            /* with e = e^-2u: cdf = 0.5(1 + tanh u) = 1/(1+e), 1 - tanh^2 u = 4e/(1+e)^2 (no cancellation) */
            float v = x[j];
            float e = neatai_exp(-1.5957691216057308f * (v + 0.044715f * v * v * v));
            float cdf = 1.0f / (1.0f + e);
            float sech2 = 4.0f * cdf * (e * cdf);
            float pdf = (0.5f * v * sech2) * 0.7978845608028654f * (1.0f + 3.0f * 0.044715f * v * v);
            float r = neatai_finite(cdf + pdf);
            float tail = v > 0 ? 1.0f : 0.0f;     /* one select per statement: gcc if-converts it */
            r = fabsf(v) > 10.0f ? tail : r;
            out[j] = fabsf(v) <= FLT_MAX ? r : 0.0f;
        }
        return 1;
    case 14:  /* SINE: cos x (0 at +-inf and NaN, where the value is 0 too) */
        for (j = 0; j < T; j++) out[j] = neatai_finite(neatai_cos(x[j]));
        neatai_trig_huge(op, x, out, T, 0.0f, 0.0f, 1);
        return 1;
    case 15:  /* Cosine: -sin x */
        for (j = 0; j < T; j++) out[j] = neatai_finite(-neatai_sin(x[j]));
        neatai_trig_huge(op, x, out, T, 0.0f, 0.0f, 1);
        return 1;
    case 16:  /* TAN: 1 + tan^2, capped at 1000; a non-finite tan (x = +-inf, NaN) reads 1000;
                 beyond NEATAI_TRIG_MAX libm. fx is tan clamped to +-1000, which keeps 1 + fx^2 > 1000 exact. */
        for (j = 0; j < T; j++) {
            float d = 1.0f + fx[j] * fx[j];
            d = d > 1000.0f ? 1000.0f : d;
            out[j] = fabsf(x[j]) <= NEATAI_TRIG_MAX ? d : 1000.0f;
        }
        neatai_trig_huge(op, x, out, T, 0.0f, 0.0f, 1);
        return 1;
    case 17:  /* ArcTan: 1/(1+x^2) */
        for (j = 0; j < T; j++) out[j] = neatai_finite(1.0f / (1.0f + x[j] * x[j]));
        return 1;
    case 18:  /* GAUSSIAN: -2x e^(-x^2), non-finite -> 0 */
        for (j = 0; j < T; j++) out[j] = neatai_finite(-2.0f * x[j] * neatai_exp(-x[j] * x[j]));
        return 1;
    case 19:  /* BENT_IDENTITY: x/(2 sqrt(x^2+1)) + 1; above 1e18 x*x overflows: 1 +- 1/2;
                 +-inf: inf/inf -> 0, as coded */
        for (j = 0; j < T; j++) {
            float v = x[j], a = fabsf(v);
            float r = v / (2.0f * sqrtf(v * v + 1.0f)) + 1.0f;
            float big = v > 0 ? 1.5f : 0.5f;
            r = a > 1e18f ? big : r;
            out[j] = a <= FLT_MAX ? r : 0.0f;
        }
        return 1;
    case 20:  /* BIPOLAR_SIGMOID: (1 - f^2)/2 (NaN x -> 0, as TANH) */
        for (j = 0; j < T; j++) out[j] = x[j] != x[j] ? 0.0f : neatai_finite((1.0f - fx[j] * fx[j]) * 0.5f);
        return 1;
    case 21:  /* BIPOLAR */
    case 32: case 33: case 34: case 35: case 36: case 37:  /* aggregates */
        for (j = 0; j < T; j++) out[j] = 0.0f;
        return 1;
    case 22:  /* STEP: pseudo-gradient 0.01 for |x| < 0.01 */
        for (j = 0; j < T; j++) out[j] = fabsf(x[j]) < 0.01f ? 0.01f : 0.0f;
        return 1;
    case 23:  /* COMPLEMENT */
        for (j = 0; j < T; j++) out[j] = -1.0f;
        return 1;
    case 24:  /* ABSOLUTE: sign(x), 0 at 0 */
        for (j = 0; j < T; j++) out[j] = x[j] > 0 ? 1.0f : (x[j] < 0 ? -1.0f : 0.0f);
        return 1;
    case 25:  /* SQUARE: 2x, non-finite -> 0 */
        for (j = 0; j < T; j++) out[j] = fabsf(x[j]) <= FLT_MAX ? neatai_finite(2.0f * x[j]) : 0.0f;
        return 1;
    case 26:  /* Cube: 3x^2 */
        for (j = 0; j < T; j++) out[j] = neatai_finite(3.0f * x[j] * x[j]);
        return 1;
    case 27:  /* SQRT: 1/(2 sqrt x) for x > 0 */
        for (j = 0; j < T; j++) {
            float r = 1.0f / (2.0f * sqrtf(x[j]));
            out[j] = neatai_finite(x[j] > 0 ? r : 0.0f);
        }
        return 1;
    case 28:  /* StdInverse: -sign(x)/(1+|x|)^2 (NEAT-AI's, inconsistent with 1/x), 0 at 0 */
        for (j = 0; j < T; j++) {
            float v = x[j];
            float d = 1.0f + fabsf(v);
            float r = (v > 0 ? -1.0f : 1.0f) / (d * d);
            out[j] = neatai_finite(v == 0 ? 0.0f : r);
        }
        return 1;
    case 29:  /* Exponential: e^x, < 1e-12 -> 0, > 50 -> 50 */
        for (j = 0; j < T; j++) {
            float r = neatai_exp(x[j]);
            r = r < 1e-12f ? 0.0f : r;
            out[j] = neatai_finite(r > 50.0f ? 50.0f : r);
        }
        return 1;
    case 30:  /* LogSigmoid: e^-x/(1+e^-x) = 1/(1+e^x) within [1e-6, 1]; x >= 709 -> 0 and
                 x <= -709 -> 1 as NEAT-AI. (Its e^-x/(1+e^-x) is inf/inf in float32 for
                 -709 < x < -88.7; 1/(1+e^x) gives the limit 1 there.) */
        for (j = 0; j < T; j++) {
            float v = x[j];
            float r = 1.0f / (1.0f + neatai_exp(v));
            r = r < 1e-6f ? 1e-6f : (r > 1.0f ? 1.0f : r);
            r = v >= 709.0f ? 0.0f : r;
            r = v <= -709.0f ? 1.0f : r;
            out[j] = neatai_finite(r);
        }
        return 1;
    case 31:  /* ISRU: (1+x^2)^-1.5 */
        for (j = 0; j < T; j++) {
            float s = 1.0f / sqrtf(1.0f + x[j] * x[j]);
            out[j] = neatai_finite(s * s * s);
        }
        return 1;
    }
    return 0;
}

/* out[j] = the exact derivative of the value neatai_squash_tile computes before the range
   limit (the reverse sweep's f'; the limit itself is the caller's), for ops 0..31 and 38.
   It is neatai_derivative_tile except where NEAT-AI codes something else: Mish's and
   StdInverse's formulas are not f', Exponential/LogSigmoid/TAN clamp f', STEP has a
   pseudo-gradient, and the caps inside SELU, SOFTSIGN, Softplus, TAN, SQUARE, Cube,
   Exponential and LogSigmoid make f flat (f' = 0) where NEAT-AI keeps the formula. fx is the activation as
   for neatai_derivative_tile; every result is finite. */
NEATAI_SIMD static int neatai_gradient_tile(int op, const float *restrict x, const float *restrict fx,
                                            float *restrict out, int T) {
    int j;
    switch (op) {
    case 4:  /* SELU: flat above the 709 cap */
        neatai_derivative_tile(op, x, fx, out, T);
        for (j = 0; j < T; j++) out[j] = x[j] > 709.0f ? 0.0f : out[j];
        return 1;
    case 9:  /* SOFTSIGN: flat where the 0.99 - ulp cap holds */
        neatai_derivative_tile(op, x, fx, out, T);
        for (j = 0; j < T; j++) out[j] = fabsf(fx[j]) >= 0.98999995f ? 0.0f : out[j];
        return 1;
    case 10:  /* Softplus: flat at the 100 it reads from x >= 709 */
        neatai_derivative_tile(op, x, fx, out, T);
        for (j = 0; j < T; j++) out[j] = x[j] >= 709.0f ? 0.0f : out[j];
        return 1;
    case 12:  /* Mish, f = x n/(n+2), n = e(e+2), e = e^x: f' = n/(n+2) + 4x e(e+1)/(n+2)^2;
                 f = x above 20 */
        for (j = 0; j < T; j++) {
            float v = x[j], e = neatai_exp(v);
            float n = e * (e + 2.0f), q = 1.0f / (n + 2.0f);
            float r = n * q + 4.0f * v * (e * (e + 1.0f)) * q * q;
            out[j] = neatai_finite(v > 20.0f ? 1.0f : r);
        }
        return 1;
    case 16:  /* TAN: 1 + tan^2 uncapped; flat where tan is clamped to +-1000 (fx holds it) */
        for (j = 0; j < T; j++) {
            float t = fx[j];
            out[j] = (fabsf(t) < 1000.0f && x[j] == x[j]) ? 1.0f + t * t : 0.0f;
        }
        return 1;
    case 22:  /* STEP: flat (its jump at 0 has no derivative) */
        for (j = 0; j < T; j++) out[j] = 0.0f;
        return 1;
    case 25:  /* SQUARE: 2x below the 1e6 cap */
        for (j = 0; j < T; j++) out[j] = x[j] * x[j] < 1e6f ? 2.0f * x[j] : 0.0f;
        return 1;
    case 26:  /* Cube: 3x^2 within the +-1e6 caps */
        for (j = 0; j < T; j++) {
            float c = x[j] * x[j] * x[j];
            out[j] = fabsf(c) < 1e6f ? 3.0f * x[j] * x[j] : 0.0f;
        }
        return 1;
    case 28:  /* StdInverse, f = 1/x: -1/x^2; flat where |1/x| is capped (|x| < 1e-10) */
        for (j = 0; j < T; j++) {
            float r = 1.0f / x[j];
            out[j] = neatai_finite(fabsf(x[j]) < 1e-10f ? 0.0f : -(r * r));
        }
        return 1;
    case 29:  /* Exponential: e^x (= fx) uncapped; flat at the 2^53 cap (x >= 36, non-finite) */
        for (j = 0; j < T; j++)
            out[j] = (x[j] < 36.0f && fabsf(x[j]) <= FLT_MAX) ? fx[j] : 0.0f;
        return 1;
    case 30:  /* LogSigmoid: 1/(1+e^x) unclamped; f = x below -20 (f' = 1), flat at the
                 -2^53 cap (x <= -709) */
        for (j = 0; j < T; j++) {
            float v = x[j];
            float r = 1.0f / (1.0f + neatai_exp(v));
            r = v < -20.0f ? 1.0f : r;
            out[j] = v <= -709.0f || v != v ? 0.0f : r;
        }
        return 1;
    }
    return neatai_derivative_tile(op, x, fx, out, T);
}

#pragma GCC pop_options
#endif /* NEATAI_SQUASH_MATH_H */
