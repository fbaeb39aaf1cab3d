import Foundation
import Testing
import TailorAutodiff
import TailorData
import TailorLinalg
@testable import TailorText

/// A tiny uncased encoder over single letters.
func letterEncoder(seed: UInt64 = 7, layers: Int = 2) throws -> SentenceEncoder {
    let vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + "abcdefghijklmnopqrstuvwxyz".map { String($0) }
    return try SentenceEncoder.random(vocabulary: vocabulary, configuration: BertConfiguration(hiddenSize: 16, numHiddenLayers: layers, numAttentionHeads: 2,
                                      intermediateSize: 32, maxPositionEmbeddings: 32), seed: seed, maxLength: 24)
}

/// Pairs of texts sharing a topic letter among random filler letters.
func topicPairs(_ count: Int, seed: UInt64) -> [(String, String)] {
    var rng = TailorRandom(seed: seed)
    let topics = Array("abcdefgh"), filler = Array("mnopqrstuvwxyz")
    func text(_ topic: Character) -> String {
        (0..<6).map { i in i % 3 == 0 ? String(topic) : String(filler[Int(rng.nextFloat() * Float(filler.count)) % filler.count]) }.joined(separator: " ")
    }
    return (0..<count).map { i in let t = topics[i % topics.count]; return (text(t), text(t)) }
}

@Suite("Fine-tuning a sentence encoder")
struct FineTuningTests {
    @Test("the trainable module gives the inference encoder's vectors (evaluation mode)")
    func moduleMatchesEncoder() throws {
        let encoder = try letterEncoder()
        let module = BertModule(configuration: encoder.encoder.configuration, weights: encoder.encoder.weights)
        let texts = ["a b c", "hello world", "", "z"]
        let ids = encoder.tokenize(texts)
        let tape = Tape(training: false)
        let trained = module.sentenceVectors(ids, padding: encoder.tokenizer.paddingID, pooling: .mean, tape: tape).tensor
        let fast = encoder.encode(texts)
        #expect(trained.shape == [4, 16])
        for i in 0..<(4 * 16) { #expect(abs(trained.storage[i] - fast.storage[i]) < 1e-4, "at \(i)") }
        // And the weights read back unchanged.
        #expect(module.weights().named(configuration: encoder.encoder.configuration) == encoder.encoder.weights.named(configuration: encoder.encoder.configuration))
    }

    @Test("on pairs that share a topic, the validation loss falls below the untrained encoder's, and frozen layers stay fixed")
    func learns() throws {
        let encoder = try letterEncoder()
        var c = ContrastiveFineTuning.Configuration()
        c.epochs = 4
        c.batchSize = 8
        c.learningRate = 3e-3
        c.frozenLayers = 1
        c.unfreezeEvery = nil
        c.patience = 4
        let (tuned, summary) = try ContrastiveFineTuning.fineTune(encoder, train: topicPairs(160, seed: 1), validation: topicPairs(48, seed: 2), configuration: c)
        #expect(summary.bestEpoch > 0)
        #expect(summary.epochs.last!.validationLoss < summary.epochs[0].validationLoss * 0.8, "\(summary.epochs.map(\.validationLoss))")
        let before = encoder.encoder.weights, after = tuned.encoder.weights
        #expect(after.layers[0].qkvWeight == before.layers[0].qkvWeight && after.wordEmbeddings == before.wordEmbeddings)
        #expect(after.layers[1].qkvWeight != before.layers[1].qkvWeight)
        // Same-topic texts are now closer than different-topic ones.
        let v = tuned.encode(["a m n a o p", "a q r a s t", "b m n b o p"])
        let same = (0..<16).reduce(Float(0)) { $0 + v[0, $1] * v[1, $1] }, other = (0..<16).reduce(Float(0)) { $0 + v[0, $1] * v[2, $1] }
        #expect(same > other)
    }

    @Test("gradual unfreezing releases one layer per epoch from the top")
    func unfreezing() throws {
        let encoder = try letterEncoder(layers: 3)
        var c = ContrastiveFineTuning.Configuration()
        c.epochs = 3
        c.batchSize = 8
        c.learningRate = 1e-3
        c.frozenLayers = 3
        c.patience = 3
        let (_, summary) = try ContrastiveFineTuning.fineTune(encoder, train: topicPairs(64, seed: 3), validation: topicPairs(16, seed: 4), configuration: c)
        #expect(summary.epochs.map(\.frozenLayers) == [3, 3, 2, 1])
    }

    @Test("when no epoch beats the encoder as it came, it comes back unchanged")
    func keepsOriginal() throws {
        let encoder = try letterEncoder()
        var c = ContrastiveFineTuning.Configuration()
        c.epochs = 2
        c.batchSize = 4
        c.learningRate = 5  // diverges
        c.frozenLayers = 0
        c.freezeEmbeddings = false
        c.clipNorm = 1000
        let (tuned, summary) = try ContrastiveFineTuning.fineTune(encoder, train: topicPairs(32, seed: 5), validation: topicPairs(16, seed: 6), configuration: c)
        #expect(summary.bestEpoch == 0, "\(summary.epochs.map(\.validationLoss))")
        #expect(summary.epochs.dropFirst().allSatisfy { !$0.improved && !($0.validationLoss < summary.epochs[0].validationLoss) })
        #expect(tuned.fingerprint == encoder.fingerprint)
    }

    @Test("with a validator, early stopping follows its score, not the loss")
    func validatorDecides() throws {
        let encoder = try letterEncoder()
        var c = ContrastiveFineTuning.Configuration()
        c.epochs = 3
        c.batchSize = 8
        c.learningRate = 3e-3
        c.patience = 3
        var calls = 0
        // A score that only falls: the original encoder must come back, though the loss improves.
        let (tuned, summary) = try ContrastiveFineTuning.fineTune(encoder, train: topicPairs(64, seed: 1), validation: topicPairs(16, seed: 2),
                                                                 configuration: c, validator: { _ in calls += 1; return -Float(calls) })
        #expect(calls == 4 && summary.bestEpoch == 0 && tuned.fingerprint == encoder.fingerprint)
        #expect(summary.epochs.map(\.validationScore) == [-1, -2, -3, -4])
        #expect(summary.epochs.last!.validationLoss < summary.epochs[0].validationLoss)
    }

    @Test("cold-item validation sets items aside for the users who read them and scores a ranking in [0, 1]")
    func coldItemValidation() throws {
        // Users read items of one topic; an encoder that separates topics ranks the set-aside ones well.
        var users: [Int32] = [], items: [Int32] = []
        let topics = Array("abcd"), perTopic = 10
        for u in 0..<40 {
            for k in 0..<perTopic where (u + k) % 3 != 0 { users.append(Int32(u)); items.append(Int32((u % 4) * perTopic + k)) }
        }
        let ids = (0..<(4 * perTopic)).map { "i\($0)" }
        let log = Interactions(users: users, items: items, values: users.map { _ in 1 }, userIDs: IDMap((0..<40).map { "u\($0)" }), itemIDs: IDMap(ids))
        var texts: [String: String] = [:]
        for (i, id) in ids.enumerated() { let t = topics[i / perTopic]; texts[id] = "\(t) \(t) \(t) x\(i % 7)" }
        let v = ColdItemValidation(interactions: log, texts: texts, fraction: 0.25, seed: 3)
        #expect(v.heldOutItems.count == 10 && v.userCount > 20)
        let score = v.score(try letterEncoder())
        #expect(score > 0 && score <= 1)
        #expect(ColdItemValidation(interactions: log, texts: texts, fraction: 0.25, seed: 3).heldOutItems == v.heldOutItems)
    }

    @Test("pairs are consecutive items of a user with text, each unordered pair once")
    func pairs() throws {
        let log = Interactions(users: [0, 0, 0, 0, 1, 1, 1], items: [0, 1, 2, 1, 1, 0, 3], values: [1, 1, 1, 1, 1, 1, 1],
                               timestamps: [1, 2, 3, 4, 1, 2, 3], userIDs: IDMap(["u0", "u1"]), itemIDs: IDMap(["x", "y", "z", "w"]))
        let texts = ["x": "text x", "y": "text y", "z": "text z"]
        let pairs = ContrastiveFineTuning.pairs(from: log, texts: texts, limit: 100).map { [$0.0, $0.1].sorted() }
        // u0: x→y, y→z, z→y (same as y→z); u1: y→x (same as x→y), x→w (no text for w).
        #expect(Set(pairs) == [["text x", "text y"], ["text y", "text z"]])
        #expect(pairs.count == 2)
    }

    @Test("bad settings are errors naming the field")
    func settings() throws {
        let encoder = try letterEncoder()
        var c = ContrastiveFineTuning.Configuration()
        c.batchSize = 1
        #expect { try ContrastiveFineTuning.fineTune(encoder, train: topicPairs(8, seed: 1), validation: topicPairs(4, seed: 2), configuration: c) }
            throws: { ($0 as? TextError)?.field == "batchSize" }
        c = .init()
        c.frozenLayers = 9
        #expect { try ContrastiveFineTuning.fineTune(encoder, train: topicPairs(8, seed: 1), validation: topicPairs(4, seed: 2), configuration: c) }
            throws: { ($0 as? TextError)?.field == "frozenLayers" }
        #expect { try ContrastiveFineTuning.fineTune(encoder, train: [], validation: topicPairs(4, seed: 2)) } throws: { "\($0)".contains("too few") }
    }
}
