import Foundation
import TailorLinalg

/// Layer normalization over the last axis (Ba, Kiros and Hinton 2016):
/// `γ ⊙ (x − mean)/√(var + ε) + β`, with `γ`, `β` of the last axis' extent. One fused op: the
/// backward uses the saved normalized values and inverse deviations.
public func layerNorm(_ a: Value, gamma: Value, beta: Value, epsilon: Float = 1e-5) -> Value {
    let x = a.tensor, w = gamma.tensor, b = beta.tensor
    let n = x.shape.last ?? 1, rows = x.count / max(1, n)
    precondition(w.count == n && b.count == n, "layerNorm parameters must have \(n) elements")
    var xhat = x
    var rstd = [Float](repeating: 0, count: rows)
    var y = x
    xhat.storage.withUnsafeMutableBufferPointer { h in
        y.storage.withUnsafeMutableBufferPointer { yp in
            for r in 0..<rows {
                let row = h.baseAddress! + r * n
                var m: Float = 0
                for j in 0..<n { m += row[j] }
                m /= Float(n)
                var v: Float = 0
                for j in 0..<n { let d = row[j] - m; v += d * d }
                let s = 1 / (v / Float(n) + epsilon).squareRoot()
                rstd[r] = s
                for j in 0..<n {
                    row[j] = (row[j] - m) * s
                    yp[r * n + j] = row[j] * w.storage[j] + b.storage[j]
                }
            }
        }
    }
    return a.tape.record(y, inputs: [a, gamma, beta]) { g, tape in
        var dw = Tensor(shape: w.shape), db = Tensor(shape: b.shape), dx = Tensor(shape: x.shape)
        for r in 0..<rows {
            var sumD: Float = 0, sumDX: Float = 0
            for j in 0..<n {
                let gy = g.storage[r * n + j], h = xhat.storage[r * n + j]
                dw.storage[j] += gy * h
                db.storage[j] += gy
                let dh = gy * w.storage[j]
                sumD += dh
                sumDX += dh * h
            }
            let s = rstd[r] / Float(n)
            for j in 0..<n {
                let dh = g.storage[r * n + j] * w.storage[j]
                dx.storage[r * n + j] = s * (Float(n) * dh - sumD - xhat.storage[r * n + j] * sumDX)
            }
        }
        tape.accumulate(a, dx)
        tape.accumulate(gamma, dw)
        tape.accumulate(beta, db)
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
/// by `1/(1−p)`; in evaluation, the identity. Masks come from the tape's seeded stream.
public func dropout(_ a: Value, probability p: Float) -> Value {
    precondition(p >= 0 && p < 1, "dropout probability must be in [0, 1), got \(p)")
    guard a.tape.isTraining, p > 0 else { return a }
    let x = a.tensor
    let keep = 1 / (1 - p)
    var mask = [Float](repeating: 0, count: x.count)
    for i in 0..<mask.count { mask[i] = a.tape.rng.nextFloat() < p ? 0 : keep }
    var y = x
    for i in 0..<y.count { y.storage[i] *= mask[i] }
    return a.tape.record(y, inputs: [a]) { g, tape in
        var dx = g
        for i in 0..<dx.count { dx.storage[i] *= mask[i] }
        tape.accumulate(a, dx)
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
