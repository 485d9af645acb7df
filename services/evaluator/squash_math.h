/* Squash maths for the kernels (values only so far). */
#ifndef NEATAI_SQUASH_MATH_H
#define NEATAI_SQUASH_MATH_H
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
#endif
