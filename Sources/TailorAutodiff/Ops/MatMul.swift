import TailorLinalg

/// Matrix product of the last two axes, with optional transposes: `op(a)·op(b)`.
///
/// `a` is `[…, M, K]` (`[…, K, M]` transposed). `b` is either a matrix `[K, N]` (`[N, K]`
/// transposed) shared by every leading index of `a` (one GEMM over the flattened rows: the
/// linear-layer case), or `[…, K, N]` with the same leading axes (a batched product, one GEMM per
/// slice, in parallel). Gradients: `dA = dC·op(B)ᵀ`, `dB = op(A)ᵀ·dC`, transposed back as needed.
public func matmul(_ a: Value, _ b: Value, transposeA: Bool = false, transposeB: Bool = false) -> Value {
    let x = a.tensor, y = b.tensor
    precondition(x.rank >= 2 && y.rank >= 2, "matmul needs rank ≥ 2, got \(x.shape) and \(y.shape)")
    let m = transposeA ? x.shape[x.rank - 1] : x.shape[x.rank - 2]
    let k = transposeA ? x.shape[x.rank - 2] : x.shape[x.rank - 1]
    let kb = transposeB ? y.shape[y.rank - 1] : y.shape[y.rank - 2]
    let n = transposeB ? y.shape[y.rank - 2] : y.shape[y.rank - 1]
    precondition(k == kb, "matmul inner dimensions differ: \(x.shape)\(transposeA ? "ᵀ" : "") · \(y.shape)\(transposeB ? "ᵀ" : "")")
    let leading = Array(x.shape.dropLast(2))
    let batch = leading.reduce(1, *)
    if y.rank == 2 && !transposeA {
        // One GEMM over all rows of a.
        let rows = batch * m
        var out = Tensor(shape: leading + [m, n])
        gemmTensors(false, transposeB, rows, n, k, x.storage, 0, k, y.storage, 0, transposeB ? k : n, &out.storage, 0, n, beta: 0)
        return a.tape.record(out, inputs: [a, b]) { g, tape in
            if tape.needsGrad(a) {
                var dx = Tensor(shape: x.shape)
                // dA = dC · op(B)ᵀ
                gemmTensors(false, !transposeB, rows, k, n, g.storage, 0, n, y.storage, 0, transposeB ? k : n, &dx.storage, 0, k, beta: 0)
                tape.accumulate(a, dx)
            }
            if tape.needsGrad(b) {
                var dy = Tensor(shape: y.shape)
                if transposeB {  // dB [N, K] = dCᵀ · A
                    gemmTensors(true, false, n, k, rows, g.storage, 0, n, x.storage, 0, k, &dy.storage, 0, k, beta: 0)
                } else {         // dB [K, N] = Aᵀ · dC
                    gemmTensors(true, false, k, n, rows, x.storage, 0, k, g.storage, 0, n, &dy.storage, 0, n, beta: 0)
                }
                tape.accumulate(b, dy)
            }
        }
    }
    let shared = y.rank == 2
    precondition(shared || Array(y.shape.dropLast(2)) == leading, "batched matmul needs equal leading axes, got \(x.shape) and \(y.shape)")
    let strideA = m * k, strideB = shared ? 0 : k * n, strideC = m * n
    let lda = x.shape[x.rank - 1], ldb = y.shape[y.rank - 1]
    var out = Tensor(shape: leading + [m, n])
    batchedGemm(batch, transposeA, transposeB, m, n, k, x.storage, strideA, lda, y.storage, strideB, ldb, &out.storage, strideC, n)
    return a.tape.record(out, inputs: [a, b]) { g, tape in
        if tape.needsGrad(a) {
            var dx = Tensor(shape: x.shape)
            if transposeA {  // dA [K, M] = op(B) · dCᵀ
                batchedGemm(batch, transposeB, true, k, m, n, y.storage, strideB, ldb, g.storage, strideC, n, &dx.storage, strideA, m)
            } else {         // dA [M, K] = dC · op(B)ᵀ
                batchedGemm(batch, false, !transposeB, m, k, n, g.storage, strideC, n, y.storage, strideB, ldb, &dx.storage, strideA, k)
            }
            tape.accumulate(a, dx)
        }
        if tape.needsGrad(b) {
            var dy = Tensor(shape: y.shape)
            if transposeB {  // dB [N, K] = dCᵀ · op(A)
                batchedGemm(batch, true, transposeA, n, k, m, g.storage, strideC, n, x.storage, strideA, lda, &dy.storage, strideB, k,
                            accumulateShared: shared)
            } else {         // dB [K, N] = op(A)ᵀ · dC
                batchedGemm(batch, !transposeA, false, k, n, m, x.storage, strideA, lda, g.storage, strideC, n, &dy.storage, strideB, n,
                            accumulateShared: shared)
            }
            tape.accumulate(b, dy)
        }
    }
}

/// One GEMM on tensor storage at offsets.
@inline(__always)
func gemmTensors(_ tA: Bool, _ tB: Bool, _ m: Int, _ n: Int, _ k: Int, _ a: [Float], _ oa: Int, _ lda: Int,
                 _ b: [Float], _ ob: Int, _ ldb: Int, _ c: inout [Float], _ oc: Int, _ ldc: Int, beta: Float) {
    guard m > 0, n > 0 else { return }
    if k == 0 { for i in 0..<(m * n) { c[oc + i] = beta == 0 ? 0 : c[oc + i] * beta }; return }
    a.withUnsafeBufferPointer { ap in
        b.withUnsafeBufferPointer { bp in
            c.withUnsafeMutableBufferPointer { cp in
                Kernels.gemm(transposeA: tA, transposeB: tB, m: m, n: n, k: k, a: ap.baseAddress! + oa, lda: lda,
                             b: bp.baseAddress! + ob, ldb: ldb, beta: beta, c: cp.baseAddress! + oc, ldc: ldc, threads: 0)
            }
        }
    }
}

/// `batch` independent GEMMs (parallel over slices); with `accumulateShared` the output is one
/// shared matrix that every slice adds into (done serially).
func batchedGemm(_ batch: Int, _ tA: Bool, _ tB: Bool, _ m: Int, _ n: Int, _ k: Int,
                 _ a: [Float], _ strideA: Int, _ lda: Int, _ b: [Float], _ strideB: Int, _ ldb: Int,
                 _ c: inout [Float], _ strideC: Int, _ ldc: Int, accumulateShared: Bool = false) {
    guard batch > 0, m > 0, n > 0, k > 0 else { return }
    if accumulateShared {
        for s in 0..<batch {
            gemmTensors(tA, tB, m, n, k, a, s * strideA, lda, b, s * strideB, ldb, &c, 0, ldc, beta: s == 0 ? 0 : 1)
        }
        return
    }
    a.withUnsafeBufferPointer { ap in
        b.withUnsafeBufferPointer { bp in
            c.withUnsafeMutableBufferPointer { cp in
                let box = UnsafeSendable((ap.baseAddress!, bp.baseAddress!, cp.baseAddress!))
                parallelFor(batch, chunkSize: max(1, batch / 8), threads: 0) { chunk in
                    let (ap, bp, cp) = box.value
                    for s in chunk.range {
                        Kernels.gemm(transposeA: tA, transposeB: tB, m: m, n: n, k: k, a: ap + s * strideA, lda: lda,
                                     b: bp + s * strideB, ldb: ldb, c: cp + s * strideC, ldc: ldc, threads: 1)
                    }
                }
            }
        }
    }
}



/// A fully connected layer over the last axis, `x·Wᵀ + b` (PyTorch's `F.linear`), as one op:
/// the bias is written into the output before the GEMM accumulates onto it (no separate add
/// and no extra tensor), and its gradient is a column sum of the output gradient.
///
/// `x` is `[…, in]`, `weight` `[out, in]`, `bias` `[out]`; the result is `[…, out]`.
public func linear(_ x: Value, weight: Value, bias: Value?) -> Value {
    let input = x.tensor, w = weight.tensor
    precondition(w.rank == 2 && input.rank >= 1 && input.shape.last == w.shape[1],
                 "linear: input \(input.shape) does not end with the weight's input width \(w.shape.count == 2 ? w.shape[1] : -1)")
    let (outputs, inputs) = (w.shape[0], w.shape[1])
    let rows = input.count / max(1, inputs)
    let b = bias?.tensor
    precondition(b == nil || b!.count == outputs, "linear: bias has \(b!.count) elements, the weight has \(outputs) outputs")
    let shape = Array(input.shape.dropLast()) + [outputs]
    let out = Tensor(uninitializedShape: shape) { c, count in
        if let b {
            b.storage.withUnsafeBufferPointer { bp in
                let p = UnsafeSendable((bp.baseAddress!, c))
                parallelFor(rows, chunkSize: max(1, pointwiseGrain / max(1, outputs)), threads: count > 2 * pointwiseGrain ? 0 : 1) { chunk in
                    let (bs, cs) = p.value
                    for r in chunk.range { (cs + r * outputs).update(from: bs, count: outputs) }
                }
            }
        }
        input.storage.withUnsafeBufferPointer { xp in w.storage.withUnsafeBufferPointer { wp in
            Kernels.gemm(transposeB: true, m: rows, n: outputs, k: inputs, a: xp.baseAddress!, lda: inputs,
                         b: wp.baseAddress!, ldb: inputs, beta: b == nil ? 0 : 1, c: c, ldc: outputs, threads: 0)
        } }
    }
    let inputsList = bias.map { [x, weight, $0] } ?? [x, weight]
    return x.tape.record(out, inputs: inputsList) { g, tape in
        if tape.needsGrad(x) {
            // dX = dY · W
            let dx = Tensor(uninitializedShape: input.shape) { d, _ in
                g.storage.withUnsafeBufferPointer { gp in w.storage.withUnsafeBufferPointer { wp in
                    Kernels.gemm(m: rows, n: inputs, k: outputs, a: gp.baseAddress!, lda: outputs, b: wp.baseAddress!, ldb: inputs,
                                 c: d, ldc: inputs, threads: 0)
                } }
            }
            tape.accumulate(x, dx)
        }
        if tape.needsGrad(weight) {
            // dW = dYᵀ · X
            let dw = Tensor(uninitializedShape: w.shape) { d, _ in
                g.storage.withUnsafeBufferPointer { gp in input.storage.withUnsafeBufferPointer { xp in
                    Kernels.gemm(transposeA: true, m: outputs, n: inputs, k: rows, a: gp.baseAddress!, lda: outputs,
                                 b: xp.baseAddress!, ldb: inputs, c: d, ldc: inputs, threads: 0)
                } }
            }
            tape.accumulate(weight, dw)
        }
        if let bias, tape.needsGrad(bias) {
            tape.accumulate(bias, Tensor(shape: [outputs], storage: columnSums(g, rows: rows, width: outputs)))
        }
    }
}
