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

/// `op` applied to broadcast `a` and `b`.
@inline(__always)
func broadcastApply(_ a: Tensor, _ b: Tensor, _ op: (Float, Float) -> Float) -> Tensor {
    if a.shape == b.shape {
        var out = a
        out.storage.withUnsafeMutableBufferPointer { o in
            b.storage.withUnsafeBufferPointer { bp in for i in 0..<o.count { o[i] = op(o[i], bp[i]) } }
        }
        return out
    }
    let shape = broadcastShape(a.shape, b.shape)
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

/// `g` summed over the axes along which `shape` was broadcast, giving `shape`.
public func unbroadcast(_ g: Tensor, to shape: [Int]) -> Tensor {
    if g.shape == shape { return g }
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

extension Tensor {
    /// Elementwise `f`.
    @inlinable
    public func map(_ f: (Float) -> Float) -> Tensor {
        var out = self
        out.storage.withUnsafeMutableBufferPointer { p in for i in 0..<p.count { p[i] = f(p[i]) } }
        return out
    }
}

/// A unary op with its derivative written in terms of the input `x` and output `y`.
@inline(__always)
func unary(_ a: Value, _ f: (Float) -> Float, _ derivative: @escaping (Float, Float) -> Float) -> Value {
    let x = a.tensor
    let y = x.map(f)
    return a.tape.record(y, inputs: [a]) { g, tape in
        var dx = g
        dx.storage.withUnsafeMutableBufferPointer { d in
            x.storage.withUnsafeBufferPointer { xp in
                y.storage.withUnsafeBufferPointer { yp in for i in 0..<d.count { d[i] *= derivative(xp[i], yp[i]) } }
            }
        }
        tape.accumulate(a, dx)
    }
}

/// max(0, x).
public func relu(_ a: Value) -> Value { unary(a, { max(0, $0) }, { x, _ in x > 0 ? 1 : 0 }) }

/// The Gaussian error linear unit, exact: `x·Φ(x) = ½x(1 + erf(x/√2))` (PyTorch's default).
public func gelu(_ a: Value) -> Value {
    unary(a, { x in 0.5 * x * (1 + erff(x * 0.70710678)) }, { x, _ in
        0.5 * (1 + erff(x * 0.70710678)) + x * 0.39894228 * expf(-0.5 * x * x)
    })
}

/// tanh(x).
public func tanh(_ a: Value) -> Value { unary(a, { Foundation.tanhf($0) }, { _, y in 1 - y * y }) }

/// 1/(1 + e^(−x)).
public func sigmoid(_ a: Value) -> Value { unary(a, { 1 / (1 + expf(-$0)) }, { _, y in y * (1 - y) }) }

/// eˣ.
public func exp(_ a: Value) -> Value { unary(a, { expf($0) }, { _, y in y }) }

/// ln x.
public func log(_ a: Value) -> Value { unary(a, { logf($0) }, { x, _ in 1 / x }) }

/// x².
public func square(_ a: Value) -> Value { unary(a, { $0 * $0 }, { x, _ in 2 * x }) }
