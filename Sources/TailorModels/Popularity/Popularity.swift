import Foundation
import TailorData
import TailorLinalg

/// The popularity baseline: every user gets the items most users interacted with, either over
/// all time or trending (recent interactions count more).
///
/// All-time, the score of an item is the number of distinct users who interacted with it.
/// Trending, each interaction counts `0.5^(age / halfLife)`, where age is measured back from the
/// latest timestamp in the training data. It is the yardstick every personalized model must
/// beat, and the fallback for users a model has never seen.
public struct Popularity: TrainableRecommender, HistoryScoring {
    /// The model family name, `popularity`.
    public static let kind = "popularity"

    /// Popularity hyperparameters.
    public struct Configuration: Sendable, Codable, Equatable {
        /// With a half-life (in days), recent interactions count more ("trending"); `nil` counts
        /// all time equally.
        public var halfLifeDays: Double?

        /// All-time popularity, or trending with `halfLifeDays`.
        public init(halfLifeDays: Double? = nil) { self.halfLifeDays = halfLifeDays }
    }

    /// Score of each item.
    public let itemScores: [Float]
    /// Number of users known at training time.
    public let userCount: Int
    /// The configuration used.
    public let configuration: Configuration
    /// Items by decreasing score (ties by position), computed once.
    let ranking: [Int32]

    /// Number of items.
    public var itemCount: Int { itemScores.count }

    /// A model from known scores.
    public init(itemScores: [Float], userCount: Int, configuration: Configuration = .init()) {
        self.itemScores = itemScores
        self.userCount = userCount
        self.configuration = configuration
        ranking = (0..<Int32(itemScores.count)).sorted { (itemScores[Int($0)], -$0) > (itemScores[Int($1)], -$1) }
    }

    /// Counts distinct users per item (all-time), or sums decayed interactions (trending).
    /// O(nnz). Trending needs timestamps.
    public static func fit(_ data: TrainingData, configuration: Configuration = .init(), progress: ProgressHandler? = nil) throws -> Popularity {
        guard data.matrix.nonZeroCount > 0 else {
            throw ModelError(.emptyData, reason: "no interactions to count (\(data.userCount) users, \(data.itemCount) items)",
                             hint: "check the input log and any filters that may have removed every row")
        }
        guard let halfLife = configuration.halfLifeDays else {
            return Popularity(counting: data.matrix.userItems)
        }
        guard halfLife > 0, halfLife.isFinite else { throw ModelError(.invalidConfiguration, reason: "half-life must be a positive number of days, got \(halfLife)") }
        guard let log = data.interactions, let times = log.timestamps, let latest = times.max() else {
            throw ModelError(reason: "trending popularity needs timestamps, and this log has no time column",
                             hint: "name the time column with --columns time=COLUMN, or drop --half-life for all-time popularity")
        }
        var scores = [Float](repeating: 0, count: data.itemCount)
        let seconds = halfLife * 86_400
        for i in 0..<log.count {
            scores[Int(log.items[i])] += Float(pow(0.5, Double(latest - times[i]) / seconds))
        }
        return Popularity(itemScores: scores, userCount: data.userCount, configuration: configuration)
    }

    /// All-time popularity from a matrix.
    public static func fit(_ matrix: InteractionMatrix) throws -> Popularity {
        try fit(TrainingData(matrix: matrix))
    }

    /// Every row is the same popularity vector.
    public func scores(users: [Int32], into scores: UnsafeMutableBufferPointer<Float>, threads: Int) {
        for r in 0..<users.count {
            for i in 0..<itemCount { scores[r * itemCount + i] = itemScores[i] }
        }
    }

    /// The popularity vector, whatever the history.
    public func scores(for history: UserHistory, into scores: UnsafeMutableBufferPointer<Float>) {
        for i in 0..<itemCount { scores[i] = itemScores[i] }
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

    /// The configuration and user count.
    public func archiveConfiguration() throws -> JSONValue {
        .object(["users": .number(Double(userCount)), "configuration": try ConfigurationPatch.encode(configuration)])
    }

    /// Restores a model written by ``archiveTensors()``.
    public init(archiveTensors tensors: [String: SafeTensors.Tensor], configuration: JSONValue) throws {
        guard let scores = tensors["item_scores"]?.floats() else {
            throw ModelError(reason: "the popularity model file lacks item_scores")
        }
        guard case .object(let fields) = configuration, case .number(let users)? = fields["users"],
              users >= 0, users < 1e12, users == users.rounded() else {
            throw ModelError(reason: "the popularity manifest lacks its user count")
        }
        self.init(itemScores: scores, userCount: Int(users),
                  configuration: try ConfigurationPatch.apply(fields["configuration"], to: Configuration(), context: "model.configuration"))
    }
}

extension Popularity {
    /// Popularity counted from a users × items matrix: distinct users per item. O(nnz).
    public init(counting seen: CSRMatrix) {
        var counts = [Float](repeating: 0, count: seen.columns)
        for c in seen.columnIndices { counts[Int(c)] += 1 }
        self.init(itemScores: counts, userCount: seen.rows)
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
