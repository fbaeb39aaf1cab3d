import Foundation
import TailorLinalg

extension Kernels {
    /// Row-wise softmax of `rows × n` values in place; rows that are entirely −∞ become zeros.
    public static func softmaxRows(_ x: UnsafeMutablePointer<Float>, rows: Int, n: Int) {
        for r in 0..<rows {
            let row = x + r * n
            let m = Kernels.maximum(row, count: n)
            if m == -.infinity { row.update(repeating: 0, count: n); continue }
            let s = Kernels.expShifted(row, count: n, shift: m)
            let inv = 1 / s
            for j in 0..<n { row[j] *= inv }
        }
    }
}

/// Softmax over the last axis. Entries of −∞ (masked) get probability 0; a fully masked row is
/// all zeros.
public func softmax(_ a: Value) -> Value {
    let x = a.tensor
    let n = x.shape.last ?? 1, rows = x.count / max(1, n)
    var y = x
    y.storage.withUnsafeMutableBufferPointer { Kernels.softmaxRows($0.baseAddress!, rows: rows, n: n) }
    return a.tape.record(y, inputs: [a]) { g, tape in
        // dx = y ⊙ (dy − Σ dy·y)
        var dx = g
        dx.storage.withUnsafeMutableBufferPointer { d in
            y.storage.withUnsafeBufferPointer { yp in
                for r in 0..<rows {
                    var dot: Float = 0
                    for j in 0..<n { dot += d[r * n + j] * yp[r * n + j] }
                    for j in 0..<n { d[r * n + j] = yp[r * n + j] * (d[r * n + j] - dot) }
                }
            }
        }
        tape.accumulate(a, dx)
    }
}

/// log softmax over the last axis: `x − log Σ eˣ`, computed stably.
public func logSoftmax(_ a: Value) -> Value {
    let x = a.tensor
    let n = x.shape.last ?? 1, rows = x.count / max(1, n)
    var y = x
    y.storage.withUnsafeMutableBufferPointer { p in
        for r in 0..<rows {
            let row = p.baseAddress! + r * n
            var m = -Float.infinity
            for j in 0..<n { m = Swift.max(m, row[j]) }
            var s: Float = 0
            for j in 0..<n { s += expf(row[j] - m) }
            let lse = m + logf(s)
            for j in 0..<n { row[j] -= lse }
        }
    }
    return a.tape.record(y, inputs: [a]) { g, tape in
        // dx = dy − softmax · Σ dy
        var dx = g
        dx.storage.withUnsafeMutableBufferPointer { d in
            y.storage.withUnsafeBufferPointer { yp in
                for r in 0..<rows {
                    var total: Float = 0
                    for j in 0..<n { total += d[r * n + j] }
                    for j in 0..<n { d[r * n + j] -= expf(yp[r * n + j]) * total }
                }
            }
        }
        tape.accumulate(a, dx)
    }
}
