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

/// Self-attention over **packed** sequences: `qkv` is `[N, 3E]`, the rows of every sequence one
/// after another (`lengths` of them each, summing to N; no padding rows at all), each row's
/// query, key and value side by side (`E = heads · d`, head `h` in columns `h·d ..< (h+1)·d` of
/// each third, as a fused `in_proj` gives them). Returns `[N, E]`, the heads side by side.
///
/// The same function as ``scaledDotProductAttention(_:_:_:causal:keyPadding:dropout:)`` on the
/// left-padded `[B, H, T, d]` batch with the key-padding mask, at the real positions (a padded
/// key gets probability 0 there): test `packedMatchesPadded`. It costs `Σ L²` where the padded
/// batch costs `B·T²`, and reads the heads in place (strided), so the split/merge permutes go
/// too. Sequences of length 0 are allowed (no rows). Dropout on the probabilities as there,
/// its mask a hash of (sequence, head, i, j) recomputed in backward.
public func packedSelfAttention(_ qkv: Value, heads: Int, lengths: [Int], causal: Bool = false, dropout p: Float = 0) -> Value {
    precondition(p >= 0 && p < 1, "attention dropout must be in [0, 1), got \(p)")
    let X = qkv.tensor
    precondition(X.rank == 2 && X.shape[1] % (3 * heads) == 0, "packed attention needs [N, 3·heads·d], got \(X.shape) for \(heads) heads")
    precondition(lengths.allSatisfy { $0 >= 0 } && lengths.reduce(0, +) == X.shape[0],
                 "packed attention: lengths sum to \(lengths.reduce(0, +)), rows are \(X.shape[0])")
    let mask: DropoutMask? = qkv.tape.isTraining && p > 0 ? DropoutMask(key: qkv.tape.rng.next(), probability: p) : nil
    let n = X.shape[0], e = X.shape[1] / 3, d = e / heads, ld = 3 * e
    let scale = 1 / Float(d).squareRoot()
    // Row offset of each sequence, and where each (sequence, head)'s L×L probabilities start.
    var rowStart = [Int](repeating: 0, count: lengths.count + 1)
    var probabilityStart = [Int](repeating: 0, count: lengths.count * heads + 1)
    for (s, l) in lengths.enumerated() {
        rowStart[s + 1] = rowStart[s] + l
        for h in 0..<heads { probabilityStart[s * heads + h + 1] = probabilityStart[s * heads + h] + l * l }
    }
    let pairs = lengths.count * heads
    let work = lengths.reduce(0) { $0 + $1 * $1 } * e
    let threads = work < 200_000 ? 1 : 0
    var probabilities = [Float](repeating: 0, count: probabilityStart[pairs])
    var out = Tensor(shape: [n, e])
    probabilities.withUnsafeMutableBufferPointer { pp in
        out.storage.withUnsafeMutableBufferPointer { op in
            X.storage.withUnsafeBufferPointer { xp in
                let box = UnsafeSendable((pp.baseAddress!, op.baseAddress!, xp.baseAddress!))
                parallelFor(pairs, chunkSize: 1, threads: threads) { chunk in
                    let (pp, op, xp) = box.value
                    let pair = chunk.index, s = pair / heads, h = pair % heads
                    let l = lengths[s]
                    guard l > 0 else { return }
                    let q = xp + rowStart[s] * ld + h * d, k = q + e, v = q + 2 * e
                    let P = pp + probabilityStart[pair], o = op + rowStart[s] * e + h * d
                    for i in 0..<l {
                        let row = P + i * l, visible = causal ? i + 1 : l
                        for j in 0..<visible { row[j] = scale * Kernels.dot(q + i * ld, k + j * ld, count: d) }
                        Kernels.softmaxRows(row, rows: 1, n: visible)  // entries past `visible` stay 0
                    }
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: l) { buffer in
                        let dropped = buffer.baseAddress!
                        for i in 0..<l {
                            let visible = causal ? i + 1 : l
                            var weights = UnsafePointer(P + i * l)
                            if let mask {
                                mask.apply(weights, into: dropped, count: visible, offset: probabilityStart[pair] + i * l)
                                weights = UnsafePointer(dropped)
                            }
                            let target = o + i * e
                            for j in 0..<visible where weights[j] != 0 { Kernels.axpy(weights[j], v + j * ld, target, count: d) }
                        }
                    }
                }
            }
        }
    }
    return qkv.tape.record(out, inputs: [qkv]) { g, tape in
        var dx = Tensor(shape: X.shape)
        dx.storage.withUnsafeMutableBufferPointer { dxp in
            probabilities.withUnsafeBufferPointer { pp in
                g.storage.withUnsafeBufferPointer { gp in
                    X.storage.withUnsafeBufferPointer { xp in
                        let box = UnsafeSendable((dxp.baseAddress!, pp.baseAddress!, gp.baseAddress!, xp.baseAddress!))
                        parallelFor(pairs, chunkSize: 1, threads: threads) { chunk in
                            let (dxp, pp, gp, xp) = box.value
                            let pair = chunk.index, s = pair / heads, h = pair % heads
                            let l = lengths[s]
                            guard l > 0 else { return }
                            let q = xp + rowStart[s] * ld + h * d, k = q + e, v = q + 2 * e
                            let dq = dxp + rowStart[s] * ld + h * d, dk = dq + e, dv = dq + 2 * e
                            let P = pp + probabilityStart[pair], dO = gp + rowStart[s] * e + h * d
                            withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * l) { buffer in
                                let dropped = buffer.baseAddress!, dS = dropped + l
                                for i in 0..<l {
                                    let visible = causal ? i + 1 : l, row = P + i * l, offset = probabilityStart[pair] + i * l
                                    // dV_j += D_ij · dO_i, with D the dropped-out probabilities.
                                    if let mask { mask.apply(row, into: dropped, count: visible, offset: offset) } else {
                                        dropped.update(from: row, count: visible)
                                    }
                                    for j in 0..<visible where dropped[j] != 0 { Kernels.axpy(dropped[j], dO + i * e, dv + j * ld, count: d) }
                                    // dP_ij = mask(dO_i · V_j); dS = P ⊙ (dP − Σ dP ⊙ P).
                                    for j in 0..<visible { dS[j] = Kernels.dot(dO + i * e, v + j * ld, count: d) }
                                    if let mask { mask.apply(dS, into: dS, count: visible, offset: offset) }
                                    let dot = Kernels.dot(dS, row, count: visible)
                                    for j in 0..<visible { dS[j] = row[j] * (dS[j] - dot) }
                                    // dQ_i = scale · Σ_j dS_ij K_j;  dK_j += scale · dS_ij Q_i.
                                    for j in 0..<visible where dS[j] != 0 {
                                        Kernels.axpy(scale * dS[j], k + j * ld, dq + i * ld, count: d)
                                        Kernels.axpy(scale * dS[j], q + i * ld, dk + j * ld, count: d)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        tape.accumulate(qkv, dx)
    }
}
