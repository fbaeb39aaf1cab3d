import Foundation
import TailorLinalg

// Elementwise arithmetic with NumPy-style broadcasting (shapes aligned on the right; an axis of
// extent 1 or a missing axis stretches), and the unary activations. Gradients of broadcast
// inputs are summed back to their shapes.

/// The shape two shapes broadcast to.
public func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int] {
    let rank = max(a.count, b.count)
    var out = [Int](repeating: 1, count: rank)
    for i in 0..<rank {
        let x = i < rank - a.count ? 1 : a[i - (rank - a.count)]
        let y = i < rank - b.count ? 1 : b[i - (rank - b.count)]
        precondition(x == y || x == 1 || y == 1, "shapes \(a) and \(b) do not broadcast")
        out[i] = max(x, y)
    }
    return out
}

/// Strides of `shape` seen inside a broadcast `target` shape (0 on stretched axes).
func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
    let pad = target.count - shape.count
    var strides = [Int](repeating: 0, count: target.count)
    var acc = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        strides[i + pad] = shape[i] == 1 ? 0 : acc
        acc *= shape[i]
    }
    return strides
}

/// Calls `body(outputOffset, aOffset, bOffset, run)` for contiguous runs along the last axis.
func forEachBroadcastRun(_ out: [Int], _ sa: [Int], _ sb: [Int], _ body: (Int, Int, Int, Int, Int, Int) -> Void) {
    let rank = out.count
    guard rank > 0 else { body(0, 0, 0, 1, 0, 0); return }
    let inner = out[rank - 1], ia = sa[rank - 1], ib = sb[rank - 1]
    let outer = out.dropLast().reduce(1, *)
    var index = [Int](repeating: 0, count: max(0, rank - 1))
    var oa = 0, ob = 0
    for o in 0..<outer {
        body(o * inner, oa, ob, inner, ia, ib)
        // Advance the odometer over the leading axes.
        var axis = rank - 2
        while axis >= 0 {
            index[axis] += 1
            oa += sa[axis]; ob += sb[axis]
            if index[axis] < out[axis] { break }
            oa -= sa[axis] * out[axis]; ob -= sb[axis] * out[axis]
            index[axis] = 0
            axis -= 1
        }
    }
}

/// How `small` sits inside `shape` when it is its trailing axes (a bias, a per-feature scale):
/// the number of rows it repeats over, or nil.
func trailingRows(_ small: [Int], of shape: [Int]) -> Int? {
    var s = small
    while s.first == 1 && s.count > 0 { s.removeFirst() }
    guard s.count <= shape.count, Array(shape.suffix(s.count)) == s else { return nil }
    let width = s.reduce(1, *)
    return width == 0 ? nil : shape.reduce(1, *) / width
}

/// `op` applied to broadcast `a` and `b`. Fast paths (parallel, vectorized): equal shapes, and
/// one operand spanning the other's trailing axes; anything else walks the broadcast odometer.
@inline(__always)
func broadcastApply(_ a: Tensor, _ b: Tensor, _ op: (Float, Float) -> Float) -> Tensor {
    if a.shape == b.shape {
        return Tensor(uninitializedShape: a.shape) { out, count in
            a.storage.withUnsafeBufferPointer { ap in b.storage.withUnsafeBufferPointer { bp in
                let p = UnsafeSendable((ap.baseAddress!, bp.baseAddress!, out))
                forChunks(count) { range in
                    let (x, y, o) = p.value
                    for i in range { o[i] = op(x[i], y[i]) }
                }
            } }
        }
    }
    let shape = broadcastShape(a.shape, b.shape)
    let bRows = shape == a.shape ? trailingRows(b.shape, of: shape) : nil
    let aRows = bRows == nil && shape == b.shape ? trailingRows(a.shape, of: shape) : nil
    if let rows = bRows ?? aRows {
        let width = shape.reduce(1, *) / rows
        let smallIsB = bRows != nil
        return Tensor(uninitializedShape: shape) { out, count in
            a.storage.withUnsafeBufferPointer { ap in b.storage.withUnsafeBufferPointer { bp in
                let p = UnsafeSendable((ap.baseAddress!, bp.baseAddress!, out))
                parallelFor(rows, chunkSize: max(1, pointwiseGrain / width), threads: count > 2 * pointwiseGrain ? 0 : 1) { chunk in
                    let (x, y, o) = p.value
                    for r in chunk.range {
                        let base = r &* width
                        if smallIsB {
                            for j in 0..<width { o[base &+ j] = op(x[base &+ j], y[j]) }
                        } else {
                            for j in 0..<width { o[base &+ j] = op(x[j], y[base &+ j]) }
                        }
                    }
                }
            } }
        }
    }
    var out = Tensor(shape: shape)
    let sa = broadcastStrides(a.shape, to: shape), sb = broadcastStrides(b.shape, to: shape)
    out.storage.withUnsafeMutableBufferPointer { o in
        a.storage.withUnsafeBufferPointer { ap in
            b.storage.withUnsafeBufferPointer { bp in
                forEachBroadcastRun(shape, sa, sb) { oo, oa, ob, n, ia, ib in
                    for j in 0..<n { o[oo + j] = op(ap[oa + j * ia], bp[ob + j * ib]) }
                }
            }
        }
    }
    return out
}

/// Column sums of `rows × width` values (a bias gradient), in parallel, deterministic.
func columnSums(_ g: Tensor, rows: Int, width: Int) -> [Float] {
    g.storage.withUnsafeBufferPointer { gp in
        let p = UnsafeSendable(gp.baseAddress!)
        return forRowChunks(rows: rows, width: width, rowGrain: max(1, pointwiseGrain / width)) { range, partial in
            for r in range { Kernels.axpy(1, p.value + r * width, partial, count: width) }
        }
    }
}

/// `g` summed over the axes along which `shape` was broadcast, giving `shape`.
public func unbroadcast(_ g: Tensor, to shape: [Int]) -> Tensor {
    if g.shape == shape { return g }
    if shape.reduce(1, *) == 1 { return Tensor(shape: shape, storage: [parallelSum(g)]) }
    if let rows = trailingRows(shape, of: g.shape) {
        return Tensor(shape: shape, storage: columnSums(g, rows: rows, width: g.count / rows))
    }
    var out = Tensor(shape: shape)
    let strides = broadcastStrides(shape, to: g.shape)
    let zero = [Int](repeating: 0, count: g.shape.count)
    out.storage.withUnsafeMutableBufferPointer { o in
        g.storage.withUnsafeBufferPointer { gp in
            forEachBroadcastRun(g.shape, strides, zero) { og, oo, _, n, io, _ in
                if io == 0 {
                    var s: Float = 0
                    for j in 0..<n { s += gp[og + j] }
                    o[oo] += s
                } else {
                    for j in 0..<n { o[oo + j * io] += gp[og + j] }
                }
            }
        }
    }
    return out
}

extension Value {
    /// `self + other`, broadcasting.
    public static func + (a: Value, b: Value) -> Value {
        let (x, y) = (a.tensor, b.tensor)
        return a.tape.record(broadcastApply(x, y, +), inputs: [a, b]) { g, tape in
            tape.accumulate(a, unbroadcast(g, to: x.shape))
            tape.accumulate(b, unbroadcast(g, to: y.shape))
        }
    }

    /// `self − other`, broadcasting.
    public static func - (a: Value, b: Value) -> Value {
        let (x, y) = (a.tensor, b.tensor)
        return a.tape.record(broadcastApply(x, y, -), inputs: [a, b]) { g, tape in
            tape.accumulate(a, unbroadcast(g, to: x.shape))
            if tape.needsGrad(b) { tape.accumulate(b, unbroadcast(g.map { -$0 }, to: y.shape)) }
        }
    }

    /// `self ⊙ other`, broadcasting.
    public static func * (a: Value, b: Value) -> Value {
        let (x, y) = (a.tensor, b.tensor)
        return a.tape.record(broadcastApply(x, y, *), inputs: [a, b]) { g, tape in
            if tape.needsGrad(a) { tape.accumulate(a, unbroadcast(broadcastApply(g, y, *), to: x.shape)) }
            if tape.needsGrad(b) { tape.accumulate(b, unbroadcast(broadcastApply(g, x, *), to: y.shape)) }
        }
    }

    /// `self ⊘ other`, broadcasting.
    public static func / (a: Value, b: Value) -> Value {
        let (x, y) = (a.tensor, b.tensor)
        return a.tape.record(broadcastApply(x, y, /), inputs: [a, b]) { g, tape in
            if tape.needsGrad(a) { tape.accumulate(a, unbroadcast(broadcastApply(g, y, /), to: x.shape)) }
            if tape.needsGrad(b) {
                // d(x/y)/dy = −x/y²
                let q = broadcastApply(x, broadcastApply(y, y, *), /)
                tape.accumulate(b, unbroadcast(broadcastApply(g, q, { -$0 * $1 }), to: y.shape))
            }
        }
    }

    /// `self + c`.
    public static func + (a: Value, c: Float) -> Value {
        a.tape.record(a.tensor.map { $0 + c }, inputs: [a]) { g, tape in tape.accumulate(a, g) }
    }

    /// `self · c`.
    public static func * (a: Value, c: Float) -> Value {
        a.tape.record(a.tensor.map { $0 * c }, inputs: [a]) { g, tape in tape.accumulate(a, g.map { $0 * c }) }
    }

    /// `c · self`.
    public static func * (c: Float, a: Value) -> Value { a * c }
    /// `self − c`.
    public static func - (a: Value, c: Float) -> Value { a + (-c) }
    /// `−self`.
    public static prefix func - (a: Value) -> Value { a * -1 }
}

/// max(0, x).
public func relu(_ a: Value) -> Value { unary(a, ReLUFunction.self) }

/// The Gaussian error linear unit, exact: `x·Φ(x) = ½x(1 + erf(x/√2))` (PyTorch's default).
public func gelu(_ a: Value) -> Value { unary(a, GELUFunction.self) }

/// tanh(x).
public func tanh(_ a: Value) -> Value { unary(a, TanhFunction.self) }

/// 1/(1 + e^(−x)).
public func sigmoid(_ a: Value) -> Value { unary(a, SigmoidFunction.self) }

/// eˣ.
public func exp(_ a: Value) -> Value { unary(a, ExpFunction.self) }

/// ln x.
public func log(_ a: Value) -> Value { unary(a, LogFunction.self) }

/// x².
public func square(_ a: Value) -> Value { unary(a, SquareFunction.self) }
