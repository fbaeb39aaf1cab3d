import Foundation
import TailorLinalg

/// Mean softmax cross-entropy of `queries` `[P, d]` against every row of `table[first...]`
/// (`[N + first, d]`; the first `first` rows, such as a padding row, are not classes):
/// `mean_p(logsumexp_j(q_p·t_j) − q_p·t_{target_p})`, targets counted from `first`.
///
/// The same value and gradients as `crossEntropy(matmul(queries, slice(table, 0, first...)ᵀ))`
/// (the readable composition the tests hold it to), without ever holding the `[P, N]` logits:
/// rows go in blocks of 128 whose logits are scored by GEMM and exponentiated in SIMD lanes;
/// backward forms `dQ = (softmax − onehot)·T` and `dT = (softmax − onehot)ᵀ·Q` block by block
/// (blocks in parallel, one `dT` per worker). The exponentials are kept for backward in one
/// buffer when they fit in 128 MB, each row's 1/sum beside them and applied with backward's own
/// scaling (no copies of the logits, no log-softmax tensor, no
/// gradient tensor of that size); beyond that each block's are dropped and scored again in
/// backward, one more GEMM for memory that does not grow with the catalogue.
public func softmaxCrossEntropy(queries: Value, table: Value, first: Int = 0, targets: [Int32]) -> Value {
    softmaxCrossEntropy(queries: queries, table: table, first: first, targets: targets, keptLimit: 1 << 25)
}

/// ``softmaxCrossEntropy(queries:table:first:targets:)`` keeping at most `keptLimit`
/// probabilities for backward and packing tables of at most `packedLimit` floats once (tests
/// pass 0 to exercise the scoring-again and the pack-per-block paths).
func softmaxCrossEntropy(queries: Value, table: Value, first: Int, targets: [Int32], keptLimit: Int, packedLimit: Int = 1 << 24) -> Value {
    let Q = queries.tensor, T = table.tensor
    precondition(Q.rank == 2 && T.rank == 2 && Q.shape[1] == T.shape[1], "softmaxCrossEntropy needs [P, d] queries and an [N, d] table")
    let p = Q.shape[0], d = Q.shape[1], rows = T.shape[0], n = rows - first
    precondition(n >= 1 && targets.count == p, "softmaxCrossEntropy: \(targets.count) targets for \(p) queries, \(n) classes")
    for t in targets { precondition(t >= 0 && Int(t) < n, "target \(t) outside \(n) classes") }
    let block = 128, blocks = (p + block - 1) / block
    let keep = queries.tape.recordsGradients && p * n <= keptLimit
    var probabilities = keep ? [Float](unsafeUninitializedCapacity: p * n) { _, count in count = p * n } : []
    var logSumExp = [Float](repeating: 0, count: p)
    // Kept rows hold e^(x − max), not yet divided by their sum: backward folds 1/sum into the
    // scale it applies anyway (one pass over the [P, N] buffer fewer).
    var inverseSums = [Float](repeating: 1, count: keep ? p : 0)
    var losses = [Double](repeating: 0, count: blocks)
    // The table packed once for all blocks' GEMMs (each block packed it again before: 5 % of a
    // SASRec step), as `Tᵀ` for the scores and `T` for backward's `dQ`; up to 64 MB each, the
    // unpacked path beyond that. Packing only reorders, so the results are the same bit for bit.
    let prepack = blocks > 1 && n * d <= packedLimit
    let scorePacking = prepack ? T.storage.withUnsafeBufferPointer { Kernels.PackedB(transposed: true, k: d, n: n, b: $0.baseAddress! + first * d, ldb: d) } : nil
    // Scores of block b into `scratch` ([block, n]).
    func score(_ b: Int, _ scratch: UnsafeMutablePointer<Float>, _ qp: UnsafePointer<Float>, _ tp: UnsafePointer<Float>) -> Range<Int> {
        let rowsIn = (b * block)..<min(p, (b + 1) * block)
        if let scorePacking {
            Kernels.gemm(m: rowsIn.count, a: qp + rowsIn.lowerBound * d, lda: d, packedB: scorePacking, c: scratch, ldc: n)
        } else {
            Kernels.gemm(transposeB: true, m: rowsIn.count, n: n, k: d, a: qp + rowsIn.lowerBound * d, lda: d, b: tp + first * d, ldb: d,
                         c: scratch, ldc: n, threads: 1)
        }
        return rowsIn
    }
    Q.storage.withUnsafeBufferPointer { qp in
        T.storage.withUnsafeBufferPointer { tp in
            logSumExp.withUnsafeMutableBufferPointer { lp in
                losses.withUnsafeMutableBufferPointer { loss in
                    probabilities.withUnsafeMutableBufferPointer { kept in
                      inverseSums.withUnsafeMutableBufferPointer { inv in
                        let box = UnsafeSendable((qp.baseAddress!, tp.baseAddress!, lp.baseAddress!, loss.baseAddress!, keep ? kept.baseAddress : nil, inv.baseAddress))
                        parallelFor(blocks, chunkSize: 1, threads: p * n * d < 1 << 20 ? 1 : 0) { chunk in
                            let (qp, tp, lp, loss, kept, inv) = box.value
                            func run(_ s: UnsafeMutablePointer<Float>) {
                                let rowsIn = score(chunk.index, s, qp, tp)
                                var total = 0.0
                                for (k, r) in rowsIn.enumerated() {
                                    let row = s + k * n
                                    let m = Kernels.maximum(row, count: n)
                                    let target = row[Int(targets[r])]
                                    let sum = Kernels.expShifted(row, count: n, shift: m)
                                    let lse = m + logf(sum)
                                    lp[r] = lse
                                    total += Double(lse - target)
                                    if kept != nil { inv![r] = 1 / sum }   // row · inv[r]: the probabilities, for backward
                                }
                                loss[chunk.index] = total
                            }
                            if let kept {
                                run(kept + chunk.index * block * n)
                            } else {
                                withUnsafeTemporaryAllocation(of: Float.self, capacity: block * n) { run($0.baseAddress!) }
                            }
                        }
                      }
                    }
                }
            }
        }
    }
    let value = Tensor(scalar: Float(losses.reduce(0, +) / Double(max(1, p))))
    return queries.tape.record(value, inputs: [queries, table]) { g, tape in
        let scale = g.scalar / Float(max(1, p))
        var dq = Tensor(shape: Q.shape)
        let workers = max(1, min(blocks, effectiveThreadCount(p * n * d < 1 << 20 ? 1 : 0)))
        var dts = [[Float]](repeating: [], count: workers)
        let tablePacking = prepack ? T.storage.withUnsafeBufferPointer { Kernels.PackedB(transposed: false, k: n, n: d, b: $0.baseAddress! + first * d, ldb: d) } : nil
        Q.storage.withUnsafeBufferPointer { qp in
            T.storage.withUnsafeBufferPointer { tp in
                dq.storage.withUnsafeMutableBufferPointer { dqp in
                    dts.withUnsafeMutableBufferPointer { dtsp in
                        probabilities.withUnsafeMutableBufferPointer { kept in
                            let box = UnsafeSendable((qp.baseAddress!, tp.baseAddress!, dqp.baseAddress!, dtsp.baseAddress!, keep ? kept.baseAddress : nil))
                            // Worker w takes blocks w, w + workers, …, in order, into its own dT:
                            // the sums do not depend on scheduling (deterministic for a thread count).
                            parallelFor(workers, chunkSize: 1, threads: workers) { worker in
                                let (qp, tp, dqp, dtsp, kept) = box.value
                                let w = worker.index
                                dtsp[w] = [Float](repeating: 0, count: n * d)
                                for b in stride(from: w, to: blocks, by: workers) {
                                    func run(_ s: UnsafeMutablePointer<Float>) {
                                        let rowsIn: Range<Int>
                                        if kept != nil {
                                            rowsIn = (b * block)..<min(p, (b + 1) * block)
                                        } else {
                                            rowsIn = score(b, s, qp, tp)
                                        }
                                        for (k, r) in rowsIn.enumerated() {
                                            let row = s + k * n
                                            // (softmax − onehot) · scale
                                            if kept == nil { _ = Kernels.expShifted(row, count: n, shift: logSumExp[r]) }
                                            Kernels.scale(kept == nil ? scale : scale * inverseSums[r], row, count: n)
                                            row[Int(targets[r])] -= scale
                                        }
                                        let m = rowsIn.count
                                        if let tablePacking {
                                            Kernels.gemm(m: m, a: s, lda: n, packedB: tablePacking, c: dqp + rowsIn.lowerBound * d, ldc: d)
                                        } else {
                                            Kernels.gemm(m: m, n: d, k: n, a: s, lda: n, b: tp + first * d, ldb: d, c: dqp + rowsIn.lowerBound * d, ldc: d, threads: 1)
                                        }
                                        dtsp[w].withUnsafeMutableBufferPointer { dt in
                                            Kernels.gemm(transposeA: true, m: n, n: d, k: m, a: s, lda: n, b: qp + rowsIn.lowerBound * d, ldb: d,
                                                         beta: 1, c: dt.baseAddress!, ldc: d, threads: 1)
                                        }
                                    }
                                    if let kept {
                                        run(kept + b * block * n)
                                    } else {
                                        withUnsafeTemporaryAllocation(of: Float.self, capacity: block * n) { run($0.baseAddress!) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        tape.accumulate(queries, dq)
        var dt = Tensor(shape: T.shape)
        for part in dts where !part.isEmpty {
            dt.storage.withUnsafeMutableBufferPointer { dst in
                part.withUnsafeBufferPointer { src in Kernels.axpy(1, src.baseAddress!, dst.baseAddress! + first * d, count: n * d) }
            }
        }
        tape.accumulate(table, dt)
    }
}
