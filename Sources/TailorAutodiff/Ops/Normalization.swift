import Foundation
import TailorLinalg

/// Layer normalization over the last axis (Ba, Kiros and Hinton 2016):
/// `γ ⊙ (x − mean)/√(var + ε) + β`, with `γ`, `β` of the last axis' extent. One fused op: the
/// backward uses the saved normalized values and inverse deviations.
public func layerNorm(_ a: Value, gamma: Value, beta: Value, epsilon: Float = 1e-5) -> Value {
    let x = a.tensor, w = gamma.tensor, b = beta.tensor
    let n = x.shape.last ?? 1, rows = x.count / max(1, n)
    precondition(w.count == n && b.count == n, "layerNorm parameters must have \(n) elements")
    let rowGrain = max(1, pointwiseGrain / max(1, n))
    var rstd = [Float](repeating: 0, count: rows)
    var xhat = Tensor(shape: [])
    var y = Tensor(shape: [])
    xhat = Tensor(uninitializedShape: x.shape) { h, _ in
        y = Tensor(uninitializedShape: x.shape) { yp, _ in
            x.storage.withUnsafeBufferPointer { xp in w.storage.withUnsafeBufferPointer { wp in b.storage.withUnsafeBufferPointer { bp in
            rstd.withUnsafeMutableBufferPointer { rp in
                let p = UnsafeSendable((xp.baseAddress!, h, yp, wp.baseAddress!, bp.baseAddress!, rp.baseAddress!))
                parallelFor(rows, chunkSize: rowGrain, threads: rows > rowGrain ? 0 : 1) { chunk in
                    let (xs, hs, ys, ws, bs, rs) = p.value
                    let inv = 1 / Float(n)
                    for r in chunk.range {
                        let src = xs + r &* n, hrow = hs + r &* n, yrow = ys + r &* n
                        let m = fastSum(src, n) * inv
                        var v: Float = 0
                        for j in 0..<n { let d = src[j] - m; hrow[j] = d; v += d * d }
                        let s = 1 / (v * inv + epsilon).squareRoot()
                        rs[r] = s
                        for j in 0..<n {
                            let hv = hrow[j] * s
                            hrow[j] = hv
                            yrow[j] = hv * ws[j] + bs[j]
                        }
                    }
                }
            }
            } } }
        }
    }
    return a.tape.record(y, inputs: [a, gamma, beta]) { g, tape in
        // dx = rstd/n · (n·dĥ − Σdĥ − ĥ·Σ(dĥ·ĥ)) with dĥ = g ⊙ γ; dγ = Σ g ⊙ ĥ; dβ = Σ g.
        var dx = Tensor(shape: [])
        var sums: [Float] = []
        dx = Tensor(uninitializedShape: x.shape) { d, _ in
            g.storage.withUnsafeBufferPointer { gp in xhat.storage.withUnsafeBufferPointer { hp in
            w.storage.withUnsafeBufferPointer { wp in rstd.withUnsafeBufferPointer { rp in
                let p = UnsafeSendable((gp.baseAddress!, hp.baseAddress!, wp.baseAddress!, rp.baseAddress!, d))
                // Partial buffer: dγ in [0, n), dβ in [n, 2n).
                sums = forRowChunks(rows: rows, width: 2 * n, rowGrain: rowGrain) { range, partial in
                    let (gs, hs, ws, rs, ds) = p.value
                    let fn = Float(n)
                    for r in range {
                        let grow = gs + r &* n, hrow = hs + r &* n, drow = ds + r &* n
                        var sumD: Float = 0, sumDX: Float = 0
                        for j in 0..<n {
                            let gy = grow[j], hv = hrow[j]
                            partial[j] += gy * hv
                            partial[n &+ j] += gy
                            let dh = gy * ws[j]
                            sumD += dh
                            sumDX += dh * hv
                        }
                        let s = rs[r] / fn
                        for j in 0..<n { drow[j] = s * (fn * grow[j] * ws[j] - sumD - hrow[j] * sumDX) }
                    }
                }
            } } } }
        }
        tape.accumulate(a, dx)
        tape.accumulate(gamma, Tensor(shape: w.shape, storage: Array(sums[0..<n])))
        tape.accumulate(beta, Tensor(shape: b.shape, storage: Array(sums[n..<(2 * n)])))
    }
}

/// Running statistics of a batch-norm layer, updated in training.
public final class RunningStatistics: @unchecked Sendable {
    /// Running mean per feature.
    public var mean: [Float]
    /// Running (unbiased) variance per feature.
    public var variance: [Float]
    /// Batches seen.
    public var batches = 0

    /// Zero mean, unit variance.
    public init(features: Int) {
        mean = [Float](repeating: 0, count: features)
        variance = [Float](repeating: 1, count: features)
    }
}

/// Batch normalization over every axis but the last (Ioffe and Szegedy 2015). In training, batch
/// statistics normalize and the running statistics move by `momentum` (PyTorch's convention,
/// unbiased variance); in evaluation (`tape.isTraining == false`), the running statistics do.
public func batchNorm(_ a: Value, gamma: Value, beta: Value, running: RunningStatistics, momentum: Float = 0.1, epsilon: Float = 1e-5) -> Value {
    let x = a.tensor, w = gamma.tensor, b = beta.tensor
    let c = x.shape.last ?? 1, rows = x.count / max(1, c)
    var mean = [Float](repeating: 0, count: c), invStd = [Float](repeating: 0, count: c)
    let training = a.tape.isTraining
    if training {
        precondition(rows > 1, "batch norm in training needs more than one row per feature")
        for r in 0..<rows { for j in 0..<c { mean[j] += x.storage[r * c + j] } }
        for j in 0..<c { mean[j] /= Float(rows) }
        var variance = [Float](repeating: 0, count: c)
        for r in 0..<rows { for j in 0..<c { let d = x.storage[r * c + j] - mean[j]; variance[j] += d * d } }
        for j in 0..<c {
            let biased = variance[j] / Float(rows)
            invStd[j] = 1 / (biased + epsilon).squareRoot()
            running.mean[j] = (1 - momentum) * running.mean[j] + momentum * mean[j]
            running.variance[j] = (1 - momentum) * running.variance[j] + momentum * variance[j] / Float(rows - 1)
        }
        running.batches += 1
    } else {
        mean = running.mean
        for j in 0..<c { invStd[j] = 1 / (running.variance[j] + epsilon).squareRoot() }
    }
    var xhat = x, y = x
    for r in 0..<rows {
        for j in 0..<c {
            let h = (x.storage[r * c + j] - mean[j]) * invStd[j]
            xhat.storage[r * c + j] = h
            y.storage[r * c + j] = h * w.storage[j] + b.storage[j]
        }
    }
    return a.tape.record(y, inputs: [a, gamma, beta]) { g, tape in
        var dw = Tensor(shape: w.shape), db = Tensor(shape: b.shape), dx = Tensor(shape: x.shape)
        var sumD = [Float](repeating: 0, count: c), sumDX = [Float](repeating: 0, count: c)
        for r in 0..<rows {
            for j in 0..<c {
                let gy = g.storage[r * c + j], h = xhat.storage[r * c + j]
                dw.storage[j] += gy * h
                db.storage[j] += gy
                sumD[j] += gy * w.storage[j]
                sumDX[j] += gy * w.storage[j] * h
            }
        }
        for r in 0..<rows {
            for j in 0..<c {
                let dh = g.storage[r * c + j] * w.storage[j]
                dx.storage[r * c + j] = training
                    ? invStd[j] / Float(rows) * (Float(rows) * dh - sumD[j] - xhat.storage[r * c + j] * sumDX[j])
                    : dh * invStd[j]
            }
        }
        tape.accumulate(a, dx)
        tape.accumulate(gamma, dw)
        tape.accumulate(beta, db)
    }
}

/// Inverted dropout: in training each element is zeroed with probability `p` and the rest scaled
/// by `1/(1−p)`; in evaluation, the identity.
///
/// The mask is a counter-based hash of (key, element index), the key drawn once from the tape's
/// seeded stream: no mask is stored (the backward recomputes it), chunks fill in parallel and
/// vectorize, and the result does not depend on the thread count.
public func dropout(_ a: Value, probability p: Float) -> Value {
    precondition(p >= 0 && p < 1, "dropout probability must be in [0, 1), got \(p)")
    guard a.tape.isTraining, p > 0 else { return a }
    let x = a.tensor
    let key = a.tape.rng.next()
    let mask = DropoutMask(key: key, probability: p)
    let y = mask.apply(x)
    return a.tape.record(y, inputs: [a]) { g, tape in tape.accumulate(a, mask.apply(g)) }
}

/// The keep/drop decision of element `i`: a 32-bit hash of `i` under a 64-bit key (two rounds
/// of the PCG output hash, Jarzynski and Olano 2020), compared with `p·2²⁴`.
struct DropoutMask: Sendable {
    let k0: UInt32, k1: UInt32
    let threshold: UInt32
    let keep: Float

    init(key: UInt64, probability p: Float) {
        k0 = UInt32(truncatingIfNeeded: key)
        k1 = UInt32(truncatingIfNeeded: key >> 32)
        threshold = UInt32((Double(p) * 16_777_216).rounded())
        keep = 1 / (1 - p)
    }

    @inline(__always)
    static func hash(_ v: UInt32) -> UInt32 {
        let state = v &* 747_796_405 &+ 2_891_336_453
        let word = ((state >> ((state >> 28) &+ 4)) ^ state) &* 277_803_737
        return (word >> 22) ^ word
    }

    /// Whether element `i` is kept.
    @inline(__always)
    func kept(_ i: Int) -> Bool {
        DropoutMask.hash(DropoutMask.hash(UInt32(truncatingIfNeeded: i) ^ k0) ^ k1) >> 8 >= threshold
    }

    /// Writes `count` elements of `source` to `destination` (which may be `source`), dropped
    /// ones zeroed and kept ones scaled, deciding element `i` as element `offset + i` of a
    /// larger tensor would be.
    @inline(__always)
    func apply(_ source: UnsafePointer<Float>, into destination: UnsafeMutablePointer<Float>, count: Int, offset: Int) {
        for i in 0..<count { destination[i] = kept(offset + i) ? source[i] * keep : 0 }
    }

    /// `x` with dropped elements zeroed and kept ones scaled.
    func apply(_ x: Tensor) -> Tensor {
        Tensor(uninitializedShape: x.shape) { out, count in
            x.storage.withUnsafeBufferPointer { xp in
                let ptrs = UnsafeSendable((xp.baseAddress!, out))
                forChunks(count) { range in
                    let (src, dst) = ptrs.value
                    for i in range { dst[i] = kept(i) ? src[i] * keep : 0 }
                }
            }
        }
    }
}

/// A boolean mask with a shape, broadcast against the value it masks.
public struct Mask: Sendable, Equatable {
    /// Its shape.
    public var shape: [Int]
    /// `true` where masked.
    public var bits: [Bool]

    /// A mask; `bits.count` must match the shape.
    public init(shape: [Int], bits: [Bool]) {
        precondition(bits.count == shape.reduce(1, *), "mask bits do not match shape \(shape)")
        self.shape = shape
        self.bits = bits
    }
}

/// `value` where `mask` is true, `a` elsewhere; masked positions get no gradient.
public func maskedFill(_ a: Value, _ mask: Mask, value: Float) -> Value {
    let x = a.tensor
    let m = broadcastApply(x, Tensor(shape: mask.shape, storage: mask.bits.map { $0 ? 1 : 0 }), { _, bit in bit })
    var y = x
    for i in 0..<y.count where m.storage[i] != 0 { y.storage[i] = value }
    return a.tape.record(y, inputs: [a]) { g, tape in
        var dx = g
        for i in 0..<dx.count where m.storage[i] != 0 { dx.storage[i] = 0 }
        tape.accumulate(a, dx)
    }
}

/// Each row (last axis) scaled to unit Euclidean length: `y = x / max(‖x‖, ε)` (PyTorch
/// `F.normalize(x, dim=-1)`). The outputs of two-tower models, so their inner product is a cosine.
///
/// Backward: `dx = (dy − y·(dy·y)) / ‖x‖` for rows longer than ε, `dy/ε` for the others.
public func l2Normalize(_ a: Value, epsilon: Float = 1e-12) -> Value {
    let x = a.tensor
    let n = x.shape.last ?? 1, rows = x.count / max(1, n)
    var y = x
    var norms = [Float](repeating: 0, count: rows)
    y.storage.withUnsafeMutableBufferPointer { p in
        for r in 0..<rows {
            let row = p.baseAddress! + r * n
            var s: Float = 0
            for j in 0..<n { s += row[j] * row[j] }
            let norm = Swift.max(s.squareRoot(), epsilon)
            norms[r] = norm
            let inv = 1 / norm
            for j in 0..<n { row[j] *= inv }
        }
    }
    return a.tape.record(y, inputs: [a]) { g, tape in
        var dx = g
        dx.storage.withUnsafeMutableBufferPointer { d in
            y.storage.withUnsafeBufferPointer { yp in
                for r in 0..<rows {
                    let inv = 1 / norms[r]
                    let clamped = norms[r] <= epsilon
                    var dot: Float = 0
                    if !clamped { for j in 0..<n { dot += d[r * n + j] * yp[r * n + j] } }
                    for j in 0..<n { d[r * n + j] = (d[r * n + j] - yp[r * n + j] * dot) * inv }
                }
            }
        }
        tape.accumulate(a, dx)
    }
}
