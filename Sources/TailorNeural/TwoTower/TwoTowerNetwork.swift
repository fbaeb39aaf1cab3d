import Foundation
import TailorAutodiff
import TailorLinalg
import TailorNN

/// How a user's recent items become one vector in the user tower.
public enum HistoryPooling: String, Sendable, Codable, CaseIterable {
    /// No history input.
    case none
    /// The mean of the item vectors.
    case mean
    /// A mean weighted by recency: an item `halfLife` events old counts half as much.
    case recency
    /// Attention: a learned query scores each item (plus its log recency weight), softmax-pooled.
    case attention
}

/// One batch of user-tower inputs. Row indices of the id tables are position + 1; row 0 is the
/// learned "unknown" row (a new user or item, or one dropped by id dropout).
struct UserBatch {
    var ids: [Int32] = []
    var codes: [Int32] = []
    var numbers: [Float] = []
    /// Item-table rows of every history, concatenated; `historyOffsets[b]` starts row b's.
    var historyItems: [Int32] = []
    var historyOffsets: [Int] = []
    /// Pooling weights (mean or recency; log-weights are added to attention scores).
    var historyWeights: [Float] = []
    /// `count × context features` codes of the event's context (0: unknown).
    var contextCodes: [Int32] = []
    var count: Int { ids.count }
}

/// One batch of item-tower inputs.
struct ItemBatch {
    var ids: [Int32] = []
    var categories: (indices: [Int32], offsets: [Int]) = ([], [])
    var tags: (indices: [Int32], offsets: [Int]) = ([], [])
    var numbers: [Float] = []
    var vectors: [Float] = []
    var count: Int { ids.count }
}

/// The sizes a two-tower network is built from (recorded in the model file, so loading builds
/// the same shapes).
struct TowerShapes: Codable, Equatable {
    var users: Int
    var items: Int
    var userVocabularies: [Int]
    var userNumeric: Int
    var categoryVocabulary: Int?
    var tagVocabulary: Int?
    var itemNumeric: Int
    var vectorLength: Int?
    /// Vocabulary sizes of the context features (`nil` in files written before context existed).
    var contextVocabularies: [Int]?
}

/// The two towers: each embeds its inputs, concatenates them, and maps them through an MLP to a
/// unit vector. The item id table is shared with the user tower's history pooling.
///
/// Parameter names (`user_id.weight`, `item_mlp.0.weight`, …) follow PyTorch's conventions, so
/// `Benchmarks/two_tower_torch.py` builds the same network with the same names.
final class TwoTowerNetwork: Module {
    let shapes: TowerShapes
    let configuration: TwoTower.Configuration
    let userID: Embedding
    let itemID: Embedding
    let userAttributes: [Embedding]
    let contextTables: [Embedding]
    let categories: EmbeddingBag?
    let tags: EmbeddingBag?
    let vectorProjection: Linear?
    let attentionQuery: Parameter?
    let temperatureLog: Parameter?
    let itemBias: Embedding?
    let userMLP: MLP
    let itemMLP: MLP

    init(shapes: TowerShapes, configuration c: TwoTower.Configuration) {
        self.shapes = shapes
        configuration = c
        let seed = c.seed
        userID = smallEmbedding(shapes.users + 1, c.idDimension, seed: seed &+ 11)
        itemID = smallEmbedding(shapes.items + 1, c.idDimension, seed: seed &+ 12)
        userAttributes = shapes.userVocabularies.enumerated().map { smallEmbedding($1, c.featureDimension, seed: seed &+ 100 &+ UInt64($0)) }
        contextTables = (shapes.contextVocabularies ?? []).enumerated().map { smallEmbedding($1, c.featureDimension, seed: seed &+ 200 &+ UInt64($0)) }
        categories = shapes.categoryVocabulary.map { smallBag($0, c.featureDimension, seed: seed &+ 13) }
        tags = shapes.tagVocabulary.map { smallBag($0, c.featureDimension, seed: seed &+ 14) }
        vectorProjection = shapes.vectorLength.map { Linear($0, c.idDimension, seed: seed &+ 15) }
        attentionQuery = c.history == .attention ? Parameter(Tensor(shape: [c.idDimension, 1], repeating: 0)) : nil
        temperatureLog = c.learnTemperature ? Parameter(Tensor(shape: [1], storage: [logf(c.temperature)])) : nil
        itemBias = c.itemBias ? Embedding(shapes.items + 1, 1, seed: seed &+ 16) : nil
        if let itemBias { itemBias.weight.value.storage = [Float](repeating: 0, count: shapes.items + 1) }
        let userWidth = c.idDimension + (shapes.userVocabularies.count + contextTables.count) * c.featureDimension + shapes.userNumeric
            + (c.history == .none ? 0 : c.idDimension)
        let itemWidth = c.idDimension + (shapes.categoryVocabulary == nil ? 0 : c.featureDimension)
            + (shapes.tagVocabulary == nil ? 0 : c.featureDimension) + shapes.itemNumeric + (shapes.vectorLength == nil ? 0 : c.idDimension)
        userMLP = MLP([userWidth] + c.hidden + [c.dimension], batchNorm: c.batchNorm, dropout: c.dropout, seed: seed &+ 21)
        itemMLP = MLP([itemWidth] + c.hidden + [c.dimension], batchNorm: c.batchNorm, dropout: c.dropout, seed: seed &+ 22)
    }

    override var localParameters: [(String, Parameter)] {
        (attentionQuery.map { [("attention_query", $0)] } ?? []) + (temperatureLog.map { [("log_temperature", $0)] } ?? [])
    }

    override var children: [(String, Module)] {
        var out: [(String, Module)] = [("user_id", userID), ("item_id", itemID)]
        for (j, e) in userAttributes.enumerated() { out.append(("user_attribute_\(j)", e)) }
        for (j, e) in contextTables.enumerated() { out.append(("context_\(j)", e)) }
        if let categories { out.append(("item_categories", categories)) }
        if let tags { out.append(("item_tags", tags)) }
        if let vectorProjection { out.append(("item_vector", vectorProjection)) }
        if let itemBias { out.append(("item_bias", itemBias)) }
        out += [("user_mlp", userMLP), ("item_mlp", itemMLP)]
        return out
    }

    /// `[B, dimension]` unit user vectors.
    func users(_ b: UserBatch, tape: Tape) -> Value {
        let c = configuration, n = b.count
        var parts = [userID(b.ids, tape: tape)]
        let attributes = userAttributes.count
        for (j, table) in userAttributes.enumerated() {
            parts.append(table((0..<n).map { b.codes[$0 * attributes + j] }, tape: tape))
        }
        let contexts = contextTables.count
        for (j, table) in contextTables.enumerated() {
            parts.append(table(b.contextCodes.isEmpty ? [Int32](repeating: 0, count: n) : (0..<n).map { b.contextCodes[$0 * contexts + j] }, tape: tape))
        }
        if shapes.userNumeric > 0 { parts.append(tape.constant(Tensor(shape: [n, shapes.userNumeric], storage: b.numbers))) }
        if c.history != .none {
            let items = tape.parameter(itemID.weight)
            if b.historyItems.isEmpty {
                parts.append(tape.constant(Tensor(shape: [n, c.idDimension])))
            } else if attentionQuery == nil {
                // Fixed weights (mean, recency): one fused bag, no [T, D] intermediate.
                parts.append(embeddingBag(items, indices: b.historyItems, offsets: b.historyOffsets, mode: .sum, weights: b.historyWeights))
            } else {
                let rows = gather(items, indices: b.historyItems)          // [T, idDimension]
                var weights = tape.constant(Tensor(shape: [b.historyItems.count], storage: b.historyWeights))
                if let q = attentionQuery {
                    let logits = reshape(matmul(rows, tape.parameter(q)), [b.historyItems.count])
                    weights = segmentSoftmax(logits + log(weights), offsets: b.historyOffsets)
                }
                parts.append(segmentWeightedSum(rows, weights: weights, offsets: b.historyOffsets))
            }
        }
        return l2Normalize(userMLP(concat(parts, axis: 1)))
    }

    /// `[B, dimension]` unit item vectors.
    func items(_ b: ItemBatch, tape: Tape) -> Value {
        let n = b.count
        var parts = [itemID(b.ids, tape: tape)]
        if let categories { parts.append(categories(b.categories.indices, offsets: b.categories.offsets, tape: tape)) }
        if let tags { parts.append(tags(b.tags.indices, offsets: b.tags.offsets, tape: tape)) }
        if shapes.itemNumeric > 0 { parts.append(tape.constant(Tensor(shape: [n, shapes.itemNumeric], storage: b.numbers))) }
        if let vectorProjection, let length = shapes.vectorLength {
            parts.append(vectorProjection(tape.constant(Tensor(shape: [n, length], storage: b.vectors))))
        }
        return l2Normalize(itemMLP(concat(parts, axis: 1)))
    }

    /// Width of the served factors: the dimension, plus one for the item bias.
    var factorWidth: Int { configuration.dimension + (itemBias == nil ? 0 : 1) }

    /// The temperature that turns logits into inner products when serving: the learned one, or
    /// the configured one.
    var servingTemperature: Float { temperatureLog.map { expf($0.value.storage[0]) } ?? configuration.temperature }

    /// Queries and item vectors with the bias as one more column when items have one:
    /// `[q, t] · [v, b] = q·v + t·b`, so a softmax at `temperature` t sees `q·v/t + b`.
    /// `itemIDs` are the item batch's ids (0: unknown).
    func withBias(queries: Value, items: Value, itemIDs: [Int32], temperature: Float, tape: Tape) -> (Value, Value) {
        guard let itemBias else { return (queries, items) }
        let n = queries.shape[0]
        let column = tape.constant(Tensor(shape: [n, 1], repeating: temperature))
        return (concat([queries, column], axis: 1), concat([items, itemBias(itemIDs, tape: tape)], axis: 1))
    }

    /// The logit scale `1/temperature` (learned or fixed).
    func inverseTemperature(tape: Tape) -> Value? {
        temperatureLog.map { exp(tape.parameter($0) * -1) }
    }
}

/// An embedding table with small initial rows (std 0.05): N(0, 1) rows of width 64 would start
/// every cosine near ±1 and saturate a softmax at a low temperature.
func smallEmbedding(_ count: Int, _ dimension: Int, seed: UInt64) -> Embedding {
    let e = Embedding(count, dimension, seed: seed)
    e.weight.value.storage = e.weight.value.storage.map { $0 * 0.05 }
    return e
}

/// A mean embedding bag with small initial rows (see ``smallEmbedding(_:_:seed:)``).
func smallBag(_ count: Int, _ dimension: Int, seed: UInt64) -> EmbeddingBag {
    let b = EmbeddingBag(count, dimension, mode: .mean, seed: seed)
    b.weight.value.storage = b.weight.value.storage.map { $0 * 0.05 }
    return b
}
