import TailorData
import TailorLinalg

extension ALS {
    /// The training objective on `matrix`, divided by the number of user×item cells:
    /// `[Σ_all c (p − xᵤ·yᵢ)² + λ(Σ‖xᵤ‖² + Σ‖yᵢ‖²)] / (users·items)`.
    ///
    /// Computed without visiting every cell: `Σ_all (xᵤ·yᵢ)² = Σᵤ xᵤᵀ(YᵀY)xᵤ`, corrected on the
    /// observed cells. O((users + items)·k² + nnz·k).
    public func loss(_ matrix: InteractionMatrix) -> Double {
        ALS.lossValue(userFactors: userFactors, itemFactors: itemFactors,
                      confidence: ALS.confidence(matrix.userItems, alpha: configuration.alpha),
                      regularization: configuration.regularization, threads: configuration.threads)
    }

    static func lossValue(userFactors x: Matrix, itemFactors y: Matrix, confidence: CSRMatrix,
                          regularization: Float, threads: Int) -> Double {
        let k = x.columns
        let gram = y.gram(threads: threads)
        let chunkSize = 256
        let chunks = (x.rows + chunkSize - 1) / chunkSize
        var partial = [Double](repeating: 0, count: max(1, chunks))
        partial.withUnsafeMutableBufferPointer { out in
            gram.withUnsafeBufferPointer { g in
                x.withUnsafeBufferPointer { xp in
                    y.withUnsafeBufferPointer { yp in
                        let shared = UnsafeSendable((out.baseAddress!, g.baseAddress!, xp.baseAddress!, yp.baseAddress!))
                        parallelFor(x.rows, chunkSize: chunkSize, threads: threads) { chunk in
                            let (out, g, xp, yp) = shared.value
                            var total = 0.0
                            withUnsafeTemporaryAllocation(of: Float.self, capacity: k) { gx in
                                for u in chunk.range {
                                    let xu = xp + u * k
                                    Kernels.gemv(g, lda: k, rows: k, columns: k, xu, gx.baseAddress!)
                                    total += Double(Kernels.dot(xu, gx.baseAddress!, count: k))
                                    total += Double(regularization) * Double(Kernels.dot(xu, xu, count: k))
                                    for p in confidence.range(ofRow: u) {
                                        let i = Int(confidence.columnIndices[p])
                                        let c = Double(confidence.values[p])
                                        let s = Double(Kernels.dot(xu, yp + i * k, count: k))
                                        // Replace the unit-weight s² counted above with this cell's term.
                                        total += c > 0 ? c * (1 - s) * (1 - s) - s * s : (-c - 1) * s * s
                                    }
                                }
                            }
                            out[chunk.index] = total
                        }
                    }
                }
            }
        }
        var total = partial.reduce(0, +)
        y.withUnsafeBufferPointer { yp in
            for i in 0..<y.rows { total += Double(regularization) * Double(Kernels.dot(yp.baseAddress! + i * k, yp.baseAddress! + i * k, count: k)) }
        }
        return total / max(1, Double(x.rows) * Double(y.rows))
    }
}
