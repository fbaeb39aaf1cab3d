import Foundation
import TailorLinalg

// The machinery under the elementwise ops: uninitialized allocation, chunked parallel loops, and
// pointwise functions as types so that every loop is specialized and vectorized (a derivative
// stored as a closure cost an indirect call per element).
//
// Chunk boundaries depend only on the element count, never on the thread count, and partial
// sums are combined in chunk order: results are the same on 1 or 16 cores.

/// Elements per parallel chunk (64 KiB of floats): large enough that a chunk outweighs the
/// ~1 µs it costs to hand out, small enough that 2 cores share a 400k-element tensor evenly.
let pointwiseGrain = 16_384

/// Runs `body` over `0..<count` in chunks of `grain`, in parallel when there are several chunks.
func forChunks(_ count: Int, grain: Int = pointwiseGrain, _ body: (Range<Int>) -> Void) {
    if count <= grain {
        if count > 0 { body(0..<count) }
        return
    }
    parallelFor(count, chunkSize: grain, threads: 0) { chunk in body(chunk.range) }
}

/// Runs `body(rows, partial)` over row chunks, each with its own zeroed `width`-float partial
/// buffer, then returns the partials summed in chunk order (deterministic).
func forRowChunks(rows: Int, width: Int, rowGrain: Int, _ body: (Range<Int>, UnsafeMutablePointer<Float>) -> Void) -> [Float] {
    let chunks = max(1, (rows + rowGrain - 1) / rowGrain)
    var partials = [Float](repeating: 0, count: chunks * width)
    partials.withUnsafeMutableBufferPointer { pp in
        let base = UnsafeSendable(pp.baseAddress!)
        parallelFor(rows, chunkSize: rowGrain, threads: chunks > 1 ? 0 : 1) { chunk in
            body(chunk.range, base.value + chunk.index * width)
        }
    }
    if chunks == 1 { return partials }
    var total = [Float](repeating: 0, count: width)
    total.withUnsafeMutableBufferPointer { t in
        partials.withUnsafeBufferPointer { pp in
            for c in 0..<chunks { Kernels.axpy(1, pp.baseAddress! + c * width, t.baseAddress!, count: width) }
        }
    }
    return total
}

extension Tensor {
    /// A tensor whose every element `fill` writes (the storage starts uninitialized: no
    /// zeroing pass for outputs that are overwritten anyway).
    init(uninitializedShape shape: [Int], _ fill: (UnsafeMutablePointer<Float>, Int) -> Void) {
        let count = shape.reduce(1, *)
        self.init(shape: shape, storage: [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0 { fill(buffer.baseAddress!, count) }
            initialized = count
        })
    }

    /// Elementwise `f`, in parallel chunks.
    public func map(_ f: (Float) -> Float) -> Tensor {
        Tensor(uninitializedShape: shape) { out, count in
            storage.withUnsafeBufferPointer { src in
                let x = UnsafeSendable(src.baseAddress!), o = UnsafeSendable(out)
                forChunks(count) { range in
                    for i in range { o.value[i] = f(x.value[i]) }
                }
            }
        }
    }
}

/// A function applied element by element, with its derivative in terms of the input `x` and the
/// output `y` (whichever is cheaper).
protocol PointwiseFunction {
    static func value(_ x: Float) -> Float
    static func derivative(_ x: Float, _ y: Float) -> Float
}

enum ReLUFunction: PointwiseFunction {
    @inline(__always) static func value(_ x: Float) -> Float { x > 0 ? x : 0 }
    @inline(__always) static func derivative(_ x: Float, _ y: Float) -> Float { x > 0 ? 1 : 0 }
}

/// Exact GELU, `½x(1 + erf(x/√2))` (PyTorch's default).
enum GELUFunction: PointwiseFunction {
    @inline(__always) static func value(_ x: Float) -> Float { 0.5 * x * (1 + erff(x * 0.70710678)) }
    @inline(__always) static func derivative(_ x: Float, _ y: Float) -> Float {
        0.5 * (1 + erff(x * 0.70710678)) + x * 0.39894228 * expf(-0.5 * x * x)
    }
}

enum TanhFunction: PointwiseFunction {
    @inline(__always) static func value(_ x: Float) -> Float { Foundation.tanhf(x) }
    @inline(__always) static func derivative(_ x: Float, _ y: Float) -> Float { 1 - y * y }
}

enum SigmoidFunction: PointwiseFunction {
    @inline(__always) static func value(_ x: Float) -> Float { 1 / (1 + expf(-x)) }
    @inline(__always) static func derivative(_ x: Float, _ y: Float) -> Float { y * (1 - y) }
}

enum ExpFunction: PointwiseFunction {
    @inline(__always) static func value(_ x: Float) -> Float { expf(x) }
    @inline(__always) static func derivative(_ x: Float, _ y: Float) -> Float { y }
}

enum LogFunction: PointwiseFunction {
    @inline(__always) static func value(_ x: Float) -> Float { logf(x) }
    @inline(__always) static func derivative(_ x: Float, _ y: Float) -> Float { 1 / x }
}

enum SquareFunction: PointwiseFunction {
    @inline(__always) static func value(_ x: Float) -> Float { x * x }
    @inline(__always) static func derivative(_ x: Float, _ y: Float) -> Float { 2 * x }
}

/// `F` applied to every element, with its gradient.
func unary<F: PointwiseFunction>(_ a: Value, _: F.Type) -> Value {
    let x = a.tensor
    let y = Tensor(uninitializedShape: x.shape) { out, count in
        x.storage.withUnsafeBufferPointer { xp in
            let src = UnsafeSendable(xp.baseAddress!), o = UnsafeSendable(out)
            forChunks(count) { range in
                let xs = src.value, ys = o.value
                for i in range { ys[i] = F.value(xs[i]) }
            }
        }
    }
    return a.tape.record(y, inputs: [a]) { g, tape in
        let dx = Tensor(uninitializedShape: x.shape) { out, count in
            g.storage.withUnsafeBufferPointer { gp in x.storage.withUnsafeBufferPointer { xp in y.storage.withUnsafeBufferPointer { yp in
                let p = UnsafeSendable((gp.baseAddress!, xp.baseAddress!, yp.baseAddress!, out))
                forChunks(count) { range in
                    let (gs, xs, ys, ds) = p.value
                    for i in range { ds[i] = gs[i] * F.derivative(xs[i], ys[i]) }
                }
            } } }
        }
        tape.accumulate(a, dx)
    }
}

/// Sum of `count` floats: eight lanes per accumulator, two accumulators, then a tree.
func fastSum(_ p: UnsafePointer<Float>, _ count: Int) -> Float {
    var a0 = SIMD8<Float>(), a1 = SIMD8<Float>()
    var i = 0
    while i + 16 <= count {
        a0 += UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
        a1 += UnsafeRawPointer(p + i + 8).loadUnaligned(as: SIMD8<Float>.self)
        i += 16
    }
    let v = a0 + a1
    let h = v.lowHalf + v.highHalf
    var s = (h[0] + h[2]) + (h[1] + h[3])
    while i < count { s += p[i]; i += 1 }
    return s
}

/// Sum of a whole tensor in parallel chunks, combined in chunk order.
func parallelSum(_ x: Tensor) -> Float {
    let count = x.count
    let chunks = max(1, (count + pointwiseGrain - 1) / pointwiseGrain)
    var partial = [Float](repeating: 0, count: chunks)
    x.storage.withUnsafeBufferPointer { xp in
        partial.withUnsafeMutableBufferPointer { pp in
            let p = UnsafeSendable((xp.baseAddress!, pp.baseAddress!))
            parallelFor(count, chunkSize: pointwiseGrain, threads: chunks > 1 ? 0 : 1) { chunk in
                let (xs, ps) = p.value
                ps[chunk.index] = fastSum(xs + chunk.range.lowerBound, chunk.range.count)
            }
        }
    }
    return partial.reduce(0, +)
}
