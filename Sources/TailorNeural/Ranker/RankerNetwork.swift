import Foundation
import TailorAutodiff
import TailorData
import TailorLinalg
import TailorModels
import TailorNN

/// Sizes of a ranker's tables and inputs (saved with the model).
struct RankerShapes: Sendable, Codable, Equatable {
    /// Rows of the user and item id tables (including the unknown row 0).
    var users: Int
    var items: Int
    var userVocabularies: [Int]
    var userNumeric: Int
    var categoryVocabulary: Int?
    var tagVocabulary: Int?
    var itemNumeric: Int
    /// Dense features (see ``denseFeatures(_:_:into:)``).
    var dense: Int
}

/// One batch of ranker inputs.
struct RankerBatch {
    var users: [Int32] = []
    var items: [Int32] = []
    var codes: [Int32] = []
    var userNumbers: [Float] = []
    var itemNumbers: [Float] = []
    var categories: (indices: [Int32], offsets: [Int]) = ([], [])
    var tags: (indices: [Int32], offsets: [Int]) = ([], [])
    var dense: [Float] = []
    var count: Int { users.count }
}

/// Deep & cross network: embeddings and dense features concatenated into `x₀`, cross layers
/// `xₗ₊₁ = x₀ ⊙ (Wₗ xₗ + bₗ) + xₗ` (DCN-v2, Wang et al. 2021), an MLP to one logit. PyTorch names:
/// `user_id`, `item_id`, `user_attribute_N`, `item_categories`, `item_tags`, `cross.N`, `head`.
final class RankerNetwork: Module {
    let userID: Embedding?
    let itemID: Embedding?
    let userAttributes: [Embedding]
    let categories: EmbeddingBag?
    let tags: EmbeddingBag?
    let cross: [Linear]
    let head: MLP
    let shapes: RankerShapes

    init(shapes: RankerShapes, configuration c: Ranker.Configuration) {
        self.shapes = shapes
        let seed = c.seed
        userID = c.idDimension > 0 ? smallEmbedding(shapes.users, c.idDimension, seed: seed &+ 31) : nil
        itemID = c.idDimension > 0 ? smallEmbedding(shapes.items, c.idDimension, seed: seed &+ 32) : nil
        userAttributes = shapes.userVocabularies.enumerated().map { smallEmbedding($1, c.featureDimension, seed: seed &+ 200 &+ UInt64($0)) }
        categories = shapes.categoryVocabulary.map { smallBag($0, c.featureDimension, seed: seed &+ 33) }
        tags = shapes.tagVocabulary.map { smallBag($0, c.featureDimension, seed: seed &+ 34) }
        let width = 2 * c.idDimension + shapes.userVocabularies.count * c.featureDimension + shapes.userNumeric
            + (shapes.categoryVocabulary == nil ? 0 : c.featureDimension) + (shapes.tagVocabulary == nil ? 0 : c.featureDimension)
            + shapes.itemNumeric + shapes.dense
        // Cross layers start near the identity map (small weights): xₗ₊₁ ≈ xₗ.
        cross = (0..<c.crossLayers).map { n in
            let l = Linear(width, width, seed: seed &+ 40 &+ UInt64(n))
            l.weight.value.storage = l.weight.value.storage.map { $0 * 0.1 }
            return l
        }
        head = MLP([width] + c.hidden + [1], dropout: c.dropout, seed: seed &+ 50)
    }

    override var children: [(String, Module)] {
        var out: [(String, Module)] = []
        if let userID { out.append(("user_id", userID)) }
        if let itemID { out.append(("item_id", itemID)) }
        for (j, e) in userAttributes.enumerated() { out.append(("user_attribute_\(j)", e)) }
        if let categories { out.append(("item_categories", categories)) }
        if let tags { out.append(("item_tags", tags)) }
        for (n, l) in cross.enumerated() { out.append(("cross.\(n)", l)) }
        out.append(("head", head))
        return out
    }

    /// `[B]` logits.
    func logits(_ b: RankerBatch, tape: Tape) -> Value {
        let n = b.count
        var parts: [Value] = []
        if let userID { parts.append(userID(b.users, tape: tape)) }
        if let itemID { parts.append(itemID(b.items, tape: tape)) }
        let attributes = userAttributes.count
        for (j, table) in userAttributes.enumerated() { parts.append(table((0..<n).map { b.codes[$0 * attributes + j] }, tape: tape)) }
        if shapes.userNumeric > 0 { parts.append(tape.constant(Tensor(shape: [n, shapes.userNumeric], storage: b.userNumbers))) }
        if let categories { parts.append(categories(b.categories.indices, offsets: b.categories.offsets, tape: tape)) }
        if let tags { parts.append(tags(b.tags.indices, offsets: b.tags.offsets, tape: tape)) }
        if shapes.itemNumeric > 0 { parts.append(tape.constant(Tensor(shape: [n, shapes.itemNumeric], storage: b.itemNumbers))) }
        if shapes.dense > 0 { parts.append(tape.constant(Tensor(shape: [n, shapes.dense], storage: b.dense))) }
        let x0 = concat(parts, axis: 1)
        var x = x0
        for layer in cross { x = x0 * layer(x) + x }
        return reshape(head(x), [n])
    }
}
