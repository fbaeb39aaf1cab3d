import Foundation
import Testing
import TailorLinalg
@testable import TailorAutodiff

// The elementwise ops take parallel, chunked fast paths once a tensor has more than
// `pointwiseGrain` elements. Gradient checks use small tensors, so these tests run each fast
// path on large inputs against a slow reference: a scalar loop in Double, or the same op applied
// to small pieces (which take the serial path).

/// Gradients of `f` at `inputs` for the upstream gradient `seed`.
private func gradients(_ inputs: [Tensor], seed: Tensor, training: Bool = true, tapeSeed: UInt64 = 0,
                       _ f: ([Value]) -> Value) -> (Tensor, [Tensor]) {
    let tape = Tape(training: training, seed: tapeSeed, gradients: true)
    let vars = inputs.map { tape.variable($0) }
    let out = f(vars)
    tape.backward(out, seed: seed)
    return (out.tensor, vars.map { tape.gradient($0) ?? Tensor(shape: $0.shape) })
}

private func expectClose(_ a: Tensor, _ b: [Double], tolerance: Double = 1e-4,
                         sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(a.count == b.count, sourceLocation: sourceLocation)
    var worst = 0.0
    for (x, y) in zip(a.storage, b) { worst = max(worst, abs(Double(x) - y) / max(1, abs(y))) }
    #expect(worst < tolerance, "largest relative difference \(worst)", sourceLocation: sourceLocation)
}

@Suite("Parallel fast paths match their slow references on large tensors")
struct FastPathTests {
    let rows = 300, width = 100  // 30,000 elements: two chunks and more

    @Test("broadcast add and multiply over trailing rows, and same-shape; gradients reduce to column sums")
    func broadcast() {
        let a = random([rows, width], seed: 1), b = random([width], seed: 2), c = random([rows, width], seed: 3)
        let g = random([rows, width], seed: 4)
        let (sum, grads) = gradients([a, b], seed: g) { $0[0] + $0[1] }
        expectClose(sum, (0..<rows * width).map { Double(a.storage[$0]) + Double(b.storage[$0 % width]) })
        expectClose(grads[0], g.storage.map(Double.init))
        expectClose(grads[1], (0..<width).map { j in (0..<rows).reduce(0.0) { $0 + Double(g.storage[$1 * width + j]) } })

        let (product, pg) = gradients([a, b], seed: g) { $0[0] * $0[1] }
        expectClose(product, (0..<rows * width).map { Double(a.storage[$0]) * Double(b.storage[$0 % width]) })
        expectClose(pg[1], (0..<width).map { j in
            (0..<rows).reduce(0.0) { $0 + Double(g.storage[$1 * width + j]) * Double(a.storage[$1 * width + j]) }
        })

        let (difference, dg) = gradients([a, c], seed: g) { $0[0] - $0[1] }
        expectClose(difference, (0..<rows * width).map { Double(a.storage[$0]) - Double(c.storage[$0]) })
        expectClose(dg[1], g.storage.map { -Double($0) })
    }

    @Test("pointwise activations on large tensors equal the scalar formulas")
    func activations() {
        let x = random([rows, width], seed: 5, low: -3, high: 3), g = random([rows, width], seed: 6)
        let cases: [(([Value]) -> Value, (Double) -> Double, (Double) -> Double)] = [
            ({ relu($0[0]) }, { max(0, $0) }, { $0 > 0 ? 1 : 0 }),
            ({ tanh($0[0]) }, { Foundation.tanh($0) }, { 1 - Foundation.tanh($0) * Foundation.tanh($0) }),
            ({ sigmoid($0[0]) }, { 1 / (1 + Foundation.exp(-$0)) }, { let s = 1 / (1 + Foundation.exp(-$0)); return s * (1 - s) }),
            ({ gelu($0[0]) }, { 0.5 * $0 * (1 + erf($0 / 2.0.squareRoot())) },
             { 0.5 * (1 + erf($0 / 2.0.squareRoot())) + $0 * Foundation.exp(-$0 * $0 / 2) / (2 * Double.pi).squareRoot() }),
        ]
        for (op, value, derivative) in cases {
            let (y, grads) = gradients([x], seed: g, op)
            expectClose(y, x.storage.map { value(Double($0)) })
            expectClose(grads[0], zip(x.storage, g.storage).map { derivative(Double($0)) * Double($1) })
        }
    }

    @Test("sum and mean-squared error of a large tensor equal Double-precision sums")
    func reductions() {
        let x = random([rows, width], seed: 7), t = random([rows, width], seed: 8)
        let (s, _) = gradients([x], seed: Tensor(scalar: 1)) { sum($0[0]) }
        #expect(abs(Double(s.scalar) - x.storage.reduce(0.0) { $0 + Double($1) }) < 1e-3)
        let (mse, grads) = gradients([x], seed: Tensor(scalar: 1)) { meanSquaredErrorOp($0[0], t) }
        let n = Double(x.count)
        let expected = zip(x.storage, t.storage).reduce(0.0) { $0 + (Double($1.0) - Double($1.1)) * (Double($1.0) - Double($1.1)) } / n
        #expect(abs(Double(mse.scalar) - expected) < 1e-5)
        expectClose(grads[0], zip(x.storage, t.storage).map { 2 * (Double($0) - Double($1)) / n })
    }

    @Test("fused linear equals matmul with the transposed weight plus bias, forward and backward")
    func fusedLinear() {
        let x = random([2, 150, 96], seed: 9), w = random([80, 96], seed: 10), b = random([80], seed: 11)
        let g = random([2, 150, 80], seed: 12)
        let (fused, fg) = gradients([x, w, b], seed: g) { linear($0[0], weight: $0[1], bias: $0[2]) }
        let (plain, pg) = gradients([x, w, b], seed: g) { matmul($0[0], $0[1], transposeB: true) + $0[2] }
        expectClose(fused, plain.storage.map(Double.init))
        for i in 0..<3 { expectClose(fg[i], pg[i].storage.map(Double.init)) }
        let (noBias, _) = gradients([x, w], seed: g) { linear($0[0], weight: $0[1], bias: nil) }
        expectClose(noBias, zip(plain.storage, (0..<plain.count).map { b.storage[$0 % 80] }).map { Double($0 - $1) })
    }

    @Test("fused softmax cross-entropy over a table equals matmul, log-softmax and the target's entry, in value and both gradients",
          arguments: [(1, 1, 0), (5, 3, 1), (300, 257, 1), (130, 1_000, 0)])
    func fusedCrossEntropy(shape: (queries: Int, classes: Int, first: Int)) {
        // Every path: probabilities kept for backward or (limit 0) scored again in backward; the
        // table packed once or (limit 0) by each block's GEMM.
        for limit in [1 << 25, 0] {
            for packed in [1 << 24, 0] { fusedCrossEntropyCase(shape, keptLimit: limit, packedLimit: packed) }
        }
    }

    func fusedCrossEntropyCase(_ shape: (queries: Int, classes: Int, first: Int), keptLimit: Int, packedLimit: Int) {
        let (p, n, first) = shape, d = 16
        let q = random([p, d], seed: 11), t = random([n + first, d], seed: 12)
        var rng = TailorRandom(seed: 13)
        let targets = (0..<p).map { _ in Int32(rng.nextInt(below: n)) }
        let (fast, fastGrads) = gradients([q, t], seed: Tensor(scalar: 1.5)) { softmaxCrossEntropy(queries: $0[0], table: $0[1], first: first, targets: targets, keptLimit: keptLimit, packedLimit: packedLimit) }
        var onehot = Tensor(shape: [p, n])
        for (r, c) in targets.enumerated() { onehot.storage[r * n + Int(c)] = 1 }
        let (slow, slowGrads) = gradients([q, t], seed: Tensor(scalar: 1.5)) { v in
            let logits = matmul(v[0], slice(v[1], axis: 0, first..<(n + first)), transposeB: true)
            return sum(logSoftmax(logits) * v[0].tape.constant(onehot)) * (-1 / Float(p))
        }
        expectClose(fast, slow.storage.map(Double.init), tolerance: 1e-5)
        expectClose(fastGrads[0], slowGrads[0].storage.map(Double.init), tolerance: 1e-5)
        expectClose(fastGrads[1], slowGrads[1].storage.map(Double.init), tolerance: 1e-5)
        // Deterministic: the table's gradient sums the same way however the workers are scheduled.
        for _ in 0..<3 {
            let (_, again) = gradients([q, t], seed: Tensor(scalar: 1.5)) { softmaxCrossEntropy(queries: $0[0], table: $0[1], first: first, targets: targets, keptLimit: keptLimit, packedLimit: packedLimit) }
            #expect(again[1].storage == fastGrads[1].storage && again[0].storage == fastGrads[0].storage)
        }
        // The rows before `first` are not classes: no gradient reaches them.
        #expect(fastGrads[1].storage[0..<(first * d)].allSatisfy { $0 == 0 })
    }

    @Test("sparse × dense equals the dense product, and its gradient is Aᵀ·dY")
    func sparseTimesDense() {
        var rng = TailorRandom(seed: 21)
        var rows: [Int32] = [], columns: [Int32] = [], values: [Float] = []
        for r in 0..<300 { for _ in 0..<3 { rows.append(Int32(r)); columns.append(Int32(rng.nextInt(below: 200))); values.append(rng.nextFloat() - 0.5) } }
        let a = CSRMatrix(rows: 300, columns: 200, rowIndices: rows, columnIndices: columns, values: values)
        var dense = Tensor(shape: [300, 200])
        for r in 0..<300 { for p in a.range(ofRow: r) { dense.storage[r * 200 + Int(a.columnIndices[p])] += a.values[p] } }
        let x = random([200, 8], seed: 22), g = random([300, 8], seed: 23)
        let (fast, fastGrad) = gradients([x], seed: g) { sparseMatmul(a, $0[0]) }
        let (slow, slowGrad) = gradients([x], seed: g) { matmul($0[0].tape.constant(dense), $0[0]) }
        expectClose(fast, slow.storage.map(Double.init), tolerance: 1e-5)
        expectClose(fastGrad[0], slowGrad[0].storage.map(Double.init), tolerance: 1e-5)
    }

    @Test("layer norm over many rows equals layer norm applied to each row alone")
    func layerNormRows() {
        let n = 64, count = 400
        let x = random([count, n], seed: 13), gamma = random([n], seed: 14), beta = random([n], seed: 15)
        let g = random([count, n], seed: 16)
        let (y, grads) = gradients([x, gamma, beta], seed: g) { layerNorm($0[0], gamma: $0[1], beta: $0[2]) }
        var rowOut = [Double](), rowDx = [Double](), dGamma = [Double](repeating: 0, count: n), dBeta = dGamma
        for r in 0..<count {
            let xr = Tensor(shape: [1, n], storage: Array(x.storage[r * n..<(r + 1) * n]))
            let gr = Tensor(shape: [1, n], storage: Array(g.storage[r * n..<(r + 1) * n]))
            let (yr, gs) = gradients([xr, gamma, beta], seed: gr) { layerNorm($0[0], gamma: $0[1], beta: $0[2]) }
            rowOut += yr.storage.map(Double.init)
            rowDx += gs[0].storage.map(Double.init)
            for j in 0..<n { dGamma[j] += Double(gs[1].storage[j]); dBeta[j] += Double(gs[2].storage[j]) }
        }
        expectClose(y, rowOut)
        expectClose(grads[0], rowDx)
        expectClose(grads[1], dGamma)
        expectClose(grads[2], dBeta)
    }

    @Test("dropout drops about p of a large tensor, scales the rest, reuses its mask backward, and repeats under a seed")
    func dropoutMask() {
        let p: Float = 0.3
        let x = Tensor(shape: [rows, width], repeating: 1), g = random([rows, width], seed: 17)
        let (y, grads) = gradients([x], seed: g, tapeSeed: 5) { dropout($0[0], probability: p) }
        let dropped = y.storage.filter { $0 == 0 }.count
        #expect(abs(Double(dropped) / Double(y.count) - Double(p)) < 0.01)
        #expect(y.storage.allSatisfy { $0 == 0 || abs($0 - 1 / (1 - p)) < 1e-6 })
        expectClose(grads[0], zip(y.storage, g.storage).map { Double($0) * Double($1) })
        let (again, _) = gradients([x], seed: g, tapeSeed: 5) { dropout($0[0], probability: p) }
        #expect(again.storage == y.storage)
        let (other, _) = gradients([x], seed: g, tapeSeed: 6) { dropout($0[0], probability: p) }
        #expect(other.storage != y.storage)
        let (eval, _) = gradients([x], seed: g, training: false) { dropout($0[0], probability: p) }
        #expect(eval.storage == x.storage)
    }

    @Test("malloc tuning changes nothing until the program asks, then applies on Linux unless switched off")
    func mallocTuning() {
        _ = Tape()  // the library alone never tunes malloc
        #expect(!MemoryTuning.applied)
        let applied = MemoryTuning.apply()
        #if os(Linux)
        let off = ProcessInfo.processInfo.environment["TAILOR_MALLOC_DEFAULTS"] == "1"
        #expect(applied == !off && MemoryTuning.applied == !off)
        #else
        #expect(!applied)
        #endif
    }
}

@Suite("Backward frees activations")
struct ReleaseTests {
    /// A 3-layer perceptron's loss on `tape`, with its input and target as constants.
    func forward(_ tape: Tape, _ weights: [Parameter]) -> Value {
        var h = tape.constant(random([128, 64], seed: 1))
        for (i, w) in weights.enumerated() {
            h = matmul(h, tape.parameter(w))
            if i < weights.count - 1 { h = relu(h) }
        }
        return sum(square(h - tape.constant(random([128, 8], seed: 2))))
    }

    let weights = [Parameter(random([64, 256], seed: 3)), Parameter(random([256, 256], seed: 4)), Parameter(random([256, 8], seed: 5))]

    @Test("an evaluation tape records no backward closures, so it is freed when its forward pass ends (no leak per request)")
    func evaluationTapeIsFreed() {
        weak var evaluation: Tape?
        weak var training: Tape?
        do {
            let tape = Tape(training: false)
            #expect(!tape.recordsGradients && forward(tape, weights).scalar > 0)
            evaluation = tape
            // A training tape whose backward never ran holds itself through its closures;
            // backward breaks the cycle.
            let t = Tape()
            t.backward(forward(t, weights))
            training = t
        }
        #expect(evaluation == nil, "the evaluation tape outlived its forward pass")
        #expect(training == nil, "the training tape outlived its backward pass")
        // Gradients in evaluation mode on request.
        let tape = Tape(training: false, gradients: true)
        tape.backward(forward(tape, weights))
        #expect(weights.allSatisfy { $0.grad != nil })
        for w in weights { w.zeroGrad() }
    }

    @Test("after backward the tape holds only its inputs and the loss; gradients reached the parameters")
    func released() {
        let tape = Tape()
        let loss = forward(tape, weights)
        let before = tape.retainedBytes
        tape.backward(loss)
        let inputs = 4 * (128 * 64 + 128 * 8 + 1)
        #expect(before > 10 * inputs)
        #expect(tape.retainedBytes == inputs)
        #expect(loss.scalar > 0)
        #expect(weights.allSatisfy { $0.grad != nil })
        // A parameter used again on the same tape gets a fresh node with its current value.
        #expect(tape.parameter(weights[0]).tensor.storage == weights[0].value.storage)
    }

    @Test("retainValues keeps every value readable, with the same gradients")
    func retained() {
        let a = Tape(), b = Tape()
        let (la, lb) = (forward(a, weights), forward(b, weights))
        for w in weights { w.zeroGrad() }
        a.backward(la)
        let released = weights.map { $0.grad!.storage }
        for w in weights { w.zeroGrad() }
        let hidden = Value(tape: b, id: lb.id - 1)
        b.backward(lb, retainValues: true)
        #expect(hidden.tensor.count == 128 * 8)
        #expect(b.retainedBytes > 10 * a.retainedBytes)
        #expect(weights.map { $0.grad!.storage } == released)
    }
}
