import Foundation
import Testing
import TailorLinalg
import TailorData
@testable import TailorText

/// A tiny random BERT checkpoint in a temporary Hugging Face-format directory.
func tinyCheckpoint(layers: Int = 2, hidden: Int = 32, heads: Int = 4, seed: UInt64 = 5, pooling: String? = nil,
                    normalize: Bool = true) throws -> (URL, BertConfiguration, BertWeights) {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tailor-bert-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + "abcdefghijklmnopqrstuvwxyz".map { String($0) }
        + "abcdefghijklmnopqrstuvwxyz".map { "##" + String($0) } + ["the", "matrix", "toy", "story", "##s", ".", ",", "!", "(", ")"]
    try (vocabulary.joined(separator: "\n") + "\n").write(to: dir.appendingPathComponent("vocab.txt"), atomically: true, encoding: .utf8)
    let configuration = BertConfiguration(vocabSize: vocabulary.count + 3, hiddenSize: hidden, numHiddenLayers: layers, numAttentionHeads: heads,
                                          intermediateSize: hidden * 4, maxPositionEmbeddings: 64)
    try JSONEncoder().encode(configuration).write(to: dir.appendingPathComponent("config.json"))
    let weights = BertWeights.random(configuration: configuration, seed: seed, scale: 0.2)
    try weights.write(to: dir.appendingPathComponent("model.safetensors"), configuration: configuration)
    if let pooling {
        let modules: [[String: Any]] = [["idx": 0, "path": "", "type": "sentence_transformers.models.Transformer"],
                                        ["idx": 1, "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"]]
            + (normalize ? [["idx": 2, "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"]] : [])
        try JSONSerialization.data(withJSONObject: modules).write(to: dir.appendingPathComponent("modules.json"))
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("1_Pooling"), withIntermediateDirectories: true)
        try JSONSerialization.data(withJSONObject: ["pooling_mode_\(pooling)": true]).write(to: dir.appendingPathComponent("1_Pooling/config.json"))
    }
    return (dir, configuration, weights)
}

@Suite("BERT encoder")
struct EncoderTests {
    @Test("the packed fast path equals the double-precision reference, token by token, at 1 and 2 threads", arguments: [1, 2])
    func fastMatchesReference(threads: Int) throws {
        let (dir, configuration, weights) = try tinyCheckpoint()
        defer { try? FileManager.default.removeItem(at: dir) }
        let loaded = try SentenceEncoder.load(directory: dir)
        let sequences: [[Int32]] = [[2, 50, 51, 52, 3], [2, 3], [2] + (0..<40).map { Int32(5 + $0 % 60) } + [3], [2, 33, 3]]
        let (states, offsets) = loaded.encoder.hiddenStates(sequences, threads: threads)
        #expect(offsets == [0, 5, 7, 49, 52])
        var worst: Float = 0
        for (s, ids) in sequences.enumerated() {
            let expected = Reference.bertHiddenStates(ids, configuration: configuration, weights: weights)
            for (p, row) in expected.enumerated() {
                for j in 0..<configuration.hiddenSize {
                    worst = max(worst, abs(states[(offsets[s] + p) * configuration.hiddenSize + j] - row[j]))
                }
            }
        }
        // Layer-normed states are O(1); float32 GEMMs over ≤ 128 terms and two layers stay within 1e-4.
        #expect(worst < 1e-4, "largest difference \(worst)")
    }

    @Test("int8 weights: vectors within cosine 0.99 of the float ones but not equal, their own fingerprint, batch invariant")
    func int8() throws {
        let (dir, _, _) = try tinyCheckpoint(layers: 2, hidden: 64, heads: 4)
        defer { try? FileManager.default.removeItem(at: dir) }
        let float = try SentenceEncoder.load(directory: dir)
        let int8 = try SentenceEncoder.load(directory: dir, quantization: .int8)
        #expect(int8.encoder.quantization == .int8 && float.quantized(.int8).fingerprint == int8.fingerprint)
        #expect(int8.fingerprint != float.fingerprint)
        let texts = ["the matrix", "toy story!", "a b c d e f g h i j k l m n o p q r s t u v w x y z", "", "the", "(toy) story, the matrix."]
        let a = float.encode(texts, batchSize: 4), b = int8.encode(texts, batchSize: 4)
        var largestDifference: Float = 0
        for i in texts.indices {
            let cosine = (0..<float.dimension).reduce(Float(0)) { $0 + a[i, $1] * b[i, $1] }
            #expect(cosine >= 0.99, "'\(texts[i])': cosine \(cosine)")
            for j in 0..<float.dimension { largestDifference = max(largestDifference, abs(a[i, j] - b[i, j])) }
        }
        #expect(largestDifference > 1e-5, "int8 vectors equal the float ones: the int8 path did not run")
        let alone = int8.encode([texts[2]])
        #expect((0..<int8.dimension).allSatisfy { alone[0, $0] == b[2, $0] }, "per-token scales make a vector independent of its batch")
    }

    @Test("a text's vector does not depend on what else is in its batch")
    func batchInvariance() throws {
        let (dir, _, _) = try tinyCheckpoint()
        defer { try? FileManager.default.removeItem(at: dir) }
        let encoder = try SentenceEncoder.load(directory: dir)
        let texts = ["the matrix", "toy story!", "a b c d e f g h i j k l m n o p", "", "the"]
        let together = encoder.encode(texts, batchSize: 3)
        for (i, text) in texts.enumerated() {
            let alone = encoder.encode([text])
            for j in 0..<encoder.dimension { #expect(abs(alone[0, j] - together[i, j]) < 1e-5) }
        }
        // Normalized, and different texts differ.
        for i in 0..<texts.count {
            let norm = (0..<encoder.dimension).reduce(Float(0)) { $0 + together[i, $1] * together[i, $1] }.squareRoot()
            #expect(abs(norm - 1) < 1e-5)
        }
        #expect((0..<encoder.dimension).contains { abs(together[0, $0] - together[1, $0]) > 1e-3 })
    }

    @Test("pooling follows the sentence-transformers files: mean, CLS, max, with or without normalization")
    func pooling() throws {
        for mode in ["mean_tokens", "cls_token", "max_tokens"] {
            let (dir, configuration, weights) = try tinyCheckpoint(pooling: mode, normalize: mode != "max_tokens")
            defer { try? FileManager.default.removeItem(at: dir) }
            let encoder = try SentenceEncoder.load(directory: dir)
            #expect(encoder.normalize == (mode != "max_tokens"))
            let ids = encoder.tokenizer.encode("the matrix", maxLength: 64)
            let states = Reference.bertHiddenStates(ids, configuration: configuration, weights: weights)
            var expected = (0..<configuration.hiddenSize).map { j -> Float in
                let column = states.map { $0[j] }
                switch mode {
                case "mean_tokens": return column.reduce(0, +) / Float(column.count)
                case "cls_token": return column[0]
                default: return column.max()!
                }
            }
            if encoder.normalize {
                let norm = expected.reduce(0) { $0 + $1 * $1 }.squareRoot()
                expected = expected.map { $0 / norm }
            }
            let got = encoder.encode(["the matrix"])
            for j in 0..<configuration.hiddenSize { #expect(abs(got[0, j] - expected[j]) < 1e-4, "\(mode) at \(j)") }
        }
    }

    @Test("a checkpoint written here reads back to the same weights, under Hugging Face names")
    func roundTrip() throws {
        let (dir, configuration, weights) = try tinyCheckpoint()
        defer { try? FileManager.default.removeItem(at: dir) }
        let read = try BertWeights.load(from: dir.appendingPathComponent("model.safetensors"), configuration: configuration)
        #expect(read.named(configuration: configuration) == weights.named(configuration: configuration))
        let names = try SafeTensors.read(from: dir.appendingPathComponent("model.safetensors")).tensors.keys
        #expect(names.contains("encoder.layer.1.attention.self.value.weight"))
    }

    @Test("a checkpoint's pooler is kept through loading, fine-tuning's module and writing; a misshapen one is left out")
    func poolerKept() throws {
        let (dir, configuration, weights) = try tinyCheckpoint()
        defer { try? FileManager.default.removeItem(at: dir) }
        let h = configuration.hiddenSize
        var withPooler = weights
        withPooler.pooler = .init(weight: (0..<(h * h)).map { Float($0 % 7) / 7 }, bias: (0..<h).map { -Float($0) / 10 })
        let file = dir.appendingPathComponent("model.safetensors")
        try withPooler.write(to: file, configuration: configuration)
        let read = try BertWeights.load(from: file, configuration: configuration)
        #expect(read.pooler == withPooler.pooler)
        #expect(BertModule(configuration: configuration, weights: read).weights().pooler == withPooler.pooler)
        let encoder = try SentenceEncoder.load(directory: dir)
        let saved = dir.appendingPathComponent("saved")
        try encoder.save(to: saved)
        #expect(try SafeTensors.read(from: saved.appendingPathComponent("model.safetensors")).tensors["pooler.dense.weight"]?.shape == [h, h])
        // A pooler of another width (a different head) is not this model's: ignored, not an error.
        var tensors = try SafeTensors.read(from: file).tensors
        tensors["pooler.dense.weight"] = SafeTensors.Tensor([Float](repeating: 0, count: 4), shape: [2, 2])
        try SafeTensors.write(tensors, metadata: ["format": "pt"], to: file)
        #expect(try BertWeights.load(from: file, configuration: configuration).pooler == nil)
    }

    @Test("a missing file, a tensor of the wrong shape and a vocabulary larger than the config are errors naming them")
    func badCheckpoints() throws {
        let (dir, configuration, weights) = try tinyCheckpoint()
        defer { try? FileManager.default.removeItem(at: dir) }
        // Wrong shape: drop a row of the feed-forward weight of layer 1.
        var named = weights.named(configuration: configuration)
        let name = "encoder.layer.1.intermediate.dense.weight"
        named[name]!.removeLast(configuration.hiddenSize)
        var tensors: [String: SafeTensors.Tensor] = [:]
        let shapes = Dictionary(uniqueKeysWithValues: BertWeights.expectedShapes(configuration).map { ($0.name, $0.shape) })
        for (n, v) in named { tensors[n] = SafeTensors.Tensor(v, shape: n == name ? [configuration.intermediateSize - 1, configuration.hiddenSize] : shapes[n]!) }
        try SafeTensors.write(tensors, to: dir.appendingPathComponent("model.safetensors"))
        do { _ = try SentenceEncoder.load(directory: dir); Issue.record("loaded a bad checkpoint") } catch let e as TextError {
            #expect(e.code == .tensorMismatch && e.field == name)
            #expect(e.description.contains("[127, 32]") && e.description.contains("[128, 32]"), "\(e)")
        }
        // Missing tensor.
        tensors[name] = nil
        try SafeTensors.write(tensors, to: dir.appendingPathComponent("model.safetensors"))
        do { _ = try SentenceEncoder.load(directory: dir); Issue.record("loaded a checkpoint missing a tensor") } catch let e as TextError {
            #expect(e.code == .tensorMismatch && e.field == name)
        }
        // Vocabulary larger than vocab_size.
        var small = configuration
        small.vocabSize = 10
        try JSONEncoder().encode(small).write(to: dir.appendingPathComponent("config.json"))
        do { _ = try SentenceEncoder.load(directory: dir); Issue.record("accepted a vocabulary larger than the config") } catch let e as TextError {
            #expect(e.field == "vocab_size", "\(e)")
        }
        // Missing weights file.
        try JSONEncoder().encode(configuration).write(to: dir.appendingPathComponent("config.json"))
        try FileManager.default.removeItem(at: dir.appendingPathComponent("model.safetensors"))
        do { _ = try SentenceEncoder.load(directory: dir); Issue.record("loaded without weights") } catch let e as TextError {
            #expect(e.code == .missingFile && e.description.contains("model.safetensors"), "\(e)")
        }
        // Not a directory; an unsupported activation.
        #expect(throws: TextError.self) { try SentenceEncoder.load(directory: dir.appendingPathComponent("nope")) }
        var relu = configuration
        relu.hiddenAct = "relu"
        do { try relu.validate(); Issue.record("accepted hidden_act relu") } catch let e as TextError { #expect(e.field == "hidden_act") }
    }

    @Test("odd texts: empty, only whitespace or emoji, 100 KB, all encode to finite unit vectors")
    func oddTexts() throws {
        let (dir, _, _) = try tinyCheckpoint()
        defer { try? FileManager.default.removeItem(at: dir) }
        let encoder = try SentenceEncoder.load(directory: dir)
        let huge = String(repeating: "the matrix ", count: 10_000)
        let texts = ["", "   \n\t ", "🥰🫠👍🏽", huge, "\u{0}\u{200B}"]
        let ids = encoder.tokenize(texts)
        #expect(ids[0] == [2, 3] && ids[1] == [2, 3] && ids[4] == [2, 3])
        #expect(ids[2] == [2, 1, 3])  // one word of emoji, not in the vocabulary: [UNK]
        #expect(ids[3].count == 64)  // truncated to the position table
        let vectors = encoder.encode(texts)
        for i in 0..<texts.count {
            let row = (0..<encoder.dimension).map { vectors[i, $0] }
            #expect(row.allSatisfy { $0.isFinite })
            #expect(abs(row.reduce(0) { $0 + $1 * $1 } - 1) < 1e-4)
        }
    }
}

@Suite("Item text vectors")
struct ItemTextEmbeddingTests {
    @Test("only new or changed items are encoded again; a different encoder encodes everything")
    func incremental() throws {
        let (dir, configuration, _) = try tinyCheckpoint()
        defer { try? FileManager.default.removeItem(at: dir) }
        let encoder = try SentenceEncoder.load(directory: dir)
        var items = [CatalogItem(id: "a", title: "the matrix", categories: ["scifi"]), CatalogItem(id: "b", title: "toy story"),
                     CatalogItem(id: "c"), CatalogItem(id: "d", title: "bad \u{FFFD} text")]
        let first = ItemTextEmbedding.embed(items: items, fields: [.title, .categories], encoder: encoder, existing: [])
        #expect(first.report.encoded == 3 && first.report.empty == 1 && first.report.withInvalidText == 1)
        #expect(first.vectors.map(\.item) == ["a", "b", "d"])
        let again = ItemTextEmbedding.embed(items: items, fields: [.title, .categories], encoder: encoder, existing: first.vectors)
        #expect(again.report.encoded == 0 && again.report.unchanged == 3)
        items[1].title = "toy story 2"
        let changed = ItemTextEmbedding.embed(items: items, fields: [.title, .categories], encoder: encoder, existing: first.vectors)
        #expect(changed.vectors.map(\.item) == ["b"])
        // The vector is the encoder's vector of the joined text.
        let direct = encoder.encode(["the matrix. scifi"])
        #expect(first.vectors[0].values == Array(direct.row(0)))
        // Other weights: a new fingerprint, so everything is encoded.
        let other = SentenceEncoder(tokenizer: encoder.tokenizer,
                                    encoder: BertEncoder(configuration: configuration, weights: BertWeights.random(configuration: configuration, seed: 99)))
        #expect(other.fingerprint != encoder.fingerprint)
        #expect(ItemTextEmbedding.embed(items: items, fields: [.title, .categories], encoder: other, existing: first.vectors).report.encoded == 3)
    }
}

@Suite("Saving an encoder")
struct SaveTests {
    @Test("a saved encoder loads back with the same settings and the same vectors")
    func roundTrip() throws {
        let vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + "abcdefghijklmnopqrstuvwxyz".map { String($0) } + "abcdefghijklmnopqrstuvwxyz".map { "##" + String($0) }
        var encoder = try SentenceEncoder.random(vocabulary: vocabulary, configuration: BertConfiguration(hiddenSize: 16, numHiddenLayers: 1, numAttentionHeads: 2,
                                                                                                      intermediateSize: 32, maxPositionEmbeddings: 32), seed: 3, maxLength: 20)
        encoder.pooling = .max
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tailor-save-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: dir) }
        try encoder.save(to: dir)
        let back = try SentenceEncoder.load(directory: dir)
        #expect(back.pooling == .max && back.normalize && back.maxLength == 20 && back.tokenizer.vocabulary == vocabulary)
        #expect(back.fingerprint == encoder.fingerprint)
        let texts = ["hello world", "abc", ""]
        #expect(back.encode(texts).storage == encoder.encode(texts).storage)
    }
}
