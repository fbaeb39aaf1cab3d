#include "CTailorInt8.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define TAILOR_HAS_X86 1
#define TAILOR_VNNI __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")))
#else
#define TAILOR_HAS_X86 0
#endif

int tailor_int8_vnni_available(void) {
#if TAILOR_HAS_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
#else
    return 0;
#endif
}

// MARK: - Portable versions (any CPU; the same arithmetic as the AVX-512 ones)

static void quantize_rows_portable(int m, int k, const float *a, int lda, int8_t *out, int ldo,
                                   float *scales, int32_t *sums) {
    for (int i = 0; i < m; i++) {
        const float *row = a + (size_t)i * lda;
        int8_t *q = out + (size_t)i * ldo;
        float largest = 0;
        for (int t = 0; t < k; t++) largest = fmaxf(largest, fabsf(row[t]));
        int32_t sum = 0;
        if (largest > 0) {
            float inverse = 127.0f / largest;
            for (int t = 0; t < k; t++) {
                float v = nearbyintf(row[t] * inverse);
                v = fminf(fmaxf(v, -127.0f), 127.0f);
                q[t] = (int8_t)v;
                sum += q[t];
            }
        } else {
            for (int t = 0; t < k; t++) q[t] = 0;
        }
        for (int t = k; t < ldo; t++) q[t] = 0;
        scales[i] = largest / 127.0f;
        sums[i] = sum;
    }
}

static void gemm_portable(int m, int n, int depth, const int8_t *a, const uint8_t *b, const float *scales,
                          const int32_t *sums, const float *columnScales, float *c, int ldc) {
    for (int i = 0; i < m; i++) {
        const int8_t *row = a + (size_t)i * depth;
        for (int j = 0; j < n; j++) {
            const uint8_t *panel = b + (size_t)(j / 32) * depth * 32;
            int column = j % 32;
            int32_t acc = 0;
            for (int t = 0; t < depth; t++) {
                acc += (int32_t)row[t] * (int32_t)panel[(t / 4) * 128 + (column / 16) * 64 + (column % 16) * 4 + t % 4];
            }
            c[(size_t)i * ldc + j] = (float)(acc - 128 * sums[i]) * (scales[i] * columnScales[j]);
        }
    }
}

// MARK: - AVX-512 VNNI

#if TAILOR_HAS_X86

TAILOR_VNNI
static void quantize_rows_vnni(int m, int k, const float *a, int lda, int8_t *out, int ldo, float *scales,
                               int32_t *sums) {
    const __m512 sign = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    for (int i = 0; i < m; i++) {
        const float *row = a + (size_t)i * lda;
        int8_t *q = out + (size_t)i * ldo;
        __m512 largestV = _mm512_setzero_ps();
        int t = 0;
        for (; t + 16 <= k; t += 16) largestV = _mm512_max_ps(largestV, _mm512_and_ps(_mm512_loadu_ps(row + t), sign));
        float largest = _mm512_reduce_max_ps(largestV);
        for (; t < k; t++) largest = fmaxf(largest, fabsf(row[t]));
        int32_t sum = 0;
        if (largest > 0) {
            float inverse = 127.0f / largest;
            const __m512 inverseV = _mm512_set1_ps(inverse);
            const __m512i low = _mm512_set1_epi32(-127), high = _mm512_set1_epi32(127);
            __m512i sumV = _mm512_setzero_si512();
            for (t = 0; t + 16 <= k; t += 16) {
                // Round half to even (the default MXCSR mode), as nearbyintf.
                __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(row + t), inverseV));
                v = _mm512_min_epi32(_mm512_max_epi32(v, low), high);
                sumV = _mm512_add_epi32(sumV, v);
                _mm_storeu_si128((__m128i *)(q + t), _mm512_cvtepi32_epi8(v));
            }
            sum = _mm512_reduce_add_epi32(sumV);
            for (; t < k; t++) {
                float v = nearbyintf(row[t] * inverse);
                v = fminf(fmaxf(v, -127.0f), 127.0f);
                q[t] = (int8_t)v;
                sum += q[t];
            }
        } else {
            for (t = 0; t < k; t++) q[t] = 0;
        }
        for (t = k; t < ldo; t++) q[t] = 0;
        scales[i] = largest / 127.0f;
        sums[i] = sum;
    }
}

// One tile: 12 rows × 32 columns, 24 accumulators in registers (named one by one: an array
// of vectors with loops over it stayed in memory, the compiler turning its zeroing into a
// `memset`). Each step of 4 depths broadcasts 4 activation bytes per row against the panel's
// 2 × 64 weight bytes. `rows` (1…12) says how many rows of C to write; `a` always holds 12.
#define TAILOR_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

TAILOR_VNNI
static void tile12(int rows, int n0, int n, int depth, const int8_t *a, const uint8_t *panel, const float *scales,
                   const int32_t *sums, const float *columnScales, float *c, int ldc) {
#define TAILOR_DECLARE(r) __m512i acc##r##a = _mm512_setzero_si512(), acc##r##b = _mm512_setzero_si512();
    TAILOR_ROWS(TAILOR_DECLARE)
    for (int t = 0; t < depth; t += 4) {
        const __m512i b0 = _mm512_loadu_si512((const void *)(panel + t * 32));
        const __m512i b1 = _mm512_loadu_si512((const void *)(panel + t * 32 + 64));
#define TAILOR_STEP(r)                                                                    \
        {                                                                                 \
            const __m512i x = _mm512_set1_epi32(*(const int32_t *)(a + (size_t)(r) * depth + t)); \
            acc##r##a = _mm512_dpbusd_epi32(acc##r##a, b0, x);                            \
            acc##r##b = _mm512_dpbusd_epi32(acc##r##b, b1, x);                            \
        }
        TAILOR_ROWS(TAILOR_STEP)
    }
    __m512i out[12][2];
#define TAILOR_SPILL(r) out[r][0] = acc##r##a; out[r][1] = acc##r##b;
    TAILOR_ROWS(TAILOR_SPILL)
    for (int h = 0; h < 2; h++) {
        int j = n0 + h * 16;
        if (j >= n) break;
        __mmask16 mask = (n - j >= 16) ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - j)) - 1);
        __m512 cs = _mm512_loadu_ps(columnScales + j);
        for (int r = 0; r < rows; r++) {
            __m512i shifted = _mm512_sub_epi32(out[r][h], _mm512_set1_epi32(128 * sums[r]));
            __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(shifted), _mm512_mul_ps(_mm512_set1_ps(scales[r]), cs));
            _mm512_mask_storeu_ps(c + (size_t)r * ldc + j, mask, v);
        }
    }
}

TAILOR_VNNI
static void gemm_vnni(int m, int n, int depth, const int8_t *a, const uint8_t *b, const float *scales,
                      const int32_t *sums, const float *columnScales, float *c, int ldc) {
    const int panels = (n + 31) / 32, full = m / 12 * 12, rest = m - full;
    // The last rows, padded with zero rows to a whole tile.
    int8_t *tail = NULL;
    if (rest > 0) {
        tail = (int8_t *)calloc((size_t)12 * depth, 1);
        memcpy(tail, a + (size_t)full * depth, (size_t)rest * depth);
    }
    for (int p = 0; p < panels; p++) {
        const uint8_t *panel = b + (size_t)p * depth * 32;
        int n0 = p * 32;
        for (int i = 0; i < full; i += 12) {
            tile12(12, n0, n, depth, a + (size_t)i * depth, panel, scales + i, sums + i, columnScales, c + (size_t)i * ldc, ldc);
        }
        if (rest > 0) {
            tile12(rest, n0, n, depth, tail, panel, scales + full, sums + full, columnScales, c + (size_t)full * ldc, ldc);
        }
    }
    free(tail);
}

#endif

void tailor_int8_quantize_rows(int vnni, int m, int k, const float *a, int lda, int8_t *out, int ldo,
                               float *scales, int32_t *sums) {
#if TAILOR_HAS_X86
    if (vnni) { quantize_rows_vnni(m, k, a, lda, out, ldo, scales, sums); return; }
#endif
    (void)vnni;
    quantize_rows_portable(m, k, a, lda, out, ldo, scales, sums);
}

void tailor_int8_gemm(int vnni, int m, int n, int depth, const int8_t *a, const uint8_t *b,
                      const float *scales, const int32_t *sums, const float *columnScales, float *c, int ldc) {
#if TAILOR_HAS_X86
    if (vnni) { gemm_vnni(m, n, depth, a, b, scales, sums, columnScales, c, ldc); return; }
#endif
    (void)vnni;
    gemm_portable(m, n, depth, a, b, scales, sums, columnScales, c, ldc);
}
