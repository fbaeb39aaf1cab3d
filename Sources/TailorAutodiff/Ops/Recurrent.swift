import Foundation
import TailorLinalg

/// A GRU layer's recurrence over all steps in one op (Cho et al. 2014; PyTorch's gate order
/// reset, update, new): from `gi` (`[B, T, 3H]`, the input projections `Wᵢx + bᵢ` of every step),
/// `weightHH` (`[3H, H]`) and `biasHH` (`[3H]`),
///
///     r = σ(giᵣ + Wₕᵣh + bₕᵣ),  z = σ(gi_z + Wₕ_z h + bₕ_z),  n = tanh(giₙ + r ⊙ (Wₕₙh + bₕₙ)),
///     h′ = (1 − z) ⊙ n + z ⊙ h,
///
/// giving every step's state `[B, T, H]` from `initial` (`[B, H]`; zeros when `nil`). With
/// `keep` (`[B × T]`), a row's state is zero after every step where it is false (left padding:
/// each sequence starts from zeros at its first real step); such steps are skipped, not computed.
/// With `resets` (`[B × T]`), a row's state is zero *before* every step where it is true (a new
/// sequence starts there, its output kept: session-parallel batches lay sequences end to end);
/// a reset at step 0 ignores `initial` for that row.
///
/// The same function as the step-by-step composition of matmul, split, sigmoid, tanh and
/// products (`GRU`'s reference path; test `gruSequenceMatchesSteps`), as one tape node instead of
/// ~15 per step: the forward keeps r, z, n and `Wₕₙh + bₕₙ`; the backward runs through time once,
/// one `[B, 3H] × [3H, H]` product per step, and forms the weight gradient as a single product
/// over all steps. Batch rows are independent through time, so both directions split the rows
/// between workers.
public func gruSequence(_ gi: Value, weightHH: Value, biasHH: Value, initial: Value? = nil, keep: [Bool]? = nil,
                        resets: [Bool]? = nil) -> Value {
    let GI = gi.tensor, W = weightHH.tensor, BH = biasHH.tensor
    precondition(GI.rank == 3 && GI.shape[2] % 3 == 0, "gruSequence needs gi of [B, T, 3H], got \(GI.shape)")
    let (b, t, h3) = (GI.shape[0], GI.shape[1], GI.shape[2])
    let h = h3 / 3
    precondition(W.shape == [h3, h] && BH.shape == [h3], "gruSequence: weightHH \(W.shape) and biasHH \(BH.shape) do not fit \(h) units")
    precondition(keep == nil || keep!.count == b * t, "gruSequence: keep must have B × T = \(b * t) entries")
    precondition(resets == nil || resets!.count == b * t, "gruSequence: resets must have B × T = \(b * t) entries")
    let H0 = initial?.tensor
    precondition(H0 == nil || H0!.shape == [b, h], "gruSequence: initial state must be [\(b), \(h)]")
    // Rows per worker: the recurrence is sequential in time only.
    let workers = b * t * h3 * h < 2_000_000 ? 1 : min(effectiveThreadCount(0), b)
    let rowsPerChunk = (b + workers - 1) / workers
    var out = Tensor(shape: [b, t, h])
    // r | z | n | Wₕₙh + bₕₙ, each [B, T, H].
    var saved = [Float](repeating: 0, count: 4 * b * t * h)
    let zeros = [Float](repeating: 0, count: h3)
    out.storage.withUnsafeMutableBufferPointer { op in
        saved.withUnsafeMutableBufferPointer { sp in
            GI.storage.withUnsafeBufferPointer { gp in
                W.storage.withUnsafeBufferPointer { wp in
                    BH.storage.withUnsafeBufferPointer { bp in
                        (H0?.storage ?? zeros).withUnsafeBufferPointer { hp in
                            zeros.withUnsafeBufferPointer { zp in
                                let box = UnsafeSendable((op.baseAddress!, sp.baseAddress!, gp.baseAddress!, wp.baseAddress!, bp.baseAddress!,
                                                          hp.baseAddress!, zp.baseAddress!))
                                parallelFor(b, chunkSize: rowsPerChunk, threads: workers) { chunk in
                                    let (op, sp, gp, wp, bp, hp, zp) = box.value
                                    let rows = chunk.range
                                    withUnsafeTemporaryAllocation(of: Float.self, capacity: rows.count * h3) { ghBuffer in
                                        let gh = ghBuffer.baseAddress!
                                        for step in 0..<t {
                                            // gh = h_{t−1}·Wₕₕᵀ for this chunk's rows (zeros from a zero state).
                                            if step > 0 {
                                                Kernels.gemm(transposeB: true, m: rows.count, n: h3, k: h, a: op + (rows.lowerBound * t + step - 1) * h,
                                                             lda: t * h, b: wp, ldb: h, c: gh, ldc: h3)
                                            } else if H0 != nil {
                                                Kernels.gemm(transposeB: true, m: rows.count, n: h3, k: h, a: hp + rows.lowerBound * h, lda: h,
                                                             b: wp, ldb: h, c: gh, ldc: h3)
                                            } else {
                                                gh.update(repeating: 0, count: rows.count * h3)
                                            }
                                            for row in rows {
                                                let index = row * t + step
                                                if let keep, !keep[index] { continue }   // state stays zero (out is zero-filled)
                                                let restart = resets?[index] ?? false
                                                let g = gp + index * h3, s = restart ? zp : UnsafePointer(gh + (row - rows.lowerBound) * h3)
                                                let previous = restart ? zp : step > 0 ? UnsafePointer(op + (index - 1) * h) : (H0 != nil ? hp + row * h : zp)
                                                let o = op + index * h
                                                let R = sp + index * h, Z = R + b * t * h, N = Z + b * t * h, GHN = N + b * t * h
                                                for j in 0..<h {
                                                    let r = 1 / (1 + expf(-(g[j] + s[j] + bp[j])))
                                                    let z = 1 / (1 + expf(-(g[h + j] + s[h + j] + bp[h + j])))
                                                    let ghn = s[2 * h + j] + bp[2 * h + j]
                                                    let n = tanhf(g[2 * h + j] + r * ghn)
                                                    o[j] = n + z * (previous[j] - n)
                                                    R[j] = r; Z[j] = z; N[j] = n; GHN[j] = ghn
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    let inputs = [gi, weightHH, biasHH] + (initial.map { [$0] } ?? [])
    return gi.tape.record(out, inputs: inputs) { g, tape in
        var dGI = Tensor(shape: [b, t, h3])
        var dGH = [Float](repeating: 0, count: b * t * h3)
        var dState = Tensor(shape: [b, h])          // ∂L/∂h of the step being undone; at the end ∂L/∂initial
        // Each step's previous state, [B, T, H]: what Wₕₕ multiplied.
        var previous = [Float](repeating: 0, count: b * t * h)
        dGI.storage.withUnsafeMutableBufferPointer { dip in
            dGH.withUnsafeMutableBufferPointer { dhp in
                dState.storage.withUnsafeMutableBufferPointer { dsp in
                    previous.withUnsafeMutableBufferPointer { pp in
                        saved.withUnsafeBufferPointer { sp in
                            out.storage.withUnsafeBufferPointer { op in
                                g.storage.withUnsafeBufferPointer { gp in
                                    W.storage.withUnsafeBufferPointer { wp in
                                        (H0?.storage ?? zeros).withUnsafeBufferPointer { hp in
                                            let box = UnsafeSendable((dip.baseAddress!, dhp.baseAddress!, dsp.baseAddress!, pp.baseAddress!, sp.baseAddress!,
                                                                      op.baseAddress!, gp.baseAddress!, wp.baseAddress!, hp.baseAddress!))
                                            parallelFor(b, chunkSize: rowsPerChunk, threads: workers) { chunk in
                                                let (dip, dhp, dsp, pp, sp, op, gp, wp, hp) = box.value
                                                let rows = chunk.range
                                                for row in rows {
                                                    let p = pp + row * t * h
                                                    if H0 != nil { p.update(from: hp + row * h, count: h) }   // else stays zero
                                                    if t > 1 { (p + h).update(from: op + row * t * h, count: (t - 1) * h) }
                                                    if let resets {
                                                        for step in 0..<t where resets[row * t + step] { (p + step * h).update(repeating: 0, count: h) }
                                                    }
                                                }
                                                for step in stride(from: t - 1, through: 0, by: -1) {
                                                    for row in rows {
                                                        let index = row * t + step
                                                        let d = dsp + row * h
                                                        if let keep, !keep[index] {
                                                            d.update(repeating: 0, count: h)   // the state was zeroed here
                                                            continue
                                                        }
                                                        let go = gp + index * h, prev = pp + index * h
                                                        let R = sp + index * h, Z = R + b * t * h, N = Z + b * t * h, GHN = N + b * t * h
                                                        let di = dip + index * h3, dh = dhp + index * h3
                                                        for j in 0..<h {
                                                            let dOut = d[j] + go[j]
                                                            let (r, z, n) = (R[j], Z[j], N[j])
                                                            let dn = dOut * (1 - z) * (1 - n * n)
                                                            let dr = dn * GHN[j] * r * (1 - r)
                                                            let dz = dOut * (prev[j] - n) * z * (1 - z)
                                                            di[j] = dr; di[h + j] = dz; di[2 * h + j] = dn
                                                            dh[j] = dr; dh[h + j] = dz; dh[2 * h + j] = dn * r
                                                            d[j] = dOut * z                       // through h′ = … + z ⊙ h
                                                        }
                                                    }
                                                    // ∂L/∂h_{t−1} += ∂L/∂(Wₕₕh)·Wₕₕ for this chunk's rows.
                                                    Kernels.gemm(m: rows.count, n: h, k: h3, a: dhp + (rows.lowerBound * t + step) * h3, lda: t * h3,
                                                                 b: wp, ldb: h, beta: 1, c: dsp + rows.lowerBound * h, ldc: h)
                                                    // A reset: nothing flows to the state before it.
                                                    if let resets {
                                                        for row in rows where resets[row * t + step] { (dsp + row * h).update(repeating: 0, count: h) }
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        // ∂L/∂Wₕₕ = Σ over steps of ∂L/∂(Wₕₕh)ᵀ·h_{t−1}: one product over all B·T rows; ∂L/∂bₕₕ its column sums.
        var dW = Tensor(shape: [h3, h]), dB = Tensor(shape: [h3])
        dW.storage.withUnsafeMutableBufferPointer { dwp in
            dGH.withUnsafeBufferPointer { dhp in
                previous.withUnsafeBufferPointer { pp in
                    Kernels.gemm(transposeA: true, m: h3, n: h, k: b * t, a: dhp.baseAddress!, lda: h3, b: pp.baseAddress!, ldb: h,
                                 c: dwp.baseAddress!, ldc: h, threads: 0)
                }
                dB.storage.withUnsafeMutableBufferPointer { dbp in
                    for r in 0..<(b * t) { Kernels.axpy(1, dhp.baseAddress! + r * h3, dbp.baseAddress!, count: h3) }
                }
            }
        }
        tape.accumulate(gi, dGI)
        tape.accumulate(weightHH, dW)
        tape.accumulate(biasHH, dB)
        if let initial { tape.accumulate(initial, dState) }
    }
}
