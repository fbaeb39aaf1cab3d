import Foundation
import TailorLinalg

/// Scaled dot-product attention (Vaswani et al. 2017): `softmax(Q·Kᵀ/√d + masks)·V` for
/// `q` `[B, H, T, d]`, `k` and `v` `[B, H, S, d]`, giving `[B, H, T, d]`.
///
/// `causal` hides keys after each query (`s > t`); `keyPadding` (`[B, S]`, `true` = padding)
/// hides padded keys. A query that sees no key gets zeros. `dropout` drops attention
/// probabilities on a training tape and scales the rest by `1/(1 − p)`, as PyTorch's
/// `MultiheadAttention(dropout:)` does (nothing in evaluation). One fused op, parallel over
/// `B·H`: the forward keeps the probabilities `P` (the dropout mask is a hash, recomputed in
/// backward, never stored); with `D = mask(P)` the backward computes `dV = Dᵀ·dO`,
/// `dP = mask(dO·Vᵀ)`, `dS = P ⊙ (dP − rowsum(dP ⊙ P))`, `dQ = dS·K/√d`, `dK = dSᵀ·Q/√d`.
public func scaledDotProductAttention(_ q: Value, _ k: Value, _ v: Value, causal: Bool = false, keyPadding: [Bool]? = nil,
                                      dropout p: Float = 0) -> Value {
    precondition(p >= 0 && p < 1, "attention dropout must be in [0, 1), got \(p)")
    let mask: DropoutMask? = q.tape.isTraining && p > 0 ? DropoutMask(key: q.tape.rng.next(), probability: p) : nil
    let Q = q.tensor, K = k.tensor, V = v.tensor
    precondition(Q.rank == 4 && K.rank == 4 && V.rank == 4, "attention needs [B, H, T, d] tensors")
    let (b, h, t, d) = (Q.shape[0], Q.shape[1], Q.shape[2], Q.shape[3])
    let s = K.shape[2]
    precondition(K.shape == [b, h, s, d] && V.shape == [b, h, s, d], "attention key/value shapes \(K.shape), \(V.shape) do not fit query \(Q.shape)")
    precondition(keyPadding == nil || keyPadding!.count == b * s, "key padding must be [B, S] = \(b * s) entries")
    let scale = 1 / Float(d).squareRoot()
    var probabilities = [Float](repeating: 0, count: b * h * t * s)
    var out = Tensor(shape: [b, h, t, d])
    let pairs = b * h
    probabilities.withUnsafeMutableBufferPointer { pp in
        out.storage.withUnsafeMutableBufferPointer { op in
            Q.storage.withUnsafeBufferPointer { qp in
                K.storage.withUnsafeBufferPointer { kp in
                    V.storage.withUnsafeBufferPointer { vp in
                        let box = UnsafeSendable((pp.baseAddress!, op.baseAddress!, qp.baseAddress!, kp.baseAddress!, vp.baseAddress!))
                        parallelFor(pairs, chunkSize: 1, threads: pairs * t * s * d < 200_000 ? 1 : 0) { chunk in
                            let (pp, op, qp, kp, vp) = box.value
                            let pair = chunk.index, batch = pair / h
                            let P = pp + pair * t * s
                            Kernels.gemm(transposeB: true, m: t, n: s, k: d, alpha: scale, a: qp + pair * t * d, lda: d,
                                         b: kp + pair * s * d, ldb: d, c: P, ldc: s)
                            for i in 0..<t {
                                for j in 0..<s where (causal && j > i) || (keyPadding?[batch * s + j] ?? false) { P[i * s + j] = -.infinity }
                            }
                            Kernels.softmaxRows(P, rows: t, n: s)
                            if let mask {
                                withUnsafeTemporaryAllocation(of: Float.self, capacity: t * s) { dropped in
                                    let D = dropped.baseAddress!
                                    mask.apply(P, into: D, count: t * s, offset: pair * t * s)
                                    Kernels.gemm(m: t, n: d, k: s, a: D, lda: s, b: vp + pair * s * d, ldb: d, c: op + pair * t * d, ldc: d)
                                }
                            } else {
                                Kernels.gemm(m: t, n: d, k: s, a: P, lda: s, b: vp + pair * s * d, ldb: d, c: op + pair * t * d, ldc: d)
                            }
                        }
                    }
                }
            }
        }
    }
    return q.tape.record(out, inputs: [q, k, v]) { g, tape in
        var dq = Tensor(shape: Q.shape), dk = Tensor(shape: K.shape), dv = Tensor(shape: V.shape)
        dq.storage.withUnsafeMutableBufferPointer { dqp in
        dk.storage.withUnsafeMutableBufferPointer { dkp in
        dv.storage.withUnsafeMutableBufferPointer { dvp in
        probabilities.withUnsafeBufferPointer { pp in
        g.storage.withUnsafeBufferPointer { gp in
        Q.storage.withUnsafeBufferPointer { qp in
        K.storage.withUnsafeBufferPointer { kp in
        V.storage.withUnsafeBufferPointer { vp in
            let box = UnsafeSendable((dqp.baseAddress!, dkp.baseAddress!, dvp.baseAddress!, pp.baseAddress!, gp.baseAddress!,
                                        qp.baseAddress!, kp.baseAddress!, vp.baseAddress!))
            parallelFor(pairs, chunkSize: 1, threads: pairs * t * s * d < 200_000 ? 1 : 0) { chunk in
                let (dqp, dkp, dvp, pp, gp, qp, kp, vp) = box.value
                let pair = chunk.index
                let P = pp + pair * t * s, dO = gp + pair * t * d
                // dV = Dᵀ·dO, with D the dropped-out probabilities (P itself without dropout).
                if let mask {
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: t * s) { dropped in
                        mask.apply(P, into: dropped.baseAddress!, count: t * s, offset: pair * t * s)
                        Kernels.gemm(transposeA: true, m: s, n: d, k: t, a: dropped.baseAddress!, lda: s, b: dO, ldb: d, c: dvp + pair * s * d, ldc: d)
                    }
                } else {
                    Kernels.gemm(transposeA: true, m: s, n: d, k: t, a: P, lda: s, b: dO, ldb: d, c: dvp + pair * s * d, ldc: d)
                }
                // dP = mask(dO·Vᵀ), then dS in place.
                withUnsafeTemporaryAllocation(of: Float.self, capacity: t * s) { dsBuffer in
                    let dS = dsBuffer.baseAddress!
                    Kernels.gemm(transposeB: true, m: t, n: s, k: d, a: dO, lda: d, b: vp + pair * s * d, ldb: d, c: dS, ldc: s)
                    if let mask { mask.apply(dS, into: dS, count: t * s, offset: pair * t * s) }
                    for i in 0..<t {
                        var dot: Float = 0
                        for j in 0..<s { dot += dS[i * s + j] * P[i * s + j] }
                        for j in 0..<s { dS[i * s + j] = P[i * s + j] * (dS[i * s + j] - dot) }
                    }
                    Kernels.gemm(m: t, n: d, k: s, alpha: scale, a: dS, lda: s, b: kp + pair * s * d, ldb: d, c: dqp + pair * t * d, ldc: d)
                    Kernels.gemm(transposeA: true, m: s, n: d, k: t, alpha: scale, a: dS, lda: s, b: qp + pair * t * d, ldb: d,
                                 c: dkp + pair * s * d, ldc: d)
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
        tape.accumulate(q, dq)
        tape.accumulate(k, dk)
        tape.accumulate(v, dv)
    }
}
