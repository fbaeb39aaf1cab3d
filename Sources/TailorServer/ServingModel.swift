import Foundation
import TailorData
import TailorLinalg
import TailorModels

/// A loaded model version and what serving it needs, computed once at activation and never
/// changed afterwards (a swap replaces the whole value, so in-flight requests keep the one they
/// started with).
public final class ServingModel: Sendable {
    /// The version's name (its directory name in the registry).
    public let version: String
    /// Where it was loaded from.
    public let path: String
    /// The model, its id maps and training interactions.
    public let bundle: ModelBundle
    /// Item positions from most to least popular in training.
    let popularOrder: [Int32]
    /// Item vectors scaled to unit length (factor models), for similar items and diversity.
    let normalizedItems: Matrix?
    /// User vectors scaled to unit length (factor models), for similar users.
    let normalizedUsers: Matrix?
    /// How events become interaction strengths (the training recipe's weights).
    let weights: EventWeights
    /// What item fold-in needs precomputed (ALS: the user vectors' Gram matrix), when the
    /// model can fold in new items.
    let itemFoldingGram: Matrix?
    /// When it was activated.
    public let activated: Date
    /// The approximate index over the item vectors, when the server was asked for one.
    public let index: HNSWIndex?

    /// Loads the model directory `path` as version `version`.
    ///
    /// - Throws: whatever ``ModelBundle/load(from:registry:)`` throws for a missing, corrupt or
    ///   incompatible model.
    public convenience init(path: String, version: String, ann: HNSWIndex.Configuration? = nil) throws {
        try self.init(bundle: ModelBundle.load(from: URL(fileURLWithPath: path)), version: version, path: path, ann: ann)
    }

    /// Serves `bundle` as `version`; with `ann`, builds an HNSW index over a factor model's item
    /// vectors (other models are ranked exactly).
    public init(bundle: ModelBundle, version: String, path: String = "", ann: HNSWIndex.Configuration? = nil) {
        self.bundle = bundle
        self.version = version
        self.path = path
        let scores = bundle.popularity.itemScores
        popularOrder = scores.indices.sorted { (scores[$0], -$0) > (scores[$1], -$1) }.map { Int32($0) }
        if let factors = bundle.model as? any FactorModel {
            normalizedItems = normalizedRows(factors.itemFactors)
            normalizedUsers = normalizedRows(factors.userFactors)
            index = ann.map { HNSWIndex(vectors: factors.itemFactors, configuration: $0) }
            itemFoldingGram = (bundle.model as? any ItemFolding)?.itemFoldingGram()
        } else {
            normalizedItems = nil
            normalizedUsers = nil
            index = nil
            itemFoldingGram = nil
        }
        weights = bundle.manifest.data.recipe?.weights ?? EventWeights()
        activated = Date()
    }

    /// The model family (`als`, `two-tower`, …).
    public var kind: String { bundle.manifest.kind }
}
