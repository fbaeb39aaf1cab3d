import Foundation
import TailorLinalg

extension Kernels {
    /// `y = A·x` for CSR `A` (`rows × n`) and row-major `x` (`n × d`), rows in parallel.
    public static func csrTimesDense(_ a: CSRMatrix, _ x: UnsafePointer<Float>, d: Int, into y: UnsafeMutablePointer<Float>, threads: Int = 0) {
        let box = UnsafeSendable((x, y))
        parallelFor(a.rows, chunkSize: 256, threads: a.nonZeroCount * d < 1 << 16 ? 1 : threads) { chunk in
            let (x, y) = box.value
            for r in chunk.range {
                let out = y + r * d
                out.update(repeating: 0, count: d)
                for p in a.range(ofRow: r) { axpy(a.values[p], x + Int(a.columnIndices[p]) * d, out, count: d) }
            }
        }
    }
}

/// `A · X` for a constant sparse `A` (`rows × n`) and `X` `[n, d]`: graph propagation
/// (LightGCN), neighbourhood averages. Backward: `dX = Aᵀ · dY` (give `transpose` when it is
/// at hand, or when `A` is symmetric pass `A` itself, to skip transposing each call).
public func sparseMatmul(_ a: CSRMatrix, _ x: Value, transpose: CSRMatrix? = nil) -> Value {
    let X = x.tensor
    precondition(X.rank == 2 && X.shape[0] == a.columns, "sparseMatmul: A is \(a.rows)×\(a.columns), X is \(X.shape)")
    let d = X.shape[1]
    var y = Tensor(shape: [a.rows, d])
    X.storage.withUnsafeBufferPointer { xp in
        y.storage.withUnsafeMutableBufferPointer { yp in Kernels.csrTimesDense(a, xp.baseAddress!, d: d, into: yp.baseAddress!) }
    }
    return x.tape.record(y, inputs: [x]) { g, tape in
        let at = transpose ?? a.transposed()
        var dx = Tensor(shape: X.shape)
        g.storage.withUnsafeBufferPointer { gp in
            dx.storage.withUnsafeMutableBufferPointer { dp in Kernels.csrTimesDense(at, gp.baseAddress!, d: d, into: dp.baseAddress!) }
        }
        tape.accumulate(x, dx)
    }
}
