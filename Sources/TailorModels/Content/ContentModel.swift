import Foundation
import TailorData
import TailorLinalg

/// Content-based recommendations from item vectors: text embeddings written by `tailor embed`
/// (a sentence encoder over titles and abstracts), or any external feature vectors in the
/// catalogue. Every item is its unit vector; a user is the normalized sum of the vectors of the
/// items in their history (Lops, de Gemmis and Semeraro, "Content-based Recommender Systems",
/// 2011); a score is their cosine, blended with the item's popularity:
/// `(1 − w)·cos(user, item) + w·log(1 + users of item)/log(1 + users of the most popular item)`
/// (`popularityWeight` w). Content alone ranks poorly among items with a history (on MovieLens
/// it scores a sixth of popularity's NDCG); the blend keeps content's personal signal and
/// popularity's strength, and leaves the ranking of items nobody has touched (all at
/// popularity 0) to content alone. The popularity is one more factor column.
///
/// It needs no interactions with an item to recommend it, so items nobody has touched yet are
/// ranked from the first minute (`tailor evaluate` with a cold-items split measures exactly
/// that), and `similar` works for them too.
public struct ContentModel: TrainableRecommender, ColdStartScoring, ContentSimilarity {
    /// The model family name, `content`.
    public static let kind = "content"

    /// How a user's history items add up.
    public enum HistoryWeighting: String, Sendable, Codable, CaseIterable {
        /// Every item counts once.
        case binary
        /// Each item counts its interaction strength.
        case strength
    }

    /// Content model settings.
    public struct Configuration: Sendable, Codable, Equatable {
        /// How a user's history items add up.
        public var historyWeighting: HistoryWeighting = .binary
        /// Weight of the item's popularity against content similarity, in [0, 1].
        public var popularityWeight: Float = 0.5

        /// The defaults.
        public init(historyWeighting: HistoryWeighting = .binary, popularityWeight: Float = 0.5) {
            self.historyWeighting = historyWeighting
            self.popularityWeight = popularityWeight
        }
    }

    /// The configuration used.
    public let configuration: Configuration
    /// `users × (dimension + 1)`: the unit content vector, then 1 (for the popularity column).
    public let userFactors: Matrix
    /// `items × (dimension + 1)`: `(1 − w)·`the unit content vector (zero without one), then
    /// `w·`the log-scaled popularity.
    public let itemFactors: Matrix
    /// Training items that had no vector (they score 0 for everyone).
    public let itemsWithoutVectors: Int

    /// The context features: none.
    public var contextFeatures: [String] { [] }

    /// Reads each training item's vector from the catalogue (``TrainingData/side``), counts
    /// its users and sums every user's vectors. O(nnz · dimension).
    ///
    /// - Throws: ``ModelError`` when no training item has a vector (with how to compute them).
    public static func fit(_ data: TrainingData, configuration: Configuration = .init(), progress: ProgressHandler? = nil) throws -> ContentModel {
        let w = configuration.popularityWeight
        guard w >= 0 && w <= 1 else {
            throw ModelError(.invalidConfiguration, reason: "popularityWeight must be in [0, 1], got \(w)", hint: "0 is content alone, 1 popularity alone")
        }
        guard let log = data.interactions else {
            throw ModelError(reason: "the content model reads item vectors by item id, and this training data has no id map",
                             hint: "train from a log or a store")
        }
        var lengths: [Int: Int] = [:]
        for i in 0..<data.itemCount {
            if let n = data.side.items[log.itemIDs[Int32(i)]]?.features?.count, n > 0 { lengths[n, default: 0] += 1 }
        }
        guard let dimension = lengths.max(by: { ($0.value, -$0.key) < ($1.value, -$1.key) })?.key else {
            throw ModelError(.emptyData, reason: "none of the \(data.itemCount) training items has a vector",
                             hint: "compute text vectors with `tailor embed --store DB --encoder DIR`, then train with --store DB --item-vectors text (or give a catalogue with a features column)")
        }
        var content = Matrix(rows: data.itemCount, columns: dimension)
        var missing = 0
        for i in 0..<data.itemCount {
            guard let v = data.side.items[log.itemIDs[Int32(i)]]?.features, v.count == dimension else { missing += 1; continue }
            let unit = normalized(v)
            for j in 0..<dimension { content[i, j] = unit[j] }
        }
        let seen = data.matrix.userItems
        var counts = [Float](repeating: 0, count: data.itemCount)
        for u in 0..<data.userCount { for c in seen.columns(inRow: u) { counts[Int(c)] += 1 } }
        let top = Foundation.log(1 + (counts.max() ?? 0))
        var items = Matrix(rows: data.itemCount, columns: dimension + 1)
        for i in 0..<data.itemCount {
            for j in 0..<dimension { items[i, j] = (1 - w) * content[i, j] }
            items[i, dimension] = top > 0 ? w * Foundation.log(1 + counts[i]) / top : 0
        }
        var users = Matrix(rows: data.userCount, columns: dimension + 1)
        for u in 0..<data.userCount {
            let cols = seen.columns(inRow: u), vals = seen.values(inRow: u)
            var sum = [Float](repeating: 0, count: dimension)
            for (c, v) in zip(cols, vals) {
                let weight: Float = configuration.historyWeighting == .binary ? 1 : v
                for j in 0..<dimension { sum[j] += weight * content[Int(c), j] }
            }
            let unit = normalized(sum)
            for j in 0..<dimension { users[u, j] = unit[j] }
            users[u, dimension] = 1
        }
        progress?(TrainingEvent(model: kind, step: 1, totalSteps: 1, elapsedSeconds: 0,
                                metrics: ["items_with_vectors": Double(data.itemCount - missing), "dimension": Double(dimension)]))
        return ContentModel(configuration: configuration, userFactors: users, itemFactors: items, itemsWithoutVectors: missing)
    }

    init(configuration: Configuration, userFactors: Matrix, itemFactors: Matrix, itemsWithoutVectors: Int) {
        self.configuration = configuration
        self.userFactors = userFactors
        self.itemFactors = itemFactors
        self.itemsWithoutVectors = itemsWithoutVectors
    }

    static func normalized(_ v: [Float]) -> [Float] {
        let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return norm > 0 && norm.isFinite ? v.map { $0 / norm } : [Float](repeating: 0, count: v.count)
    }

    /// Length of the content vectors (the factors less the popularity column).
    public var dimension: Int { factors - 1 }

    /// The normalized sum of the history items' content vectors, then 1 (profiles are not used).
    public func userVectors(profiles: [UserProfile?], histories: [[Int32]]) -> Matrix {
        let d = dimension
        var out = Matrix(rows: histories.count, columns: factors)
        for (r, history) in histories.enumerated() {
            var sum = [Float](repeating: 0, count: d)
            for i in history where i >= 0 && Int(i) < itemCount {
                let row = itemFactors.row(Int(i))
                for j in 0..<d { sum[j] += row[j] }
            }
            let unit = Self.normalized(sum)
            for j in 0..<d { out[r, j] = unit[j] }
            out[r, d] = 1
        }
        return out
    }

    /// As ``userVectors(profiles:histories:)``: a content user is their history.
    public func userVectors(users: [Int32?], profiles: [UserProfile?], histories: [[Int32]]) -> Matrix {
        userVectors(profiles: profiles, histories: histories)
    }

    /// Known users without a fresh history keep their trained vector; context is ignored.
    public func userVectors(users: [Int32?], profiles: [UserProfile?], histories: [[Int32]?], context: [String: String]) throws -> Matrix {
        var out = userVectors(profiles: profiles, histories: histories.map { $0 ?? [] })
        for (r, history) in histories.enumerated() where history == nil {
            guard let u = users[r], u >= 0, Int(u) < userCount else { continue }
            for j in 0..<factors { out[r, j] = userFactors[Int(u), j] }
        }
        return out
    }

    /// A new item's vector from its content's feature vector (zero when it has none of the
    /// model's length), with popularity 0: it has no users yet.
    public func itemVectors(content: [CatalogItem?]) -> Matrix {
        let d = dimension, scale = 1 - configuration.popularityWeight
        var out = Matrix(rows: content.count, columns: factors)
        for (r, item) in content.enumerated() {
            guard let v = item?.features, v.count == d else { continue }
            let unit = Self.normalized(v)
            for j in 0..<d { out[r, j] = scale * unit[j] }
        }
        return out
    }

    /// Items most similar to each of `items` by the cosine of their content vectors alone
    /// (popularity left out).
    public func similarItems(to items: [Int32], k: Int, threads: Int) -> TopKResult {
        let content = contentRows()
        let queries = gatherRows(content, items)
        return Kernels.topKInnerProducts(queries: queries, items: content, k: k, exclude: { q in [items[q]] }, threads: threads)
    }

    /// The trained items most similar to new items known by their content, by cosine.
    public func similarItems(toContent content: [CatalogItem?], k: Int, threads: Int) -> TopKResult {
        let queries = itemVectors(content: content), d = dimension
        var unit = Matrix(rows: content.count, columns: d)
        for r in 0..<content.count {
            let v = Self.normalized(Array(queries.row(r).prefix(d)))
            for j in 0..<d { unit[r, j] = v[j] }
        }
        return Kernels.topKInnerProducts(queries: unit, items: contentRows(), k: k, exclude: nil, threads: threads)
    }

    /// The unit content vectors of the trained items (without the popularity column).
    func contentRows() -> Matrix {
        let d = dimension
        var out = Matrix(rows: itemCount, columns: d)
        for i in 0..<itemCount {
            let v = Self.normalized(Array(itemFactors.row(i).prefix(d)))
            for j in 0..<d { out[i, j] = v[j] }
        }
        return out
    }

    /// `user_factors`, `item_factors`.
    public func archiveTensors() -> [String: SafeTensors.Tensor] {
        ["user_factors": .init(userFactors), "item_factors": .init(itemFactors)]
    }

    /// The configuration.
    public func archiveConfiguration() throws -> JSONValue {
        .object(["configuration": try ConfigurationPatch.encode(configuration), "itemsWithoutVectors": .number(Double(itemsWithoutVectors))])
    }

    /// Restores a model written by ``archiveTensors()``.
    public init(archiveTensors t: [String: SafeTensors.Tensor], configuration: JSONValue) throws {
        guard let users = t["user_factors"]?.matrix(), let items = t["item_factors"]?.matrix(), users.columns == items.columns else {
            throw ModelError(reason: "the content model file lacks user_factors and item_factors of one width", hint: "retrain the model")
        }
        try ArchiveChecks.finite(users, name: "user_factors", model: "content")
        try ArchiveChecks.finite(items, name: "item_factors", model: "content")
        guard case .object(let fields) = configuration else { throw ModelError(reason: "the content model manifest is not an object") }
        self.configuration = try fields["configuration"].map { try ConfigurationPatch.apply($0, to: Configuration(), context: "configuration") } ?? .init()
        if case .number(let n)? = fields["itemsWithoutVectors"] { itemsWithoutVectors = Int(n) } else { itemsWithoutVectors = 0 }
        userFactors = users
        itemFactors = items
    }
}
