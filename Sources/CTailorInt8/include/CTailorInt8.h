// Int8 GEMM for inference with quantized weights (Tailor's `Kernels.gemmInt8`).
//
// Swift's SIMD types do not reach the VNNI dot-product instructions (LLVM turns widened
// products into `vpmulld` and shuffles), so the int8 micro-kernel is C with intrinsics, compiled
// for AVX-512 VNNI per function (`target` attribute) and called only after a run-time CPU check.
// Everything else (packing weights, scales, threads) is Swift; `Reference.gemmInt8` in
// TailorLinalg is the readable twin these functions are tested against, bit for bit.
#ifndef C_TAILOR_INT8_H
#define C_TAILOR_INT8_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// 1 when the CPU runs AVX-512 F/BW/DQ/VL and VNNI (`vpdpbusd`), else 0.
int tailor_int8_vnni_available(void);

/// Quantizes rows `0..<m` of `a` (`m × k`, row stride `lda`) symmetrically per row:
/// `scales[i] = max|a[i, :]| / 127`, `out[i, t] = round_half_even(a[i, t] · 127 / max|a[i, :]|)`
/// in −127…127 (0 for an all-zero row), zero in columns `k..<ldo`; `sums[i] = Σ_t out[i, t]`.
/// `ldo` is `k` rounded up to a multiple of 4. `vnni` picks the AVX-512 version.
void tailor_int8_quantize_rows(int vnni, int m, int k, const float *a, int lda, int8_t *out, int ldo,
                               float *scales, int32_t *sums);

/// `c[i, j] = (float)(acc[i, j] − 128·sums[i]) · (scales[i] · columnScales[j])` for rows `0..<m`
/// and columns `0..<n`, where `acc[i, j] = Σ_t a[i, t] · b(t, j)` over `depth` (a multiple of
/// 4, the row stride of `a`), `a` from `tailor_int8_quantize_rows` and `b` the weights packed
/// as unsigned bytes (quantized weight + 128) in panels of 32 columns: byte
/// `panel·depth·32 + (t/4)·128 + (c/16)·64 + (c%16)·4 + t%4` holds column `panel·32 + c`,
/// depth `t`. `columnScales` has `n` entries rounded up to a multiple of 32.
void tailor_int8_gemm(int vnni, int m, int n, int depth, const int8_t *a, const uint8_t *b,
                      const float *scales, const int32_t *sums, const float *columnScales,
                      float *c, int ldc);

#ifdef __cplusplus
}
#endif


/// Asks the CPU to bring the cache line at `p` closer (a hint; never faults). Used by the HNSW
/// search to fetch neighbours' vectors before scoring them, as hnswlib does.
static inline void tailor_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }
#endif
