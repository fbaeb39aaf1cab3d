import TailorData
import TailorLinalg

/// The popularity baseline: every user gets the items most users interacted with.
///
/// The score of an item is the number of distinct users who interacted with it. It is the
/// yardstick every personalized model must beat, and the fallback for users a model has
/// never seen.
public struct Popularity: Recommender {
    /// The model family name, `popularity`.
    public static let kind = "popularity"

    /// Popularity has no hyperparameters yet; the type exists so every model reads alike.
    public struct Configuration: Sendable, Codable, Equatable {
        /// The defaults.
        public init() {}
    }

    /// Score of each item.
    public let itemScores: [Float]
    /// Number of users known at training time.
    public let userCount: Int
    /// Items by decreasing score (ties by position), computed once.
    let ranking: [Int32]

    /// Number of items.
    public var itemCount: Int { itemScores.count }

    /// A model from known scores.
    public init(itemScores: [Float], userCount: Int) {
        self.itemScores = itemScores
        self.userCount = userCount
        ranking = (0..<Int32(itemScores.count)).sorted { (itemScores[Int($0)], -$0) > (itemScores[Int($1)], -$1) }
    }

    /// Counts distinct users per item. O(nnz).
    public static func fit(_ matrix: InteractionMatrix, configuration: Configuration = .init()) throws -> Popularity {
        guard matrix.nonZeroCount > 0 else { throw ModelError(reason: "no interactions to count") }
        return Popularity(counting: matrix.userItems)
    }

    /// Every row is the same popularity vector.
    public func scores(users: [Int32], into scores: UnsafeMutableBufferPointer<Float>, threads: Int) {
        for r in 0..<users.count {
            for i in 0..<itemCount { scores[r * itemCount + i] = itemScores[i] }
        }
    }

    /// Walks the global ranking, skipping each user's excluded items. O(users · (k + excluded)).
    public func recommend(users: [Int32], k: Int, exclude: CSRMatrix?, threads: Int) -> TopKResult {
        var result = TopKResult(queries: users.count, k: k)
        for (q, user) in users.enumerated() {
            let banned: ArraySlice<Int32> = exclude.flatMap { Int(user) < $0.rows && user >= 0 ? $0.columns(inRow: Int(user)) : nil } ?? []
            var n = 0
            for item in ranking where n < k {
                if !banned.isEmpty && binarySearch(banned, item) { continue }
                result.indices[q * k + n] = item
                result.scores[q * k + n] = itemScores[Int(item)]
                n += 1
            }
            result.counts[q] = n
        }
        return result
    }

    /// `item_scores`, float32 `[items]`.
    public func archiveTensors() -> [String: SafeTensors.Tensor] {
        ["item_scores": .init(itemScores, shape: [itemScores.count])]
    }

    /// The user count (scores do not depend on the user).
    public func archiveConfiguration() throws -> JSONValue {
        .object(["users": .number(Double(userCount))])
    }

    /// Restores a model written by ``archiveTensors()``.
    public init(archiveTensors tensors: [String: SafeTensors.Tensor], configuration: JSONValue) throws {
        guard let scores = tensors["item_scores"]?.floats() else {
            throw ModelError(reason: "the popularity model file lacks item_scores")
        }
        guard case .object(let fields) = configuration, case .number(let users)? = fields["users"] else {
            throw ModelError(reason: "the popularity manifest lacks its user count")
        }
        self.init(itemScores: scores, userCount: Int(users))
    }
}

/// Whether sorted `values` contains `x`. O(log n).
func binarySearch(_ values: ArraySlice<Int32>, _ x: Int32) -> Bool {
    var lo = values.startIndex, hi = values.endIndex
    while lo < hi {
        let mid = (lo + hi) / 2
        if values[mid] < x { lo = mid + 1 } else { hi = mid }
    }
    return lo < values.endIndex && values[lo] == x
}
