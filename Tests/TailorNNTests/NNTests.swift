import Foundation
import Testing
import TailorAutodiff
import TailorLinalg
@testable import TailorNN

func random(_ shape: [Int], seed: UInt64, low: Float = -1, high: Float = 1) -> Tensor {
    Tensor.uniform(shape: shape, low: low, high: high, seed: seed)
}

func expectGradients(_ inputs: [Tensor], tolerance: Float = 3e-2, sourceLocation: SourceLocation = #_sourceLocation, _ f: ([Value]) -> Value) {
    let bad = GradientCheck.mismatches(inputs, tolerance: tolerance, f)
    #expect(bad.isEmpty, "\(bad.prefix(5))", sourceLocation: sourceLocation)
}

func temporaryURL(_ name: String) -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("tailor-nn-\(name)-\(UUID().uuidString.prefix(8))")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

@Suite("Networks learn")
struct LearningTests {
    @Test("a tiny MLP learns XOR")
    func xor() throws {
        let model = MLP([2, 8, 1], activation: .tanh, seed: 3)
        let optimizer = Adam(model.namedParameters(), learningRate: 0.05)
        let inputs = Tensor([[0, 0], [0, 1], [1, 0], [1, 1]]), targets = Tensor(shape: [4, 1], storage: [0, 1, 1, 0])
        var last: Float = 1
        for _ in 0..<500 {
            let tape = Tape()
            let loss = Loss.binaryCrossEntropy(logits: model(tape.constant(inputs)), targets: targets)
            last = loss.scalar
            tape.backward(loss)
            optimizer.step()
            optimizer.zeroGrad()
        }
        let out = model(Tape(training: false).constant(inputs)).tensor.storage
        #expect(last < 0.05, "loss \(last)")
        #expect(out.map { $0 > 0 } == [false, true, true, false])
    }
}

@Suite("README")
struct ReadmeNNTests {
    @Test("the README's XOR example runs as written, learns, and saves a checkpoint")
    func readmeExample() throws {
        let url = temporaryURL("readme").appendingPathComponent("xor.safetensors")
        // --- as in README.md, "The neural engine" ---
        let model = MLP([2, 8, 1], activation: .tanh)
        let optimizer = Adam(model.namedParameters(), learningRate: 0.05)
        let x = Tensor([[0, 0], [0, 1], [1, 0], [1, 1]]), y = Tensor(shape: [4, 1], storage: [0, 1, 1, 0])
        for _ in 0..<500 {
            let tape = Tape()                                   // one tape per step
            let loss = Loss.binaryCrossEntropy(logits: model(tape.constant(x)), targets: y)
            tape.backward(loss)
            optimizer.step()
            optimizer.zeroGrad()
        }
        try model.save(to: url)
        // ---
        let out = model(Tape(training: false).constant(x)).tensor.storage
        #expect(out.map { $0 > 0 } == [false, true, true, false])
        let copy = MLP([2, 8, 1], activation: .tanh, seed: 9)
        try copy.load(from: url)
        #expect(copy(Tape(training: false).constant(x)).tensor.storage == out)
    }
}

@Suite("Modules and layers")
struct ModuleTests {
    @Test("parameters are named like PyTorch's state_dict, and round-trip through safetensors")
    func names() throws {
        let mlp = MLP([4, 8, 8, 2], batchNorm: true, dropout: 0.1)
        #expect(mlp.namedParameters().map(\.0) == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias", "6.weight", "6.bias", "8.weight", "8.bias"])
        #expect(mlp.namedBuffers().map(\.0) == ["2.running_mean", "2.running_var", "6.running_mean", "6.running_var"])
        let block = TransformerEncoderBlock(width: 8, heads: 2, feedForward: 16)
        #expect(Set(block.namedParameters().map(\.0)) == ["self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight",
                                                           "self_attn.out_proj.bias", "linear1.weight", "linear1.bias", "linear2.weight",
                                                           "linear2.bias", "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias"])
        #expect(GRU(inputs: 3, hidden: 4).namedParameters().map(\.0) == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"])
        let url = temporaryURL("names").appendingPathComponent("m.safetensors")
        try mlp.save(to: url)
        let other = MLP([4, 8, 8, 2], batchNorm: true, dropout: 0.1, seed: 99)
        #expect(other.stateDict() != mlp.stateDict())
        try other.load(from: url)
        #expect(other.stateDict() == mlp.stateDict())
    }

    @Test("loading names what is missing, unexpected or mis-shaped")
    func strictLoading() {
        let linear = Linear(3, 2)
        #expect { try linear.load(stateDict: ["weight": Tensor(shape: [2, 3])]) } throws: { "\($0)".contains("missing: bias") }
        #expect { try linear.load(stateDict: ["weight": Tensor(shape: [3, 2]), "bias": Tensor(shape: [2])]) } throws: { "\($0)".contains("'weight' has shape [3, 2]") }
        #expect { try linear.load(stateDict: ["weight": Tensor(shape: [2, 3]), "bias": Tensor(shape: [2]), "extra": Tensor(scalar: 1)]) } throws: { "\($0)".contains("unexpected: extra") }
        #expect(throws: Never.self) { try linear.load(stateDict: ["weight": Tensor(shape: [2, 3])], strict: false) }
    }

    @Test("freezing by name prefix: no gradient, no update; unfreezing restores both")
    func freezing() {
        let mlp = MLP([3, 4, 2])
        mlp.freeze(["0."])
        let before = mlp.stateDict()
        let optimizer = SGD(mlp.namedParameters(), learningRate: 0.1)
        let tape = Tape()
        tape.backward(sum(mlp(tape.constant(random([5, 3], seed: 1)))))
        optimizer.step()
        let after = mlp.stateDict()
        #expect(after["0.weight"] == before["0.weight"] && after["2.weight"] != before["2.weight"])
        mlp.unfreeze()
        let all = mlp.parameters.allSatisfy { $0.requiresGrad }
        #expect(all)
    }

    @Test("Linear is x·Wᵀ + b; Embedding's padding row is zero and untrained")
    func basics() {
        let linear = Linear(2, 3)
        linear.weight.value = Tensor([[1, 2], [3, 4], [5, 6]])
        linear.bias!.value = Tensor(shape: [3], storage: [1, 0, -1])
        #expect(linear(Tape().constant(Tensor([[1, 1]]))).tensor.storage == [4, 7, 10])
        let embedding = Embedding(10, 4, padding: 0)
        let tape = Tape()
        let rows = embedding([0, 3], tape: tape)
        #expect(rows.tensor.storage.prefix(4).allSatisfy { $0 == 0 })
        tape.backward(sum(rows))
        #expect(embedding.weight.sparseGrad?.rows == [3])
    }

    @Test("layers' input gradients match finite differences")
    func layerGradients() {
        // Smooth activations: with ReLU, central differences are wrong wherever a pre-activation
        // lies within ε of zero, which depends on the random draw (ReLU's own gradient is
        // checked in TailorAutodiffTests).
        let block = TransformerEncoderBlock(width: 8, heads: 2, feedForward: 12, dropout: 0, activation: .gelu)
        expectGradients([random([2, 3, 8], seed: 2)]) { block($0[0], causal: true) }
        let pre = TransformerEncoderBlock(width: 8, heads: 2, feedForward: 12, dropout: 0, activation: .gelu, normFirst: true)
        expectGradients([random([2, 3, 8], seed: 3)]) { pre($0[0], keyPadding: [false, false, true, false, true, true]) }
        let gru = GRU(inputs: 3, hidden: 4)
        expectGradients([random([2, 3, 3], seed: 4)]) { gru($0[0]).outputs }
        let mlp = MLP([3, 5, 2], activation: .gelu, batchNorm: true)
        expectGradients([random([4, 3], seed: 5)]) { mlp($0[0]) }
        let bag = EmbeddingBag(6, 3)
        expectGradients([bag.weight.value]) { v in embeddingBag(v[0], indices: [1, 2, 5], offsets: [0, 1]) }
    }

    @Test("a GRU step follows the equations")
    func gruEquations() {
        let gru = GRU(inputs: 2, hidden: 2, seed: 5)
        let x = random([1, 1, 2], seed: 6)
        let h = gru(Tape().constant(x)).last.tensor.storage
        let wih = gru.weightIH.value.storage, bih = gru.biasIH.value.storage, bhh = gru.biasHH.value.storage
        func sig(_ v: Float) -> Float { 1 / (1 + expf(-v)) }
        var expected: [Float] = []
        for j in 0..<2 {  // h0 = 0, so Wₕ·h vanishes and only the biases remain
            func gate(_ g: Int) -> Float { wih[(g * 2 + j) * 2] * x.storage[0] + wih[(g * 2 + j) * 2 + 1] * x.storage[1] + bih[g * 2 + j] }
            let r = sig(gate(0) + bhh[j]), z = sig(gate(1) + bhh[2 + j])
            let n = tanhf(gate(2) + r * bhh[4 + j])
            expected.append((1 - z) * n)
        }
        #expect(zip(h, expected).allSatisfy { abs($0 - $1) < 1e-5 })
    }

    @Test("the fused GRU recurrence equals the step-by-step layer: states and every gradient, with padding, resets and an initial state",
          arguments: [(3, 5, 4), (16, 30, 48)])   // (batch, steps, hidden): one worker, then rows split between workers
    func gruSequenceMatchesSteps(shape: (Int, Int, Int)) {
        let (b, t, hidden) = shape
        let gru = GRU(inputs: 3, hidden: hidden, seed: 11)
        let x = random([b, t, 3], seed: 12), h0 = random([b, hidden], seed: 13)
        // Rows 0–2 unpadded: row 0 starts a new sequence at step 0 (its initial state ignored), row 1
        // is cut by a padding step in the middle, row 2 starts a new sequence two steps before
        // its end (session-parallel batches); the other rows have left padding of varying length.
        var keep = (0..<(b * t)).map { i in i % t >= (i / t < 3 ? 0 : (i / t) % max(1, t - 1)) }
        keep[1 * t + t / 2] = false
        var resets = [Bool](repeating: false, count: b * t)
        resets[0] = true
        resets[2 * t + t - 2] = true
        let r = random([b, t, hidden], seed: 14)
        var results: [(outputs: [Float], last: [Float], gradients: [[Float]])] = []
        for fused in [true, false] {
            for (_, p) in gru.namedParameters() { p.zeroGrad() }
            let tape = Tape()
            let (xv, hv) = (tape.variable(x), tape.variable(h0))
            let (outputs, last) = fused ? gru(xv, initial: hv, keep: keep, resets: resets) : gru.steps(xv, initial: hv, keep: keep, resets: resets)
            let values = (outputs.tensor.storage, last.tensor.storage)
            tape.backward(sum(outputs * tape.constant(r)) + sum(last))
            results.append((values.0, values.1, [tape.gradient(xv)!.storage, tape.gradient(hv)!.storage] + gru.namedParameters().map { $0.1.grad!.storage }))
        }
        func worst(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0 }
        #expect(worst(results[0].outputs, results[1].outputs) < 1e-5)
        #expect(worst(results[0].last, results[1].last) < 1e-5)
        #expect(results[0].gradients[1][0..<hidden].allSatisfy { $0 == 0 }, "a reset at step 0 ignores row 0's initial state")
        for (n, name) in (["x", "initial"] + gru.namedParameters().map(\.0)).enumerated() {
            let difference = worst(results[0].gradients[n], results[1].gradients[n])
            #expect(difference < 1e-4, "\(name): \(difference)")
            #expect(results[0].gradients[n].contains { $0 != 0 }, "\(name) gets a gradient")
        }
    }

    @Test("a GRU reset by a keep mask after left padding ends where the unpadded sequence ends; gradients pass the mask")
    func gruKeepMask() {
        let gru = GRU(inputs: 3, hidden: 4, seed: 8)
        let real = random([1, 2, 3], seed: 9)
        // Three padding steps (any input) before the two real ones.
        let padded = Tensor(shape: [1, 5, 3], storage: random([1, 3, 3], seed: 10).storage + real.storage)
        let keep = [false, false, false, true, true]
        let plain = gru(Tape().constant(real)).last.tensor.storage
        let masked = gru(Tape().constant(padded), keep: keep).last.tensor.storage
        #expect(zip(plain, masked).allSatisfy { abs($0 - $1) < 1e-6 }, "\(plain) vs \(masked)")
        let unmasked = gru(Tape().constant(padded)).last.tensor.storage
        #expect(zip(plain, unmasked).contains { abs($0 - $1) > 1e-3 }, "without the mask the padding steps change the state")
        expectGradients([padded]) { gru($0[0], keep: keep).outputs }
    }
}

@Suite("Losses")
struct LossTests {
    @Test("binary cross-entropy with a positive-class weight matches the formula and its gradient")
    func bce() {
        let logits = Tensor(shape: [3], storage: [2, -1, 0.5]), targets = Tensor(shape: [3], storage: [1, 0, 1])
        let loss = Loss.binaryCrossEntropy(logits: Tape().constant(logits), targets: targets, positiveWeight: 3).scalar
        func s(_ x: Float) -> Float { 1 / (1 + expf(-x)) }
        let expected = -(3 * logf(s(2)) + logf(1 - s(-1)) + 3 * logf(s(0.5))) / 3
        #expect(abs(loss - expected) < 1e-5)
        expectGradients([logits]) { Loss.binaryCrossEntropy(logits: $0[0], targets: targets, positiveWeight: 3) }
    }

    @Test("cross-entropy, sampled softmax, BPR and MSE: values and gradients")
    func others() {
        let logits = random([3, 4], seed: 7)
        let ce = Loss.crossEntropy(logits: Tape().constant(logits), targets: [0, 3, 1]).scalar
        let expected = (0..<3).map { r -> Float in
            let row = logits.storage[(r * 4)..<((r + 1) * 4)]
            let t = [0, 3, 1][r]
            return -(row[r * 4 + t] - logf(row.map { expf($0) }.reduce(0, +)))
        }.reduce(0, +) / 3
        #expect(abs(ce - expected) < 1e-5)
        expectGradients([logits]) { Loss.crossEntropy(logits: $0[0], targets: [0, 3, 1], classWeights: [1, 2, 1, 0.5]) }
        let logQ: [Float] = [-1, -2, -1.5, -3, -0.5]
        expectGradients([random([2, 3], seed: 8), random([5, 3], seed: 9)]) {
            Loss.sampledSoftmax(queries: $0[0], items: $0[1], positives: [1, 3], negatives: [0, 3, 4], logQ: logQ)
        }
        // In-batch softmax: gradients, and the value against the formula written out. Rows 0 and
        // 2 share item 7, so each masks the other out.
        let ids: [Int32] = [7, 2, 7]
        let itemLogQ: [Float] = (0..<8).map { -Float($0 + 1) / 4 }
        expectGradients([random([3, 4], seed: 11), random([3, 4], seed: 12)]) {
            Loss.inBatchSoftmax(queries: $0[0], items: $0[1], itemIDs: ids, logQ: itemLogQ, temperature: 0.5)
        }
        let q = random([3, 4], seed: 13), v = random([3, 4], seed: 14)
        let tape = Tape(training: false)
        let value = Loss.inBatchSoftmax(queries: tape.constant(q), items: tape.constant(v), itemIDs: ids, logQ: itemLogQ, temperature: 0.5).scalar
        var reference: Float = 0
        for r in 0..<3 {
            var logits: [Float] = []
            for j in 0..<3 where j == r || ids[j] != ids[r] {
                let dot = (0..<4).map { q.storage[r * 4 + $0] * v.storage[j * 4 + $0] }.reduce(0, +)
                logits.append(dot / 0.5 - itemLogQ[Int(ids[j])])
            }
            let own = (0..<4).map { q.storage[r * 4 + $0] * v.storage[r * 4 + $0] }.reduce(0, +) / 0.5 - itemLogQ[Int(ids[r])]
            reference += (log(logits.map { exp($0) }.reduce(0, +)) - own) / 3
        }
        #expect(abs(value - reference) < 1e-5, "\(value) vs \(reference)")
        // Mixed with two uniform draws from 8 items, one of them row 1's positive (masked there).
        let u = random([2, 4], seed: 15), extraIDs: [Int32] = [2, 5]
        expectGradients([random([3, 4], seed: 11), random([3, 4], seed: 12), random([2, 4], seed: 16)]) {
            Loss.mixedSoftmax(queries: $0[0], items: $0[1], itemIDs: ids, logQ: itemLogQ, temperature: 0.5, extra: $0[2], extraIDs: extraIDs, catalogue: 8)
        }
        let mixed = Loss.mixedSoftmax(queries: tape.constant(q), items: tape.constant(v), itemIDs: ids, logQ: itemLogQ, temperature: 0.5,
                                      extra: tape.constant(u), extraIDs: extraIDs, catalogue: 8).scalar
        var mixedReference: Float = 0
        for r in 0..<3 {
            func dot(_ w: Tensor, _ j: Int) -> Float { (0..<4).map { q.storage[r * 4 + $0] * w.storage[j * 4 + $0] }.reduce(0, +) / 0.5 }
            var logits: [Float] = []
            for j in 0..<3 where j == r || ids[j] != ids[r] { logits.append(dot(v, j) - (itemLogQ[Int(ids[j])] + log(3))) }
            for j in 0..<2 where extraIDs[j] != ids[r] { logits.append(dot(u, j) - (log(2) - log(8))) }
            mixedReference += (log(logits.map { exp($0) }.reduce(0, +)) - (dot(v, r) - (itemLogQ[Int(ids[r])] + log(3)))) / 3
        }
        #expect(abs(mixed - mixedReference) < 1e-5, "\(mixed) vs \(mixedReference)")
        let bpr = Loss.bpr(positive: Tape().constant(Tensor(shape: [2], storage: [2, 0])), negative: Tape().constant(Tensor(shape: [2], storage: [1, 1]))).scalar
        #expect(abs(bpr - (log1pf(expf(-1)) + log1pf(expf(1))) / 2) < 1e-6)
        expectGradients([random([2, 3], seed: 10)]) { Loss.meanSquaredError($0[0], Tensor(shape: [2, 3], repeating: 0.5)) }
    }
}

@Suite("Optimizers and schedules")
struct OptimizerTests {
    func parameter(_ values: [Float], grad: [Float]) -> Parameter {
        let p = Parameter(Tensor(shape: [values.count], storage: values))
        p.grad = Tensor(shape: [grad.count], storage: grad)
        return p
    }

    @Test("SGD with momentum: two hand-computed steps")
    func sgd() {
        let p = parameter([1], grad: [0.5])
        let opt = SGD([("p", p)], learningRate: 0.1, momentum: 0.9)
        opt.step()  // v = 0.5, w = 1 − 0.05
        p.grad = Tensor(shape: [1], storage: [0.5])
        opt.step()  // v = 0.9·0.5 + 0.5 = 0.95, w = 0.95 − 0.095
        #expect(abs(p.value.storage[0] - 0.855) < 1e-6)
    }

    @Test("Adam's first step is lr·sign(g); AdamW decays weights apart from the gradient")
    func adam() {
        let p = parameter([1, -1], grad: [0.3, -0.001])
        Adam([("p", p)], learningRate: 0.01).step()
        #expect(zip(p.value.storage, [0.99, -0.99]).allSatisfy { abs($0 - $1) < 1e-4 })
        let q = parameter([2], grad: [0])
        Adam([("q", q)], learningRate: 0.1, weightDecay: 0.5, decoupledWeightDecay: true).step()
        #expect(abs(q.value.storage[0] - 2 * (1 - 0.05)) < 1e-6)
    }

    @Test("Adam and AdamW on a large parameter (parallel, vectorized) follow the textbook update in Double", arguments: [false, true])
    func adamReference(decoupled: Bool) {
        let n = 100_000
        let w0 = Tensor.uniform(shape: [n], low: -1, high: 1, seed: 3).storage
        let p = Parameter(Tensor(shape: [n], storage: w0))
        let opt = Adam([ParameterGroup([("p", p)], learningRate: 0.01, weightDecay: 0.1)], decoupledWeightDecay: decoupled)
        var w = w0.map(Double.init), m = [Double](repeating: 0, count: n), v = m
        for step in 1...3 {
            let g = Tensor.uniform(shape: [n], low: -1, high: 1, seed: UInt64(10 + step))
            p.grad = g
            opt.step()
            let (b1, b2, lr, wd) = (0.9, 0.999, 0.01, 0.1)
            for i in 0..<n {
                var gi = Double(g.storage[i])
                if !decoupled { gi += wd * w[i] } else { w[i] *= 1 - lr * wd }
                m[i] = b1 * m[i] + (1 - b1) * gi
                v[i] = b2 * v[i] + (1 - b2) * gi * gi
                let mHat = m[i] / (1 - pow(b1, Double(step))), vHat = v[i] / (1 - pow(b2, Double(step)))
                w[i] -= lr * mHat / (vHat.squareRoot() + 1e-8)
            }
        }
        let worst = zip(p.value.storage, w).map { abs(Double($0) - $1) }.max() ?? 0
        #expect(worst < 1e-5, "largest difference \(worst)")
    }

    @Test("lazy rows follow SparseAdam's arithmetic (ε before the bias correction), dense ones Adam's")
    func sparseEpsilon() {
        let table = Parameter(Tensor(shape: [2, 1], repeating: 0))
        let dense = parameter([0], grad: [1e-7])
        let opt = Adam([("table", table), ("dense", dense)], learningRate: 1)
        var rows = SparseRows(width: 1)
        rows.rows = [1]; rows.values = [1e-7]
        table.sparseGrad = rows
        opt.step()
        // SparseAdam: √(1−β₂)/(1−β₁) · 0.1g / (√(0.001)·g + ε); Adam: g / (g + ε).
        let c2 = Float(0.001).squareRoot()
        #expect(abs(table.value.storage[1] + c2 / 0.1 * 0.1e-7 / (c2 * 1e-7 + 1e-8)) < 1e-5)
        #expect(table.value.storage[0] == 0)
        #expect(abs(dense.value.storage[0] + 1e-7 / (1e-7 + 1e-8)) < 1e-5)
    }

    @Test("SGD and Adagrad state round-trips by parameter name; a state of the wrong size is refused")
    func optimizerState() throws {
        let p = parameter([1, 2], grad: [0.5, -0.5])
        let sgd = SGD([("w", p)], learningRate: 0.1, momentum: 0.9)
        sgd.step()
        let saved = sgd.state()
        #expect(saved["w.velocity"]?.storage == [0.5, -0.5] && saved["step"]?.scalar == 1)
        let q = parameter([1, 2], grad: [0.5, -0.5])
        let restored = SGD([("w", q)], learningRate: 0.1, momentum: 0.9)
        try restored.load(state: saved)
        sgd.step(); restored.step()
        #expect(restored.state()["w.velocity"]?.storage == sgd.state()["w.velocity"]?.storage && restored.steps == 2)
        let wrong = SGD([("w", parameter([1, 2, 3], grad: [0, 0, 0]))], learningRate: 0.1, momentum: 0.9)
        #expect(throws: NNError.self) { try wrong.load(state: saved) }
        let adagrad = Adagrad([ParameterGroup([("w", parameter([1], grad: [2]))], learningRate: 0.5)])
        adagrad.step()
        #expect(adagrad.state()["w.sum"]?.storage == [4])
        #expect(throws: NNError.self) { try Adagrad([ParameterGroup([("w", parameter([1, 1], grad: [0, 0]))], learningRate: 0.5)]).load(state: adagrad.state()) }
    }

    @Test("Adagrad scales each coordinate by its accumulated squares")
    func adagrad() {
        let p = parameter([1], grad: [2])
        let opt = Adagrad([ParameterGroup([("p", p)], learningRate: 0.5)])
        opt.step()  // 1 − 0.5·2/2
        #expect(abs(p.value.storage[0] - 0.5) < 1e-6)
    }

    @Test("a tied table with dense and sparse gradients takes one step on their sum, in Adam, SGD with momentum and Adagrad",
          arguments: ["adam", "sgd", "adagrad"])
    func tiedTable(kind: String) {
        // The table used whole (an output layer: dense gradient) and read by rows (an input
        // embedding: rows 1, 1 and 3), against the same table given the summed gradient alone.
        let dense: [Float] = [0.1, -0.2, 0.3, 0.05, -0.1, 0.2, 0.4, -0.3]
        var rows = SparseRows(width: 2)
        rows.rows = [1, 3, 1]; rows.values = [0.5, -0.5, 1, 1, 0.25, 0.25]
        var summed = dense
        for (k, row) in rows.rows.enumerated() { for c in 0..<2 { summed[Int(row) * 2 + c] += rows.values[k * 2 + c] } }
        let tied = Parameter(Tensor(shape: [4, 2], repeating: 1)), plain = Parameter(Tensor(shape: [4, 2], repeating: 1))
        func optimizer(_ p: Parameter) -> any Optimizer {
            switch kind {
            case "adam": return Adam([("t", p)], learningRate: 0.1)
            case "sgd": return SGD([ParameterGroup([("t", p)], learningRate: 0.1)], momentum: 0.9)
            default: return Adagrad([ParameterGroup([("t", p)], learningRate: 0.1)])
            }
        }
        let a = optimizer(tied), b = optimizer(plain)
        for _ in 0..<3 {
            tied.grad = Tensor(shape: [4, 2], storage: dense); tied.sparseGrad = rows
            plain.grad = Tensor(shape: [4, 2], storage: summed); plain.sparseGrad = nil
            a.step(); b.step()
        }
        let worst = zip(tied.value.storage, plain.value.storage).map { abs($0 - $1) }.max()!
        #expect(worst < 1e-6, "\(kind): largest difference \(worst)")
        #expect(tied.sparseGrad == nil)
    }

    @Test("lazy Adam touches only the rows in a sparse gradient")
    func lazy() {
        let table = Parameter(Tensor(shape: [1000, 2], repeating: 1))
        let opt = Adam([("table", table)], learningRate: 0.1)
        let tape = Tape()
        tape.backward(sum(gather(tape.parameter(table), indices: [5, 7, 5])))
        opt.step()
        let changed = (0..<1000).filter { table.value.storage[$0 * 2] != 1 }
        #expect(changed == [5, 7])
    }

    @Test("gradient clipping rescales to the global norm; schedules warm up and decay")
    func clippingAndSchedules() {
        let a = parameter([0, 0], grad: [3, 0]), b = parameter([0], grad: [4])
        let opt = SGD([ParameterGroup([("a", a), ("b", b)], learningRate: 1)])
        let norm = opt.clipGradientNorm(1)
        #expect(norm == 5 && abs(a.grad!.storage[0] - 0.6) < 1e-6 && abs(b.grad!.storage[0] - 0.8) < 1e-6)
        let linear = LearningRateSchedule.warmupLinear(warmup: 10, total: 110)
        #expect(linear.multiplier(at: 5) == 0.5 && linear.multiplier(at: 10) == 1 && linear.multiplier(at: 60) == 0.5 && linear.multiplier(at: 200) == 0)
        let cosine = LearningRateSchedule.warmupCosine(warmup: 0, total: 100, floor: 0.1)
        #expect(abs(cosine.multiplier(at: 50) - 0.55) < 1e-5 && abs(cosine.multiplier(at: 100) - 0.1) < 1e-6)
    }

    @Test("parameter groups keep their own learning rates (a small one for pre-trained layers)")
    func groups() {
        let pre = parameter([1], grad: [1]), fresh = parameter([1], grad: [1])
        SGD([ParameterGroup([("pre", pre)], learningRate: 0.001), ParameterGroup([("new", fresh)], learningRate: 0.1)]).step()
        #expect(abs(pre.value.storage[0] - 0.999) < 1e-7 && abs(fresh.value.storage[0] - 0.9) < 1e-7)
    }
}

@Suite("The training loop")
struct TrainerTests {
    @Test("progress arrives as TrainingEvents: batches when asked, one step per epoch with loss and validation")
    func progressEvents() throws {
        var c = Trainer.Configuration()
        c.epochs = 3; c.batchSize = 64; c.higherIsBetter = false; c.reportEveryBatches = 2
        c.name = "linear"
        let events = EventBox()
        c.progress = { events.add($0) }
        _ = try run(c)
        let steps = events.all.filter { $0.kind == .step }, batches = events.all.filter { $0.kind == .batch }
        #expect(steps.map(\.step) == [1, 2, 3] && steps.allSatisfy { $0.model == "linear" && $0.totalSteps == 3 })
        #expect(steps.allSatisfy { $0.metrics["loss"] != nil && $0.metrics["validation"] != nil && $0.improved != nil })
        #expect(batches.count == 6 && batches.allSatisfy { $0.batches == 4 && $0.batch! % 2 == 0 })
    }

    /// A regression task: y = x·w* + noise, fitted by a linear layer.
    struct Task {
        let x: Tensor, y: Tensor
        init(seed: UInt64 = 1) {
            let inputs = random([256, 4], seed: seed)
            let w: [Float] = [1, -2, 0.5, 3]
            x = inputs
            y = Tensor(shape: [256, 1], storage: (0..<256).map { r in (0..<4).reduce(0) { $0 + inputs.storage[r * 4 + $1] * w[$1] } })
        }
        func batch(_ indices: [Int]) -> (Tensor, Tensor) {
            (Tensor(shape: [indices.count, 4], storage: indices.flatMap { x.storage[($0 * 4)..<($0 * 4 + 4)] }),
             Tensor(shape: [indices.count, 1], storage: indices.map { y.storage[$0] }))
        }
        func validation(_ model: Linear) -> Double {
            Double(Loss.meanSquaredError(model(Tape(training: false).constant(x)), y).scalar)
        }
    }

    func run(_ configuration: Trainer.Configuration, model: Linear = Linear(4, 1, seed: 2), resumeFrom: URL? = nil) throws -> (Linear, Trainer.Summary) {
        let task = Task()
        let trainer = Trainer(model: model, optimizer: Adam(model.namedParameters(), learningRate: 0.05), configuration: configuration)
        if let resumeFrom { try trainer.resume(from: resumeFrom) }
        let summary = try trainer.fit(examples: 256, loss: { tape, indices in
            let (x, y) = task.batch(indices)
            return Loss.meanSquaredError(model(tape.constant(x)), y)
        }, validate: { task.validation(model) })
        return (model, summary)
    }

    @Test("trains to a low validation loss and reports every epoch")
    func trains() throws {
        var c = Trainer.Configuration()
        c.epochs = 30; c.batchSize = 32; c.higherIsBetter = false
        let events = EventBox()
        c.progress = { events.add($0) }
        let (_, summary) = try run(c)
        #expect(summary.metrics.last! < 0.01)
        #expect(events.all.map(\.step) == Array(1...30))
    }

    @Test("a stop requested from the progress handler ends the run after that epoch; unbound, the run goes on")
    func stopRequest() throws {
        var c = Trainer.Configuration()
        c.epochs = 10; c.batchSize = 32; c.higherIsBetter = false
        let stop = TrainingStop()
        c.progress = { if $0.kind == .step && $0.step == 3 { stop.request() } }
        let (_, stopped) = try TrainingStop.$current.withValue(stop) { try run(c) }
        #expect(stopped.losses.count == 3 && stopped.stoppedEarly)
        let (_, unbound) = try run(c)  // the handler requests the same stop, but no run watches it
        #expect(unbound.losses.count == 10 && !unbound.stoppedEarly)
    }

    @Test("early stopping after `patience` epochs without improvement restores the best parameters")
    func earlyStopping() throws {
        var c = Trainer.Configuration()
        c.epochs = 200; c.batchSize = 32; c.higherIsBetter = true  // "higher is better" for a loss: epoch 1 is the best
        c.patience = 3
        let (model, summary) = try run(c)
        #expect(summary.stoppedEarly && summary.metrics.count == 4 && summary.bestEpoch == 1)
        #expect(abs(Task().validation(model) - summary.bestMetric!) < 1e-9)
    }

    @Test("a run resumed from its checkpoint ends exactly where an uninterrupted run does")
    func resume() throws {
        let dir = temporaryURL("resume")
        var full = Trainer.Configuration()
        full.epochs = 6; full.batchSize = 32; full.higherIsBetter = false
        let (uninterrupted, _) = try run(full)
        var first = full
        first.epochs = 3
        first.checkpointDirectory = dir
        _ = try run(first)
        var second = full
        second.checkpointDirectory = dir
        let (resumed, summary) = try run(second, model: Linear(4, 1, seed: 77), resumeFrom: dir)
        #expect(summary.losses.count == 6)
        #expect(resumed.stateDict() == uninterrupted.stateDict())
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("best/model.safetensors").path))
    }

    @Test("gradual unfreezing: frozen layers stay put until their epoch")
    func unfreezing() throws {
        let model = MLP([4, 6, 1], seed: 3)
        model.freeze(["0."])
        let frozen = model.stateDict()["0.weight"]
        var c = Trainer.Configuration()
        c.epochs = 4; c.batchSize = 64
        c.unfreeze = [3: ["0."]]
        var firstLayerAtEpoch: [Tensor] = []
        let task = Task()
        let trainer = Trainer(model: model, optimizer: Adam(model.namedParameters(), learningRate: 0.01), configuration: c)
        try trainer.fit(examples: 256, loss: { tape, indices in
            let (x, y) = task.batch(indices)
            return Loss.meanSquaredError(model(tape.constant(x)), y)
        }, validate: {
            firstLayerAtEpoch.append(model.stateDict()["0.weight"]!)
            return 0
        })
        #expect(firstLayerAtEpoch[0] == frozen && firstLayerAtEpoch[1] == frozen && firstLayerAtEpoch[2] != frozen)
    }

    @Test("a resumed run keeps the layers unfrozen in its earlier epochs trainable, and matches an uninterrupted run")
    func resumeAfterUnfreezing() throws {
        let dir = temporaryURL("resume-unfreeze")
        func train(epochs: Int, checkpoint: URL?, resume: Bool) throws -> MLP {
            let model = MLP([4, 6, 1], seed: 3)
            model.freeze(["0."])
            var c = Trainer.Configuration()
            c.epochs = epochs; c.batchSize = 64; c.higherIsBetter = false
            c.unfreeze = [2: ["0."]]
            c.checkpointDirectory = checkpoint
            let task = Task()
            let trainer = Trainer(model: model, optimizer: Adam(model.namedParameters(), learningRate: 0.01), configuration: c)
            if resume { try trainer.resume(from: checkpoint!) }
            try trainer.fit(examples: 256, loss: { tape, indices in
                let (x, y) = task.batch(indices)
                return Loss.meanSquaredError(model(tape.constant(x)), y)
            }, validate: { Double(Loss.meanSquaredError(model(Tape(training: false).constant(task.x)), task.y).scalar) })
            return model
        }
        let uninterrupted = try train(epochs: 5, checkpoint: nil, resume: false)
        let stoppedAfter3 = try train(epochs: 3, checkpoint: dir, resume: false)
        let resumed = try train(epochs: 5, checkpoint: dir, resume: true)
        // Before the fix the first layer stayed frozen in epochs 4–5 of the resumed run.
        #expect(resumed.stateDict()["0.weight"] != stoppedAfter3.stateDict()["0.weight"])
        #expect(resumed.stateDict() == uninterrupted.stateDict())
    }
}

final class EventBox: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [TrainingEvent] = []
    func add(_ e: TrainingEvent) { lock.lock(); events.append(e); lock.unlock() }
    var all: [TrainingEvent] { lock.lock(); defer { lock.unlock() }; return events }
}

@Suite("Checkpoints and Python")
struct InteropTests {
    static let hasPython: Bool = {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import numpy, safetensors.numpy"]
        p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
        do { try p.run(); p.waitUntilExit(); return p.terminationStatus == 0 } catch { return false }
    }()

    @Test("a checkpoint written by numpy with PyTorch's names loads; Tailor's checkpoint reads back in Python",
          .enabled(if: hasPython, "python3 with numpy and safetensors is not installed (pip install safetensors)"))
    func pythonInterop() throws {
        let dir = temporaryURL("py")
        let script = """
        import sys, numpy as np
        from safetensors.numpy import save_file, load_file
        d = sys.argv[1]
        rng = np.random.default_rng(0)
        save_file({"0.weight": rng.standard_normal((4, 3)).astype(np.float32), "0.bias": np.arange(4, dtype=np.float32),
                   "2.weight": rng.standard_normal((2, 4)).astype(np.float32), "2.bias": np.zeros(2, np.float32)}, d + "/torch.safetensors")
        if len(sys.argv) > 2:
            t = load_file(d + "/tailor.safetensors")
            x = np.array([[1, 2, 3]], np.float32)
            h = np.maximum(0, x @ t["0.weight"].T + t["0.bias"])
            print(float((h @ t["2.weight"].T + t["2.bias"])[0, 1]))
        """
        func runPython(_ args: [String]) throws -> String {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["python3", "-c", script] + args
            let out = Pipe()
            p.standardOutput = out
            try p.run(); p.waitUntilExit()
            #expect(p.terminationStatus == 0)
            return String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        _ = try runPython([dir.path])
        let mlp = MLP([3, 4, 2])
        try mlp.load(from: dir.appendingPathComponent("torch.safetensors"))
        #expect(mlp.stateDict()["0.bias"]?.storage == [0, 1, 2, 3])
        try mlp.save(to: dir.appendingPathComponent("tailor.safetensors"))
        let printed = Float(try runPython([dir.path, "read"]))!
        let mine = mlp(Tape(training: false).constant(Tensor([[1, 2, 3]]))).tensor.storage[1]
        #expect(abs(printed - mine) < 1e-5)
    }
}
