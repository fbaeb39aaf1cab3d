import TailorData
import TailorLinalg

/// What a model learns from: the user×item matrix, and, when the log had them, the
/// timestamps and time-ordered sequences behind it.
///
/// Most models need only ``matrix``; trending popularity needs times, Item2Vec needs sequences.
public struct TrainingData: Sendable {
    /// Users × items strengths (duplicates merged).
    public let matrix: InteractionMatrix
    /// The log the matrix was built from, if known (carries timestamps and ID maps).
    public let interactions: Interactions?
    /// The item catalogue and user profiles, by external identifier (empty when unknown).
    /// Hybrid and neural models read it through ``interactions``' ID maps.
    public var side = SideInformation()
    /// Items shown beside the interactions, clicked or not (for click-through rankers); `nil`
    /// when the data has none. Its own ID maps; rankers match them by identifier.
    public var impressions: Impressions?

    /// Training data from a log, with what is known about its items and users.
    public init(_ interactions: Interactions, side: SideInformation = .init()) {
        self.interactions = interactions
        matrix = InteractionMatrix(interactions)
        self.side = side
    }

    /// Training data from a log whose matrix is already built.
    public init(_ interactions: Interactions, matrix: InteractionMatrix, side: SideInformation = .init()) {
        precondition(matrix.userCount == interactions.userIDs.count && matrix.itemCount == interactions.itemIDs.count,
                     "matrix shape differs from the log's ID maps")
        self.interactions = interactions
        self.matrix = matrix
        self.side = side
    }

    /// Training data from a matrix alone (no times, sequences in item order).
    public init(matrix: InteractionMatrix) {
        self.interactions = nil
        self.matrix = matrix
    }

    /// Number of users.
    public var userCount: Int { matrix.userCount }
    /// Number of items.
    public var itemCount: Int { matrix.itemCount }
    /// Whether per-interaction times are known.
    public var hasTimestamps: Bool { interactions?.timestamps != nil }

    /// Each user's items in time order (log order without times; item order without a log),
    /// with their times (`nil` without timestamps).
    public func userSequences() -> [(items: [Int32], times: [Int64]?)] {
        guard let log = interactions else {
            return (0..<userCount).map { (Array(matrix.userItems.columns(inRow: $0)), nil) }
        }
        let (order, offsets) = log.rowsByUser()
        return (0..<userCount).map { u in
            let rows = order[offsets[u]..<offsets[u + 1]]
            return (rows.map { log.items[$0] }, log.timestamps.map { t in rows.map { t[$0] } })
        }
    }

    /// The latest timestamp in the log, if any.
    public var latestTimestamp: Int64? { interactions?.timestamps?.max() }
}

/// A model that can be trained from ``TrainingData`` with a `Codable` configuration: what the
/// CLI, the conformance suite and hyperparameter search use to treat models alike.
public protocol TrainableRecommender: Recommender {
    /// Hyperparameters, every one with a documented default.
    associatedtype Configuration: Sendable, Codable, Equatable
    /// Fits a model. Throws ``ModelError`` for empty data or invalid hyperparameters.
    static func fit(_ data: TrainingData, configuration: Configuration, progress: ProgressHandler?) throws -> Self
}

/// A user described only by what they interacted with: used to recommend for users the model
/// has not seen, or for known users with new events, without retraining ("fold-in").
public struct UserHistory: Sendable, Equatable {
    /// Item positions, oldest first.
    public var items: [Int32]
    /// Strengths (1 for plain implicit feedback).
    public var values: [Float]
    /// Unix times, if known.
    public var times: [Int64]?

    /// A history; `values` defaults to 1 per item.
    public init(items: [Int32], values: [Float]? = nil, times: [Int64]? = nil) {
        precondition(values == nil || values!.count == items.count, "history values and items differ in length")
        precondition(times == nil || times!.count == items.count, "history times and items differ in length")
        self.items = items
        self.values = values ?? [Float](repeating: 1, count: items.count)
        self.times = times
    }
}

/// Models that can score every item for a history rather than a trained user.
public protocol HistoryScoring: Recommender {
    /// Writes the score of every item for a user with `history` into `scores` (`itemCount`).
    func scores(for history: UserHistory, into scores: UnsafeMutableBufferPointer<Float>)
}

/// A model that reads a user's items in order (a sequence model such as SASRec): scores follow
/// from the latest items, so a live sequence gives fresh recommendations with no retraining.
public protocol SequenceScoring: HistoryScoring {
    /// Writes every item's score for each user (`users.count × itemCount`, row-major): a known
    /// user (a position) continues their training sequence with `recent`; an unknown one
    /// (`nil`) is `recent` alone (item positions, oldest first; positions outside the
    /// catalogue are ignored).
    func scores(users: [Int32?], recent: [[Int32]], into scores: UnsafeMutableBufferPointer<Float>)
}

extension HistoryScoring {
    /// The best `k` items for `history`, never returning its own items unless `includeHistory`.
    public func recommend(history: UserHistory, k: Int, includeHistory: Bool = false) -> [(index: Int32, score: Float)] {
        var scores = [Float](repeating: 0, count: itemCount)
        scores.withUnsafeMutableBufferPointer { self.scores(for: history, into: $0) }
        if !includeHistory { for i in history.items where Int(i) < itemCount && i >= 0 { scores[Int(i)] = -.infinity } }
        var idx = [Int32](repeating: 0, count: k), sc = [Float](repeating: 0, count: k)
        let n = Kernels.topK(scores, count: scores.count, k: k, outIndices: &idx, outScores: &sc)
        return (0..<n).map { (idx[$0], sc[$0]) }
    }
}

/// Models that predict whether a shown item will be clicked (second-stage rankers).
public protocol ClickScoring: Recommender {
    /// Calibrated click probabilities for the rows of `impressions` (matched by identifier;
    /// users and items the model never saw read as unknown), in row order.
    func clickProbabilities(_ impressions: Impressions) -> [Float]
}

/// Factor models that compute vectors for users and items they were never trained on, from what
/// is known about them: a new user's profile and first events, a new item's content (hybrid and
/// two-tower models). The vectors are comparable with ``FactorModel/itemFactors`` and
/// ``FactorModel/userFactors``: inner products are scores.
public protocol ColdStartScoring: FactorModel {
    /// One vector (row) per user known only by a profile (`nil`: none) and a history (item
    /// positions, oldest first; may be empty).
    func userVectors(profiles: [UserProfile?], histories: [[Int32]]) -> Matrix
    /// One vector per user with a fresh history (item positions, oldest first): a known user
    /// (a position) keeps their trained id and attributes; an unknown one (`nil`) is read from
    /// `profiles` like ``userVectors(profiles:histories:)``.
    func userVectors(users: [Int32?], profiles: [UserProfile?], histories: [[Int32]]) -> Matrix
    /// The context features (`device`, `hour`…) the user vectors can depend on; empty when none.
    var contextFeatures: [String] { get }
    /// One vector per user in the context of a request (feature name to value): known users
    /// (positions) with a `nil` history use their training history, unknown ones (`nil`) are
    /// read from `profiles`. Throws ``ModelError`` for a context that does not parse.
    func userVectors(users: [Int32?], profiles: [UserProfile?], histories: [[Int32]?], context: [String: String]) throws -> Matrix
    /// One vector (row) per item known only by its content (`nil`: none).
    func itemVectors(content: [CatalogItem?]) -> Matrix
    /// Whether ``addColdPrior(profile:historyLength:to:)`` adds anything.
    var hasColdPrior: Bool { get }
    /// Adds to `scores` (one per item: inner products of a new user's vector with
    /// ``FactorModel/itemFactors``) a prior over items from the user's profile, weighted by how
    /// few events (`historyLength`) the user has. Only for users the model does not know.
    /// Returns false, changing nothing, when the model keeps no prior.
    func addColdPrior(profile: UserProfile?, historyLength: Int, to scores: UnsafeMutableBufferPointer<Float>) -> Bool
}

extension ColdStartScoring {
    /// No prior unless the model keeps one.
    public var hasColdPrior: Bool { false }

    /// No prior unless the model keeps one.
    public func addColdPrior(profile: UserProfile?, historyLength: Int, to scores: UnsafeMutableBufferPointer<Float>) -> Bool { false }

    /// The vector of one user known only by `profile` and `history`.
    public func userVector(profile: UserProfile?, history: [Int32]) -> [Float] {
        Array(userVectors(profiles: [profile], histories: [history]).storage)
    }

    /// The vector of one item known only by its content.
    public func itemVector(content: CatalogItem?) -> [Float] {
        Array(itemVectors(content: [content]).storage)
    }

    /// Writes the score of every item for a user known only by `profile` and `history`, the
    /// model's cold prior included.
    public func scores(profile: UserProfile?, history: [Int32], into scores: UnsafeMutableBufferPointer<Float>) {
        let q = userVector(profile: profile, history: history)
        itemFactors.withUnsafeBufferPointer { y in
            for i in 0..<itemCount { scores[i] = Kernels.dot(q, y.baseAddress! + i * factors, count: factors) }
        }
        _ = addColdPrior(profile: profile, historyLength: history.count, to: scores)
    }
}
