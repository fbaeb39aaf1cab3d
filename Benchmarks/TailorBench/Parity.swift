// `tailor-bench nn-parity --dir DIR [--epochs N]`: trains two small networks with Tailor's
// engine and writes, for each, the initial weights (PyTorch state_dict names), the data, the
// minibatch order and the loss after every step, so Benchmarks/nn_parity_torch.py can train the
// same networks in PyTorch from the same start and compare the curves.
import Foundation
import TailorLinalg
import TailorAutodiff
import TailorNN

private func write(_ tensors: [String: Tensor], to url: URL) throws {
    try SafeTensors.write(tensors.mapValues { SafeTensors.Tensor($0.storage, shape: $0.shape) }, to: url)
}

private func writeJSON(_ value: Any, to url: URL) throws {
    try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .prettyPrinted]).write(to: url)
}

/// A seeded permutation of `0..<n` (Fisher–Yates).
private func permutation(_ n: Int, _ rng: inout TailorRandom) -> [Int] {
    var order = Array(0..<n)
    for i in stride(from: n - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
    return order
}

/// Rows `indices` of a row-major `[n, width]` tensor.
private func rows(_ t: Tensor, _ indices: ArraySlice<Int>) -> Tensor {
    let width = t.count / t.shape[0]
    var out = [Float](); out.reserveCapacity(indices.count * width)
    for i in indices { out += t.storage[i * width..<(i + 1) * width] }
    return Tensor(shape: [indices.count] + t.shape.dropFirst(), storage: out)
}

/// MLP 16→64→64→1 with ReLU and batch norm, binary cross-entropy with a positive-class weight,
/// AdamW with weight decay, gradient clipping; then an evaluation-mode pass (running statistics).
private func mlpParity(dir: URL, epochs: Int) throws -> [String: Any] {
    let (n, d, batch) = (1024, 16, 128)
    let x = Tensor.normal(shape: [n, d], seed: 31)
    let y = Tensor(shape: [n, 1], storage: (0..<n).map { i in
        let r = x.storage[i * d..<(i + 1) * d].map { $0 }
        return r[0] * r[1] + sin(r[2]) - 0.3 * r[3] > 0 ? 1 : 0
    })
    let model = MLP([d, 64, 64, 1], batchNorm: true, seed: 7)
    try model.save(to: dir.appendingPathComponent("mlp_init.safetensors"))
    let optimizer = Adam([ParameterGroup(model.namedParameters(), learningRate: 5e-3, weightDecay: 0.01)], decoupledWeightDecay: true)
    var rng = TailorRandom(seed: 5)
    var orders: [Float] = [], losses: [Double] = []
    for _ in 0..<epochs {
        let order = permutation(n, &rng)
        orders += order.map(Float.init)
        for start in stride(from: 0, to: n, by: batch) {
            let idx = order[start..<min(n, start + batch)]
            let tape = Tape(training: true)
            optimizer.zeroGrad()
            let loss = Loss.binaryCrossEntropy(logits: model(tape.constant(rows(x, idx))), targets: rows(y, idx), positiveWeight: 1.5)
            tape.backward(loss)
            _ = optimizer.clipGradientNorm(1.0)
            optimizer.step()
            losses.append(Double(loss.scalar))
        }
    }
    let eval = Loss.binaryCrossEntropy(logits: model(Tape(training: false).constant(x)), targets: y, positiveWeight: 1.5).scalar
    try write(["x": x, "y": y, "order": Tensor(shape: [epochs, n], storage: orders)], to: dir.appendingPathComponent("mlp_data.safetensors"))
    try model.save(to: dir.appendingPathComponent("mlp_final.safetensors"))
    return ["losses": losses, "eval_loss": Double(eval), "batch": batch, "epochs": epochs]
}

/// Embedding (padding row 0, lazy Adam on sparse rows, its own learning rate) → one post-norm
/// transformer encoder block with a key-padding mask → masked mean pooling → linear head,
/// softmax cross-entropy over 3 classes.
final class ParityTransformer: Module, @unchecked Sendable {
    let embedding = Embedding(40, 32, padding: 0, seed: 3)
    let block = TransformerEncoderBlock(width: 32, heads: 2, feedForward: 64, dropout: 0, seed: 4)
    let head = Linear(32, 3, seed: 5)
    override var children: [(String, Module)] { [("embedding", embedding), ("block", block), ("head", head)] }

    func callAsFunction(tokens: [Int32], batch: Int, length: Int, tape: Tape) -> Value {
        let padding = tokens.map { $0 == 0 }
        let h = block(embedding(tokens, shape: [batch, length], tape: tape), keyPadding: padding)
        let mask = Tensor(shape: [batch, length, 1], storage: padding.map { $0 ? 0 : 1 })
        let counts = Tensor(shape: [batch, 1], storage: (0..<batch).map { b in Float(padding[b * length..<(b + 1) * length].filter { !$0 }.count) })
        let pooled = sum(h * tape.constant(mask), axis: 1) / tape.constant(counts)
        return head(pooled)
    }
}

private func transformerParity(dir: URL, epochs: Int) throws -> [String: Any] {
    let (n, length, batch) = (512, 16, 32)
    var rng = TailorRandom(seed: 11)
    var tokens = [Int32](), labels = [Int32]()
    for _ in 0..<n {
        let len = 6 + Int(rng.next() % UInt64(length - 5))
        let seq = (0..<len).map { _ in Int32(1 + rng.next() % 39) }
        var counts = [0, 0, 0]
        for t in seq { counts[Int(t - 1) / 13] += 1 }
        labels.append(Int32(counts.firstIndex(of: counts.max()!)!))
        tokens += seq + [Int32](repeating: 0, count: length - len)
    }
    let model = ParityTransformer()
    try model.save(to: dir.appendingPathComponent("transformer_init.safetensors"))
    let embeddingParameters = model.embedding.namedParameters(prefix: "embedding.")
    let rest = model.namedParameters().filter { !$0.0.hasPrefix("embedding.") }
    let optimizer = Adam([ParameterGroup(rest, learningRate: 3e-3), ParameterGroup(embeddingParameters, learningRate: 1e-2)])
    var orders: [Float] = [], losses: [Double] = []
    for _ in 0..<epochs {
        let order = permutation(n, &rng)
        orders += order.map(Float.init)
        for start in stride(from: 0, to: n, by: batch) {
            let idx = order[start..<min(n, start + batch)]
            let batchTokens = idx.flatMap { tokens[$0 * length..<($0 + 1) * length] }
            let tape = Tape(training: true)
            optimizer.zeroGrad()
            let logits = model(tokens: batchTokens, batch: idx.count, length: length, tape: tape)
            let loss = Loss.crossEntropy(logits: logits, targets: idx.map { labels[$0] })
            tape.backward(loss)
            optimizer.step()
            losses.append(Double(loss.scalar))
        }
    }
    let all = model(tokens: tokens, batch: n, length: length, tape: Tape(training: false))
    let eval = Loss.crossEntropy(logits: all, targets: labels).scalar
    try write(["tokens": Tensor(shape: [n, length], storage: tokens.map(Float.init)),
               "labels": Tensor(shape: [n], storage: labels.map(Float.init)),
               "order": Tensor(shape: [epochs, n], storage: orders)], to: dir.appendingPathComponent("transformer_data.safetensors"))
    try model.save(to: dir.appendingPathComponent("transformer_final.safetensors"))
    return ["losses": losses, "eval_loss": Double(eval), "batch": batch, "epochs": epochs]
}

/// GRU 8→16 over 12 steps → last hidden state → Linear 16→1; MSE; SGD with momentum 0.9 and
/// weight decay, with a cosine learning-rate schedule after a warm-up.
final class ParityGRU: Module, @unchecked Sendable {
    let gru = GRU(inputs: 8, hidden: 16, seed: 6)
    let head = Linear(16, 1, seed: 7)
    override var children: [(String, Module)] { [("gru", gru), ("head", head)] }
    func callAsFunction(_ x: Value) -> Value { head(gru(x).last) }
}

private func gruParity(dir: URL, epochs: Int) throws -> [String: Any] {
    let (n, length, width, batch) = (256, 12, 8, 32)
    let x = Tensor.normal(shape: [n, length, width], seed: 41)
    // Target: a decayed running sum of two input channels, squashed.
    let y = Tensor(shape: [n, 1], storage: (0..<n).map { i in
        var s: Float = 0
        for t in 0..<length { s = 0.7 * s + x.storage[(i * length + t) * width] - 0.5 * x.storage[(i * length + t) * width + 1] }
        return Foundation.tanh(s)
    })
    let model = ParityGRU()
    try model.save(to: dir.appendingPathComponent("gru_init.safetensors"))
    let total = epochs * (n / batch)
    let optimizer = SGD([ParameterGroup(model.namedParameters(), learningRate: 0.05, weightDecay: 1e-4)], momentum: 0.9,
                        schedule: .warmupCosine(warmup: 10, total: total, floor: 0))
    var rng = TailorRandom(seed: 13)
    var orders: [Float] = [], losses: [Double] = [], rates: [Double] = []
    for _ in 0..<epochs {
        let order = permutation(n, &rng)
        orders += order.map(Float.init)
        for start in stride(from: 0, to: n, by: batch) {
            let idx = order[start..<min(n, start + batch)]
            let tape = Tape(training: true)
            optimizer.zeroGrad()
            let loss = Loss.meanSquaredError(model(tape.constant(rows(x, idx))), rows(y, idx))
            tape.backward(loss)
            optimizer.step()
            rates.append(Double(0.05 * optimizer.schedule.multiplier(at: optimizer.steps)))
            losses.append(Double(loss.scalar))
        }
    }
    let eval = Loss.meanSquaredError(model(Tape(training: false).constant(x)), y).scalar
    try write(["x": x, "y": y, "order": Tensor(shape: [epochs, n], storage: orders)], to: dir.appendingPathComponent("gru_data.safetensors"))
    try model.save(to: dir.appendingPathComponent("gru_final.safetensors"))
    return ["losses": losses, "eval_loss": Double(eval), "batch": batch, "epochs": epochs, "learning_rates": rates]
}

func benchParity() {
    let args = CommandLine.arguments
    guard let i = args.firstIndex(of: "--dir"), i + 1 < args.count else {
        FileHandle.standardError.write("usage: tailor-bench nn-parity --dir DIR [--epochs 8]\n".data(using: .utf8)!)
        exit(2)
    }
    let dir = URL(fileURLWithPath: args[i + 1])
    let epochs = argument("--epochs", default: 8)
    do {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let result = ["mlp": try mlpParity(dir: dir, epochs: epochs), "transformer": try transformerParity(dir: dir, epochs: epochs),
                      "gru": try gruParity(dir: dir, epochs: epochs)]
        try writeJSON(result, to: dir.appendingPathComponent("tailor.json"))
        emit(["bench": "nn-parity", "dir": dir.path, "epochs": epochs])
    } catch {
        FileHandle.standardError.write("nn-parity: \(error)\n".data(using: .utf8)!)
        exit(1)
    }
}
