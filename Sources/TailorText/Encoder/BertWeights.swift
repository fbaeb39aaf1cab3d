import Foundation
import TailorLinalg

/// The parameters of a BERT encoder as flat row-major `Float` arrays, named and shaped as
/// Hugging Face's `BertModel` stores them (linear weights are `[out, in]`). The query, key and
/// value projections of each layer are kept stacked into one `[3·hidden, hidden]` matrix, so
/// one GEMM computes all three.
public struct BertWeights: Sendable {
    /// One encoder layer.
    public struct Layer: Sendable {
        /// Query, key and value weights stacked: `[3·hidden, hidden]`; and their biases.
        public var qkvWeight: [Float], qkvBias: [Float]
        /// Attention output projection `[hidden, hidden]` and bias.
        public var outputWeight: [Float], outputBias: [Float]
        /// Layer norm after attention.
        public var attentionNormGamma: [Float], attentionNormBeta: [Float]
        /// Feed-forward in `[intermediate, hidden]`, out `[hidden, intermediate]`, and biases.
        public var intermediateWeight: [Float], intermediateBias: [Float]
        public var feedForwardWeight: [Float], feedForwardBias: [Float]
        /// Layer norm after the feed-forward.
        public var outputNormGamma: [Float], outputNormBeta: [Float]
    }

    /// `[vocab, hidden]`.
    public var wordEmbeddings: [Float]
    /// `[maxPositions, hidden]`.
    public var positionEmbeddings: [Float]
    /// `[typeVocab, hidden]`.
    public var tokenTypeEmbeddings: [Float]
    /// Layer norm over the summed embeddings.
    public var embeddingNormGamma: [Float], embeddingNormBeta: [Float]
    /// The encoder layers, bottom first.
    public var layers: [Layer]
    /// BERT's pooler (`pooler.dense`: `[hidden, hidden]` and its bias) when the checkpoint has
    /// one. Sentence vectors never use it; it is kept so a checkpoint written back is complete
    /// (PyTorch would otherwise report it as newly initialized).
    public var pooler: Pooler?

    /// The pooler's dense layer.
    public struct Pooler: Sendable, Equatable {
        /// `[hidden, hidden]`.
        public var weight: [Float]
        /// `[hidden]`.
        public var bias: [Float]
    }

    /// Every tensor a checkpoint must have, with its Hugging Face name and shape.
    public static func expectedShapes(_ c: BertConfiguration) -> [(name: String, shape: [Int])] {
        let h = c.hiddenSize, i = c.intermediateSize
        var out: [(String, [Int])] = [
            ("embeddings.word_embeddings.weight", [c.vocabSize, h]),
            ("embeddings.position_embeddings.weight", [c.maxPositionEmbeddings, h]),
            ("embeddings.token_type_embeddings.weight", [c.typeVocabSize, h]),
            ("embeddings.LayerNorm.weight", [h]), ("embeddings.LayerNorm.bias", [h]),
        ]
        for l in 0..<c.numHiddenLayers {
            let p = "encoder.layer.\(l)."
            for part in ["query", "key", "value"] {
                out.append((p + "attention.self.\(part).weight", [h, h]))
                out.append((p + "attention.self.\(part).bias", [h]))
            }
            out += [
                (p + "attention.output.dense.weight", [h, h]), (p + "attention.output.dense.bias", [h]),
                (p + "attention.output.LayerNorm.weight", [h]), (p + "attention.output.LayerNorm.bias", [h]),
                (p + "intermediate.dense.weight", [i, h]), (p + "intermediate.dense.bias", [i]),
                (p + "output.dense.weight", [h, i]), (p + "output.dense.bias", [h]),
                (p + "output.LayerNorm.weight", [h]), (p + "output.LayerNorm.bias", [h]),
            ]
        }
        return out
    }

    /// Reads `model.safetensors` (memory-mapped; each tensor is copied once into its array, so
    /// loading peaks near twice the file size and then holds it once). Names may carry a
    /// `bert.` prefix (task checkpoints) and old-style `gamma`/`beta` layer-norm names; extra
    /// tensors (`position_ids`, task heads) are ignored; a pooler is kept (``pooler``). A missing tensor or one of the wrong
    /// shape is an error naming it and both shapes.
    public static func load(from url: URL, configuration c: BertConfiguration) throws -> BertWeights {
        let data: Data
        do { data = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw TextError(.missingFile, file: url.path, reason: "cannot read the weights (\(error.localizedDescription))",
                            hint: "a BERT-family checkpoint needs model.safetensors (convert a pytorch_model.bin with the safetensors package)")
        }
        let entries: [String: SafeTensors.Entry]
        do { entries = try SafeTensors.entries(data, path: url.path).entries } catch {
            throw TextError(.malformedFile, file: url.path, reason: "\(error)")
        }
        func find(_ name: String) -> SafeTensors.Entry? {
            var candidates = [name, "bert." + name, "model." + name]
            if name.hasSuffix("LayerNorm.weight") { candidates.append(contentsOf: candidates.map { $0.replacingOccurrences(of: "LayerNorm.weight", with: "LayerNorm.gamma") }) }
            if name.hasSuffix("LayerNorm.bias") { candidates.append(contentsOf: candidates.map { $0.replacingOccurrences(of: "LayerNorm.bias", with: "LayerNorm.beta") }) }
            return candidates.lazy.compactMap { entries[$0] }.first
        }
        var tensors: [String: [Float]] = [:]
        for (name, shape) in expectedShapes(c) {
            guard let entry = find(name) else {
                throw TextError(.tensorMismatch, file: url.path, field: name, reason: "the checkpoint has no tensor \(name) (expected shape \(shape))",
                                hint: "config.json and model.safetensors must come from the same BERT-family model")
            }
            guard entry.shape == shape else {
                throw TextError(.tensorMismatch, file: url.path, field: name,
                                reason: "tensor \(name) has shape \(entry.shape) but config.json implies \(shape)",
                                hint: "config.json and model.safetensors must come from the same model")
            }
            guard [.f32, .f16, .bf16, .f64].contains(entry.dtype) else {
                throw TextError(.tensorMismatch, file: url.path, field: name, reason: "tensor \(name) has dtype \(entry.dtype.rawValue), not a float type")
            }
            tensors[name] = SafeTensors.Tensor(dtype: entry.dtype, shape: entry.shape, bytes: [UInt8](data[entry.bytes])).floats()
        }
        var weights = BertWeights(named: tensors, configuration: c)
        // The pooler, when present with the right shapes and a float type; otherwise left out.
        let h = c.hiddenSize
        if let w = find("pooler.dense.weight"), let b = find("pooler.dense.bias"), w.shape == [h, h], b.shape == [h],
           [w.dtype, b.dtype].allSatisfy({ [.f32, .f16, .bf16, .f64].contains($0) }) {
            weights.pooler = Pooler(weight: SafeTensors.Tensor(dtype: w.dtype, shape: w.shape, bytes: [UInt8](data[w.bytes])).floats(),
                                    bias: SafeTensors.Tensor(dtype: b.dtype, shape: b.shape, bytes: [UInt8](data[b.bytes])).floats())
        }
        return weights
    }

    /// Weights from tensors named as ``expectedShapes(_:)`` lists (all must be there).
    public init(named t: [String: [Float]], configuration c: BertConfiguration) {
        func take(_ name: String) -> [Float] {
            guard let v = t[name] else { preconditionFailure("missing tensor \(name)") }
            return v
        }
        wordEmbeddings = take("embeddings.word_embeddings.weight")
        positionEmbeddings = take("embeddings.position_embeddings.weight")
        tokenTypeEmbeddings = take("embeddings.token_type_embeddings.weight")
        embeddingNormGamma = take("embeddings.LayerNorm.weight")
        embeddingNormBeta = take("embeddings.LayerNorm.bias")
        layers = (0..<c.numHiddenLayers).map { l in
            let p = "encoder.layer.\(l)."
            return Layer(
                qkvWeight: take(p + "attention.self.query.weight") + take(p + "attention.self.key.weight") + take(p + "attention.self.value.weight"),
                qkvBias: take(p + "attention.self.query.bias") + take(p + "attention.self.key.bias") + take(p + "attention.self.value.bias"),
                outputWeight: take(p + "attention.output.dense.weight"), outputBias: take(p + "attention.output.dense.bias"),
                attentionNormGamma: take(p + "attention.output.LayerNorm.weight"), attentionNormBeta: take(p + "attention.output.LayerNorm.bias"),
                intermediateWeight: take(p + "intermediate.dense.weight"), intermediateBias: take(p + "intermediate.dense.bias"),
                feedForwardWeight: take(p + "output.dense.weight"), feedForwardBias: take(p + "output.dense.bias"),
                outputNormGamma: take(p + "output.LayerNorm.weight"), outputNormBeta: take(p + "output.LayerNorm.bias"))
        }
    }

    /// The tensors under their Hugging Face names, for writing a checkpoint PyTorch loads.
    public func named(configuration c: BertConfiguration) -> [String: [Float]] {
        let h = c.hiddenSize
        var out: [String: [Float]] = [
            "embeddings.word_embeddings.weight": wordEmbeddings, "embeddings.position_embeddings.weight": positionEmbeddings,
            "embeddings.token_type_embeddings.weight": tokenTypeEmbeddings,
            "embeddings.LayerNorm.weight": embeddingNormGamma, "embeddings.LayerNorm.bias": embeddingNormBeta,
        ]
        for (l, layer) in layers.enumerated() {
            let p = "encoder.layer.\(l)."
            for (k, part) in ["query", "key", "value"].enumerated() {
                out[p + "attention.self.\(part).weight"] = Array(layer.qkvWeight[(k * h * h)..<((k + 1) * h * h)])
                out[p + "attention.self.\(part).bias"] = Array(layer.qkvBias[(k * h)..<((k + 1) * h)])
            }
            out[p + "attention.output.dense.weight"] = layer.outputWeight
            out[p + "attention.output.dense.bias"] = layer.outputBias
            out[p + "attention.output.LayerNorm.weight"] = layer.attentionNormGamma
            out[p + "attention.output.LayerNorm.bias"] = layer.attentionNormBeta
            out[p + "intermediate.dense.weight"] = layer.intermediateWeight
            out[p + "intermediate.dense.bias"] = layer.intermediateBias
            out[p + "output.dense.weight"] = layer.feedForwardWeight
            out[p + "output.dense.bias"] = layer.feedForwardBias
            out[p + "output.LayerNorm.weight"] = layer.outputNormGamma
            out[p + "output.LayerNorm.bias"] = layer.outputNormBeta
        }
        if let pooler {
            out["pooler.dense.weight"] = pooler.weight
            out["pooler.dense.bias"] = pooler.bias
        }
        return out
    }

    /// Writes `model.safetensors` with Hugging Face names (float32), the pooler included when
    /// there is one.
    public func write(to url: URL, configuration c: BertConfiguration) throws {
        var shapes = Dictionary(uniqueKeysWithValues: Self.expectedShapes(c).map { ($0.name, $0.shape) })
        shapes["pooler.dense.weight"] = [c.hiddenSize, c.hiddenSize]
        shapes["pooler.dense.bias"] = [c.hiddenSize]
        var out: [String: SafeTensors.Tensor] = [:]
        for (name, values) in named(configuration: c) { out[name] = SafeTensors.Tensor(values, shape: shapes[name]!) }
        try SafeTensors.write(out, metadata: ["format": "pt"], to: url)
    }

    /// Random weights of the right shapes (uniform in ±1.7·`scale`; layer-norm gains near 1),
    /// for tests and for training from scratch.
    public static func random(configuration c: BertConfiguration, seed: UInt64, scale: Float = 0.05) -> BertWeights {
        var rng = TailorRandom(seed: seed)
        var named: [String: [Float]] = [:]
        for (name, shape) in expectedShapes(c) {
            let count = shape.reduce(1, *)
            let noise = (0..<count).map { _ in (rng.nextFloat() * 2 - 1) * scale * 1.7 }
            named[name] = name.hasSuffix("LayerNorm.weight") ? noise.map { 1 + $0 } : noise
        }
        return BertWeights(named: named, configuration: c)
    }
}
