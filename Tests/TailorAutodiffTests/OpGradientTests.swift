import Foundation
import Testing
import TailorLinalg
@testable import TailorAutodiff

@Suite("Every op's gradient matches finite differences")
struct OpGradientTests {
    @Test("add, subtract, multiply, divide with broadcasting", arguments: [([2, 3], [2, 3]), ([2, 3], [3]), ([2, 1, 3], [4, 1]), ([3], [2, 3]), ([2, 3], [])])
    func arithmetic(shapes: ([Int], [Int])) {
        let a = random(shapes.0, seed: 1), b = random(shapes.1, seed: 2, low: 0.5, high: 1.5)
        checkGradients([a, b]) { $0[0] + $0[1] }
        checkGradients([a, b]) { $0[0] - $0[1] }
        checkGradients([a, b]) { $0[0] * $0[1] }
        checkGradients([a, b]) { $0[0] / $0[1] }
        checkGradients([a]) { ($0[0] * 3 + 2) - 1 }
    }

    @Test("L2 normalization: unit rows, PyTorch's values, gradient")
    func l2Normalization() {
        let x = random([3, 5], seed: 4, low: 0.2, high: 1.5)
        checkGradients([x]) { l2Normalize($0[0]) }
        let tape = Tape(training: false)
        let y = l2Normalize(tape.constant(Tensor(shape: [2, 2], storage: [3, 4, 0, 0]))).tensor
        // F.normalize([[3, 4], [0, 0]]) = [[0.6, 0.8], [0, 0]]: a zero row stays zero, never NaN.
        #expect(y.storage == [0.6, 0.8, 0, 0])
    }

    @Test("segment pooling: weighted sums and softmax per segment, empty segments")
    func segments() {
        let v = random([5, 3], seed: 6), w = random([5], seed: 7, low: 0.1, high: 1)
        let offsets = [0, 2, 2, 4]   // segments of 2, 0, 2 and 1 rows
        checkGradients([v, w]) { segmentWeightedSum($0[0], weights: $0[1], offsets: offsets) }
        checkGradients([w]) { segmentSoftmax($0[0], offsets: offsets) }
        checkGradients([v, w]) { segmentWeightedSum($0[0], weights: segmentSoftmax($0[1], offsets: offsets), offsets: offsets) }
        let tape = Tape(training: false)
        let p = segmentSoftmax(tape.constant(Tensor(shape: [3], storage: [0, 0, 5])), offsets: [0, 2]).tensor.storage
        #expect(p[0] == 0.5 && p[1] == 0.5 && p[2] == 1, "each segment sums to one on its own")
        let pooled = segmentWeightedSum(tape.constant(Tensor(shape: [2, 1], storage: [2, 4])), weights: tape.constant(Tensor(shape: [2], storage: [0.5, 0.25])),
                                        offsets: [0, 2]).tensor
        #expect(pooled.shape == [2, 1] && pooled.storage == [2, 0], "0.5·2 + 0.25·4, then an empty segment")
    }

    @Test("activations: ReLU, GELU, tanh, sigmoid, exp, log, square")
    func activations() {
        // Keep ReLU inputs away from its kink.
        let x = Tensor(shape: [2, 4], storage: [-1.5, -0.7, -0.3, 0.2, 0.4, 0.9, 1.3, -2])
        checkGradients([x]) { relu($0[0]) }
        checkGradients([x]) { gelu($0[0]) }
        checkGradients([x]) { tanh($0[0]) }
        checkGradients([x]) { sigmoid($0[0]) }
        checkGradients([x]) { exp($0[0]) }
        checkGradients([random([2, 4], seed: 3, low: 0.5, high: 2)]) { log($0[0]) }
        checkGradients([x]) { square($0[0]) }
    }

    @Test("matmul: plain, transposed operands, shared weight, batched",
          arguments: [(false, false), (false, true), (true, false), (true, true)])
    func matmulGradients(t: (Bool, Bool)) {
        let (tA, tB) = t
        let a = random(tA ? [4, 3] : [3, 4], seed: 4), b = random(tB ? [5, 4] : [4, 5], seed: 5)
        checkGradients([a, b]) { matmul($0[0], $0[1], transposeA: tA, transposeB: tB) }
        let batchedA = random(tA ? [2, 4, 3] : [2, 3, 4], seed: 6), batchedB = random(tB ? [2, 5, 4] : [2, 4, 5], seed: 7)
        checkGradients([batchedA, batchedB]) { matmul($0[0], $0[1], transposeA: tA, transposeB: tB) }
        checkGradients([batchedA, b]) { matmul($0[0], $0[1], transposeA: tA, transposeB: tB) }
    }

    @Test("sum, mean and max over axes")
    func reductions() {
        let x = Tensor(shape: [2, 3, 4], storage: (0..<24).map { Float(($0 * 7) % 24) / 10 - 1 })  // distinct values
        checkGradients([x]) { sum($0[0]) }
        checkGradients([x]) { mean($0[0]) }
        for axis in [0, 1, 2, -1] {
            checkGradients([x]) { sum($0[0], axis: axis) }
            checkGradients([x]) { mean($0[0], axis: axis, keepDims: true) }
            checkGradients([x]) { max($0[0], axis: axis) }
        }
    }

    @Test("reshape, transpose, permute, concat, slice, split")
    func shapes() {
        let x = random([2, 3, 4], seed: 8), y = random([2, 2, 4], seed: 9)
        checkGradients([x]) { reshape($0[0], [6, -1]) }
        checkGradients([x]) { transpose($0[0]) }
        checkGradients([x]) { permute($0[0], [2, 0, 1]) }
        // Moving axes of extent 1 shares the storage; with more than one non-unit axis moved it
        // copies. Both agree with the element-by-element definition.
        let single = random([2, 3, 1, 4], seed: 12)
        checkGradients([single]) { permute($0[0], [0, 2, 1, 3]) }
        for (t, axes) in [(single, [0, 2, 1, 3]), (single, [2, 0, 1, 3]), (single, [0, 1, 3, 2]), (random([2, 1, 3], seed: 13), [2, 1, 0])] {
            let p = permuted(t, axes)
            #expect(p.shape == axes.map { t.shape[$0] })
            var index = [Int](repeating: 0, count: axes.count)
            var agree = true
            for flat in 0..<p.count {
                var rest = flat
                for d in stride(from: axes.count - 1, through: 0, by: -1) { index[d] = rest % p.shape[d]; rest /= p.shape[d] }
                var source = [Int](repeating: 0, count: axes.count)
                for (i, ax) in axes.enumerated() { source[ax] = index[i] }
                let offset = zip(source, t.strides).reduce(0) { $0 + $1.0 * $1.1 }
                if p.storage[flat] != t.storage[offset] { agree = false }
            }
            #expect(agree, "permute \(t.shape) by \(axes)")
        }
        checkGradients([x, y]) { concat([$0[0], $0[1]], axis: 1) }
        checkGradients([x]) { slice($0[0], axis: 2, 1..<3) }
        checkGradients([x]) { let parts = split($0[0], sizes: [1, 2], axis: 1); return parts[1] * parts[1] + 0 * parts[0] }
    }

    @Test("gather, embedding bag and scatter-add")
    func gathers() {
        let table = random([5, 3], seed: 10)
        checkGradients([table]) { gather($0[0], indices: [1, 3, 1, 0], shape: [2, 2]) }
        checkGradients([table]) { gather($0[0], indices: [1, 4, 2], padding: 4) }
        checkGradients([table]) { embeddingBag($0[0], indices: [0, 1, 1, 4, 2], offsets: [0, 2, 2], mode: .mean) }
        checkGradients([table]) { embeddingBag($0[0], indices: [0, 1, 1, 4, 2], offsets: [0, 3], mode: .sum) }
        checkGradients([table]) { embeddingBag($0[0], indices: [0, 1, 1, 4, 2], offsets: [0, 3, 3], mode: .sum, weights: [0.5, -1, 2, 0.25, 3]) }
        checkGradients([random([4, 3], seed: 11)]) { scatterAdd($0[0], indices: [2, 0, 2, 5], rows: 6) }
    }

    @Test("softmax and log-softmax, with masked entries")
    func softmaxes() {
        let x = random([3, 5], seed: 12, low: -2, high: 2)
        checkGradients([x]) { softmax($0[0]) }
        checkGradients([x]) { logSoftmax($0[0]) }
        let mask = Mask(shape: [3, 5], bits: (0..<15).map { $0 % 4 == 1 })
        checkGradients([x]) { softmax(maskedFill($0[0], mask, value: -.infinity)) }
    }

    @Test("layer norm and batch norm (training and evaluation)")
    func norms() {
        let x = random([4, 5], seed: 13, low: -2, high: 2), gamma = random([5], seed: 14, low: 0.5, high: 1.5), beta = random([5], seed: 15)
        checkGradients([x, gamma, beta]) { layerNorm($0[0], gamma: $0[1], beta: $0[2]) }
        checkGradients([x, gamma, beta]) { batchNorm($0[0], gamma: $0[1], beta: $0[2], running: RunningStatistics(features: 5)) }
        let stats = RunningStatistics(features: 5)
        stats.mean = [0.1, -0.2, 0.3, 0, 0.5]; stats.variance = [1, 2, 0.5, 1.5, 1]
        func eval(_ xs: [Value]) -> Value {
            xs[0].tape.isTraining = false
            return batchNorm(xs[0], gamma: xs[1], beta: xs[2], running: stats)
        }
        checkGradients([x, gamma, beta], eval)
    }

    @Test("dropout (fixed seed) and masking")
    func dropoutAndMask() {
        let x = random([4, 6], seed: 16)
        checkGradients([x]) { dropout($0[0], probability: 0.3) }
        checkGradients([x]) { maskedFill($0[0], Mask(shape: [1, 6], bits: [true, false, false, true, false, false]), value: 0) }
    }

    @Test("scaled dot-product attention, causal and with padding")
    func attention() {
        let q = random([2, 2, 3, 4], seed: 17), k = random([2, 2, 4, 4], seed: 18), v = random([2, 2, 4, 4], seed: 19)
        checkGradients([q, k, v]) { scaledDotProductAttention($0[0], $0[1], $0[2]) }
        checkGradients([q, k, v]) { scaledDotProductAttention($0[0], $0[1], $0[2], keyPadding: [false, false, true, false, false, true, true, false]) }
        let qs = random([1, 2, 4, 4], seed: 20), ks = random([1, 2, 4, 4], seed: 21), vs = random([1, 2, 4, 4], seed: 22)
        checkGradients([qs, ks, vs]) { scaledDotProductAttention($0[0], $0[1], $0[2], causal: true) }
        // With dropout on the probabilities (the check's tapes share a seed, so the same mask).
        checkGradients([q, k, v]) { scaledDotProductAttention($0[0], $0[1], $0[2], keyPadding: [false, false, true, false, false, true, true, false], dropout: 0.3) }
    }

    @Test("attention dropout equals dropout of softmax(QKᵀ/√d)·V built from primitives, and is off in evaluation")
    func attentionDropout() {
        let q = random([2, 2, 5, 4], seed: 40), k = random([2, 2, 6, 4], seed: 41), v = random([2, 2, 6, 4], seed: 42)
        // Fused on a training tape vs. the masked probabilities built by hand from the same mask.
        let tape = Tape(training: true, seed: 11)
        let (qv, kv, vv) = (tape.variable(q), tape.variable(k), tape.variable(v))
        let fused = scaledDotProductAttention(qv, kv, vv, dropout: 0.4)
        let probabilities = softmax(matmul(tape.constant(q), tape.constant(k), transposeB: true) * (1 / Float(4).squareRoot())).tensor
        let mask = DropoutMask(key: Tape(training: true, seed: 11).rng.next(), probability: 0.4)
        var dropped = probabilities
        dropped.storage = probabilities.storage.enumerated().map { mask.kept($0.offset) ? $0.element / 0.6 : 0 }
        let expected = matmul(tape.constant(dropped), tape.constant(v)).tensor
        #expect(zip(fused.tensor.storage, expected.storage).allSatisfy { abs($0 - $1) < 1e-5 })
        #expect(probabilities.storage.enumerated().contains { !mask.kept($0.offset) }, "some probabilities are dropped")
        // Evaluation: no dropout.
        let eval = Tape(training: false)
        let plain = scaledDotProductAttention(eval.variable(q), eval.variable(k), eval.variable(v), dropout: 0.4)
        let none = scaledDotProductAttention(eval.variable(q), eval.variable(k), eval.variable(v))
        #expect(plain.tensor.storage == none.tensor.storage)
    }
}

@Suite("Fast ops match their compositions and references")
struct FusedOpTests {
    func close(_ a: Tensor, _ b: Tensor, _ tolerance: Float = 1e-4) -> Bool {
        a.shape == b.shape && zip(a.storage, b.storage).allSatisfy { abs($0 - $1) <= tolerance * max(1, abs($1)) }
    }

    @Test("fused attention equals softmax(QKᵀ/√d + mask)·V built from primitive ops, values and gradients")
    func attentionMatchesComposition() {
        let q = random([2, 2, 5, 4], seed: 30), k = random([2, 2, 5, 4], seed: 31), v = random([2, 2, 5, 4], seed: 32)
        let padding = [false, false, false, true, true, false, false, false, false, false]
        var bits = [Bool]()
        for b in 0..<2 { for _ in 0..<2 { for i in 0..<5 { for j in 0..<5 { bits.append(j > i || padding[b * 5 + j]) } } } }
        let mask = Mask(shape: [2, 2, 5, 5], bits: bits)
        let t1 = Tape(), t2 = Tape()
        let (q1, k1, v1) = (t1.variable(q), t1.variable(k), t1.variable(v))
        let (q2, k2, v2) = (t2.variable(q), t2.variable(k), t2.variable(v))
        let fused = scaledDotProductAttention(q1, k1, v1, causal: true, keyPadding: padding)
        let scores = matmul(q2, k2, transposeB: true) * (1 / Float(4).squareRoot())
        let composed = matmul(softmax(maskedFill(scores, mask, value: -.infinity)), v2)
        #expect(close(fused.tensor, composed.tensor))
        let r = Tensor.uniform(shape: fused.shape, low: -1, high: 1, seed: 33)
        t1.backward(sum(fused * t1.constant(r)))
        t2.backward(sum(composed * t2.constant(r)))
        for (a, b) in [(q1, q2), (k1, k2), (v1, v2)] { #expect(close(t1.gradient(a)!, t2.gradient(b)!)) }
    }

    /// Packed `[N, 3E]` rows of sequences of `lengths`, and the same rows left-padded into
    /// `[B, H, T, d]` query, key and value tensors with their key-padding mask.
    static func padded(_ packed: Tensor, lengths: [Int], heads: Int) -> (q: Tensor, k: Tensor, v: Tensor, padding: [Bool], rows: [Int?]) {
        let e = packed.shape[1] / 3, d = e / heads, b = lengths.count, t = lengths.max()!
        var parts = [Tensor](repeating: Tensor(shape: [b, heads, t, d]), count: 3)
        var padding = [Bool](repeating: true, count: b * t), rows = [Int?](repeating: nil, count: b * t)
        var row = 0
        for (s, l) in lengths.enumerated() {
            for i in 0..<l {
                let c = t - l + i
                padding[s * t + c] = false
                rows[s * t + c] = row
                for part in 0..<3 {
                    for h in 0..<heads {
                        for x in 0..<d { parts[part].storage[((s * heads + h) * t + c) * d + x] = packed.storage[row * 3 * e + part * e + h * d + x] }
                    }
                }
                row += 1
            }
        }
        return (parts[0], parts[1], parts[2], padding, rows)
    }

    @Test("packed self-attention equals the padded op with its key-padding mask: values and gradients, causal or not, several heads",
          arguments: [true, false])
    func packedMatchesPadded(causal: Bool) {
        let lengths = [3, 0, 5, 1, 4], heads = 2, d = 4, e = heads * d
        let n = lengths.reduce(0, +)
        let packed = random([n, 3 * e], seed: 50)
        let (q, k, v, padding, rows) = Self.padded(packed, lengths: lengths, heads: heads)
        let (b, t) = (lengths.count, lengths.max()!)
        let t1 = Tape(), t2 = Tape()
        let x = t1.variable(packed)
        let fast = packedSelfAttention(x, heads: heads, lengths: lengths, causal: causal)
        let (q2, k2, v2) = (t2.variable(q), t2.variable(k), t2.variable(v))
        let slow = scaledDotProductAttention(q2, k2, v2, causal: causal, keyPadding: padding)   // [B, H, T, d]
        #expect(fast.shape == [n, e])
        let fastValues = fast.tensor.storage
        // Outputs at the real positions, and a weighted sum of them for the gradients.
        let r = Tensor.uniform(shape: [n, e], low: -1, high: 1, seed: 51)
        var rPadded = Tensor(shape: [b, heads, t, d])
        var worst: Float = 0
        for s in 0..<b {
            for c in 0..<t {
                guard let row = rows[s * t + c] else { continue }
                for h in 0..<heads {
                    for z in 0..<d {
                        let padIndex = ((s * heads + h) * t + c) * d + z
                        worst = max(worst, abs(fast.tensor.storage[row * e + h * d + z] - slow.tensor.storage[padIndex]))
                        rPadded.storage[padIndex] = r.storage[row * e + h * d + z]
                    }
                }
            }
        }
        #expect(worst < 1e-5, "largest difference \(worst)")
        t1.backward(sum(fast * t1.constant(r)))
        t2.backward(sum(slow * t2.constant(rPadded)))
        let unpacked = Self.padded(t1.gradient(x)!, lengths: lengths, heads: heads)
        let (gq, gk, gv) = (unpacked.q, unpacked.k, unpacked.v)
        var gradientWorst: Float = 0
        for (fastGradient, slowGradient) in [(gq, t2.gradient(q2)!), (gk, t2.gradient(k2)!), (gv, t2.gradient(v2)!)] {
            for (i, isPadding) in padding.enumerated() where !isPadding {
                let (s, c) = (i / t, i % t)
                for h in 0..<heads {
                    for z in 0..<d {
                        let index = ((s * heads + h) * t + c) * d + z
                        gradientWorst = max(gradientWorst, abs(fastGradient.storage[index] - slowGradient.storage[index]))
                    }
                }
            }
        }
        #expect(gradientWorst < 1e-5, "largest gradient difference \(gradientWorst)")
        checkGradients([packed]) { packedSelfAttention($0[0], heads: heads, lengths: lengths, causal: causal) }
        // Dropout: the same mask in forward and backward (the check's tapes share a seed), and it drops.
        checkGradients([packed]) { packedSelfAttention($0[0], heads: heads, lengths: lengths, causal: causal, dropout: 0.3) }
        let train = Tape(training: true, seed: 3), eval = Tape(training: false)
        let dropped = packedSelfAttention(train.variable(packed), heads: heads, lengths: lengths, causal: causal, dropout: 0.3).tensor
        let plain = packedSelfAttention(eval.variable(packed), heads: heads, lengths: lengths, causal: causal, dropout: 0.3).tensor
        #expect(dropped.storage != plain.storage && plain.storage == fastValues, "dropout in training only")
    }

    @Test("softmax rows equal the textbook formula; fully masked rows are zeros")
    func softmaxReference() {
        var x = random([4, 7], seed: 34, low: -3, high: 3).storage
        for j in 0..<7 { x[2 * 7 + j] = -.infinity }
        let expected: [Float] = (0..<4).flatMap { r -> [Float] in
            let row = x[(r * 7)..<((r + 1) * 7)].map(Double.init)
            if row.allSatisfy({ $0 == -.infinity }) { return [Float](repeating: 0, count: 7) }
            let total = row.map { Foundation.exp($0) }.reduce(0, +)
            return row.map { Float(Foundation.exp($0) / total) }
        }
        x.withUnsafeMutableBufferPointer { Kernels.softmaxRows($0.baseAddress!, rows: 4, n: 7) }
        #expect(zip(x, expected).allSatisfy { abs($0 - $1) < 1e-6 })
    }

    @Test("a parameter table read by gather gets sparse row gradients, never a dense one")
    func sparseRows() {
        let table = Parameter(random([1000, 4], seed: 35))
        let tape = Tape()
        let rows = gather(tape.parameter(table), indices: [7, 3, 7, 999, 5], padding: 5)
        tape.backward(sum(rows))
        #expect(table.grad == nil)
        let sparse = table.sparseGrad!.coalesced()
        #expect(sparse.rows == [3, 7, 999])
        #expect(sparse.values == [1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 1, 1])
    }

    @Test("a weighted bag equals gather then segment-weighted sum: same outputs, same sparse gradients of a parameter table")
    func weightedBag() {
        var rng = TailorRandom(seed: 78)
        let table = Parameter(random([300, 6], seed: 79))
        let indices = (0..<400).map { _ in Int32(rng.nextInt(below: 300)) }
        let offsets = [0, 0, 37, 150, 151, 399]
        let weights = (0..<400).map { _ in Float(rng.nextGaussian()) }
        let upstream = random([6, 6], seed: 80)
        func run(_ fused: Bool) -> (Tensor, SparseRows) {
            table.sparseGrad = nil
            let tape = Tape()
            let p = tape.parameter(table)
            let pooled = fused ? embeddingBag(p, indices: indices, offsets: offsets, mode: .sum, weights: weights)
                : segmentWeightedSum(gather(p, indices: indices), weights: tape.constant(Tensor(shape: [400], storage: weights)), offsets: offsets)
            let forward = pooled.tensor  // backward frees activations
            tape.backward(sum(pooled * tape.constant(upstream)))
            return (forward, table.sparseGrad!.coalesced())
        }
        let (a, ga) = run(true), (b, gb) = run(false)
        #expect(a == b, "the forward sums are the same products in the same order")
        #expect(ga.rows == gb.rows && zip(ga.values, gb.values).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) })
    }

    @Test("coalescing sparse rows equals the sort-and-merge reference bit for bit, compact or scattered indices")
    func coalescing() {
        var rng = TailorRandom(seed: 77)
        for (count, range, width) in [(0, 10, 3), (1, 5, 2), (500, 40, 8), (2000, 5_000_000, 4), (300, 1 << 30, 1)] {
            var s = SparseRows(width: width)
            for _ in 0..<count {
                s.rows.append(Int32(rng.nextInt(below: range)))
                for _ in 0..<width { s.values.append(Float(rng.nextGaussian())) }
            }
            let fast = s.coalesced(), slow = s.referenceCoalesced()
            #expect(fast == slow, "\(count) entries over \(range) rows")
            #expect(fast.rows == fast.rows.sorted() && Set(fast.rows).count == fast.rows.count)
        }
    }

    @Test("a parameter used twice gets the sum of both gradients; frozen parameters get none")
    func parameters() {
        let w = Parameter(Tensor(shape: [2], storage: [1, 2]))
        let frozen = Parameter(Tensor(shape: [2], storage: [3, 4]))
        frozen.requiresGrad = false
        let tape = Tape()
        let a = tape.parameter(w), f = tape.parameter(frozen)
        tape.backward(sum(a * a + a * f))
        #expect(w.grad?.storage == [2 * 1 + 3, 2 * 2 + 4])
        #expect(frozen.grad == nil)
    }

    @Test("backward releases the activations each op captured")
    func releases() {
        let tape = Tape()
        let x = tape.variable(random([64, 64], seed: 36))
        let y = relu(matmul(x, x)) + x
        let loss = sum(y)
        #expect(tape.nodes.contains { $0.backward != nil })
        tape.backward(loss)
        #expect(tape.nodes.allSatisfy { $0.backward == nil })
    }
}
