// Small always-inlined helpers shared by the kernels: unaligned SIMD loads and stores through
// raw pointers, and multiply-add that is a real FMA only when the build targets a CPU with it
// (`TAILOR_FMA`, set in Package.swift together with `-target-cpu haswell`). Without that target,
// `addingProduct` becomes a call to `fmaf` per lane, 20–130× slower (NUMERICS.md), so the
// portable build uses `acc + a * b`.

@usableFromInline typealias F8 = SIMD8<Float>
@usableFromInline typealias F16 = SIMD16<Float>

@inlinable @inline(__always)
func load16(_ p: UnsafePointer<Float>) -> F16 {
    UnsafeRawPointer(p).loadUnaligned(as: F16.self)
}

@inlinable @inline(__always)
func load8(_ p: UnsafePointer<Float>) -> F8 {
    UnsafeRawPointer(p).loadUnaligned(as: F8.self)
}

@inlinable @inline(__always)
func store16(_ v: F16, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: F16.self)
}

@inlinable @inline(__always)
func store8(_ v: F8, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: F8.self)
}

/// `acc + a * b`, fused when the build allows it.
@inlinable @inline(__always)
func madd(_ acc: F16, _ a: F16, _ b: F16) -> F16 {
    #if TAILOR_FMA
    return acc.addingProduct(a, b)
    #else
    return acc + a * b
    #endif
}

/// `acc + a * b`, fused when the build allows it.
@inlinable @inline(__always)
func madd(_ acc: F8, _ a: F8, _ b: F8) -> F8 {
    #if TAILOR_FMA
    return acc.addingProduct(a, b)
    #else
    return acc + a * b
    #endif
}

/// `acc + a * b` on scalars, fused when the build allows it.
@inlinable @inline(__always)
func madd(_ acc: Float, _ a: Float, _ b: Float) -> Float {
    #if TAILOR_FMA
    return acc.addingProduct(a, b)
    #else
    return acc + a * b
    #endif
}

/// Horizontal sum as a tree (16 → 8 → 4 → 2 → 1): four dependent adds. `SIMD16.sum()`
/// compiles to a chain of sixteen dependent scalar adds (LLVM may not reassociate float
/// addition), ~64 cycles of latency that dominated short dot products (measured on the ALS
/// conjugate-gradient step).
@inlinable @inline(__always)
func horizontalSum(_ v: F16) -> Float {
    let a = v.lowHalf + v.highHalf
    let b = a.lowHalf + a.highHalf
    let c = b.lowHalf + b.highHalf
    return c[0] + c[1]
}

/// Whether this build uses fused multiply-add and AVX2 (the fast release configuration).
public let kernelsUseFMA: Bool = {
    #if TAILOR_FMA
    return true
    #else
    return false
    #endif
}()
