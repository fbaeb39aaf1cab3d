import Foundation
import TailorData
import TailorLinalg
import TailorModels

/// Evaluation of cold start: users the model never saw (known by their profile and perhaps
/// their first events), and items it never saw (known by their content), with the baselines a
/// model must beat printed beside it.
///
/// - Cold users: the held-out users' interactions, in time order; the first `revealed` are
///   given to the model as history (and excluded from ranking), the rest are the relevant
///   items, ranked among all the model's items. Baselines: popularity, and popularity within
///   the user's demographic segment.
/// - Cold items: the held-out items' interactions by users the model knows; those items are
///   ranked among themselves from their content alone. Baseline: content-kNN (TF-IDF over
///   categories, tags and words, against the user's training items).
public enum ColdStartEvaluation {
    /// Reports, model first, then baselines; and what was left out.
    public struct Result: Sendable {
        /// `(label, report)` rows for ``EvaluationReport/table(_:)``.
        public var reports: [(String, EvaluationReport)]
        /// Test rows left out (their item, or for cold items their user, is unknown to the model).
        public var skippedRows: Int
        /// Test users (cold users) or cold items.
        public var heldOut: Int
    }

    /// Cold-user evaluation of `bundle`'s model (when it is ``ColdStartScoring``; otherwise only
    /// the baselines, and the model's row is missing). The users' vectors are computed once, in
    /// batches, then scored against the item vectors by GEMM.
    public static func coldUsers(bundle: ModelBundle, test: Interactions, revealed: Int, side: SideInformation,
                                 configuration: Evaluator.Configuration = .init()) -> Result {
        let (order, offsets) = test.rowsByUser()
        var profiles: [UserProfile?] = [], histories: [[Int32]] = []
        var trainRows: [Int32] = [], trainColumns: [Int32] = [], testRows: [Int32] = [], testColumns: [Int32] = []
        var skipped = 0
        for u in 0..<test.userIDs.count where offsets[u + 1] > offsets[u] {
            let row = Int32(profiles.count)
            profiles.append(side.users[test.userIDs[Int32(u)]])
            var history: [Int32] = []
            for r in order[offsets[u]..<offsets[u + 1]] {
                guard let item = bundle.itemIDs.position(of: test.itemIDs[test.items[r]]) else { skipped += 1; continue }
                if history.count < revealed {
                    history.append(item); trainRows.append(row); trainColumns.append(item)
                } else {
                    testRows.append(row); testColumns.append(item)
                }
            }
            histories.append(history)
        }
        let n = bundle.itemIDs.count, m = profiles.count
        let train = CSRMatrix(rows: m, columns: n, rowIndices: trainRows, columnIndices: trainColumns, values: trainRows.map { _ in 1 })
        let relevant = CSRMatrix(rows: m, columns: n, rowIndices: testRows, columnIndices: testColumns, values: testRows.map { _ in 1 })
        var reports: [(String, EvaluationReport)] = []
        if let model = bundle.model as? any ColdStartScoring {
            let queries = model.userVectors(profiles: profiles, histories: histories), items = model.itemFactors
            reports.append((bundle.manifest.kind, Evaluator.evaluate(name: bundle.manifest.kind, userCount: m, itemCount: n, train: train, test: relevant,
                                                                     configuration: configuration) { [profiles, histories] users, buffer in
                innerProducts(queries, rows: users, items, into: buffer)
                guard model.hasColdPrior else { return }
                for (r, user) in users.enumerated() {
                    _ = model.addColdPrior(profile: profiles[Int(user)], historyLength: histories[Int(user)].count,
                                           to: UnsafeMutableBufferPointer(rebasing: buffer[(r * n)..<((r + 1) * n)]))
                }
            }))
        }
        let knownProfiles = (0..<bundle.userIDs.count).map { side.users[bundle.userIDs[Int32($0)]] }
        let segments = DemographicPopularity(seen: bundle.seen, profiles: knownProfiles)
        let global = segments.global
        reports.append(("popularity", Evaluator.evaluate(name: "popularity", userCount: m, itemCount: n, train: train, test: relevant,
                                                         configuration: configuration) { users, buffer in
            for r in users.indices { for i in 0..<n { buffer[r * n + i] = global[i] } }
        }))
        reports.append(("demographic-popularity", Evaluator.evaluate(name: "demographic-popularity", userCount: m, itemCount: n, train: train,
                                                                     test: relevant, configuration: configuration) { [profiles] users, buffer in
            for (r, user) in users.enumerated() {
                let scores = segments.scores(for: profiles[Int(user)])
                for i in 0..<n { buffer[r * n + i] = scores[i] }
            }
        }))
        return Result(reports: reports, skippedRows: skipped, heldOut: m)
    }

    /// Cold-item evaluation: the held-out items ranked among themselves for the users the
    /// model knows. The items' vectors are computed once from their content.
    public static func coldItems(bundle: ModelBundle, test: Interactions, side: SideInformation,
                                 configuration: Evaluator.Configuration = .init()) -> Result {
        var coldIndex: [Int32: Int32] = [:], coldItems: [CatalogItem?] = []
        var rows: [Int32] = [], columns: [Int32] = []
        var skipped = 0
        for r in 0..<test.count {
            guard let user = bundle.userIDs.position(of: test.userIDs[test.users[r]]) else { skipped += 1; continue }
            let item = test.items[r]
            let column: Int32
            if let c = coldIndex[item] { column = c } else {
                column = Int32(coldItems.count)
                coldIndex[item] = column
                coldItems.append(side.items[test.itemIDs[item]])
            }
            rows.append(user); columns.append(column)
        }
        let users = bundle.userIDs.count, n = coldItems.count
        let relevant = CSRMatrix(rows: users, columns: n, rowIndices: rows, columnIndices: columns, values: rows.map { _ in 1 })
        let none = CSRMatrix(rows: users, columns: n, rowIndices: [], columnIndices: [], values: [])
        var reports: [(String, EvaluationReport)] = []
        if let model = bundle.model as? any ColdStartScoring, n > 0 {
            let vectors = model.itemVectors(content: coldItems), queries = model.userFactors
            reports.append((bundle.manifest.kind, Evaluator.evaluate(name: bundle.manifest.kind, userCount: users, itemCount: n, train: none,
                                                                     test: relevant, configuration: configuration) { batch, buffer in
                innerProducts(queries, rows: batch, vectors, into: buffer)
            }))
        }
        let known = (0..<bundle.itemIDs.count).map { side.items[bundle.itemIDs[Int32($0)]] }
        let knn = ContentKNN(known: known, new: coldItems, seen: bundle.seen)
        reports.append(("content-knn", Evaluator.evaluate(name: "content-knn", userCount: users, itemCount: n, train: none, test: relevant,
                                                          configuration: configuration) { batch, buffer in
            for (r, user) in batch.enumerated() {
                knn.scores(user: Int(user), into: UnsafeMutableBufferPointer(rebasing: buffer[(r * n)..<((r + 1) * n)]))
            }
        }))
        return Result(reports: reports, skippedRows: skipped, heldOut: n)
    }
}

/// Inner products of rows `rows` of `queries` with every row of `items`, row-major into `buffer`
/// (one GEMM over the gathered rows).
func innerProducts(_ queries: Matrix, rows: [Int32], _ items: Matrix, into buffer: UnsafeMutableBufferPointer<Float>) {
    let d = queries.columns, n = items.rows
    guard !rows.isEmpty, n > 0 else { return }
    precondition(items.columns == d && buffer.count >= rows.count * n, "innerProducts: shapes do not match")
    var gathered = [Float]()
    gathered.reserveCapacity(rows.count * d)
    for r in rows { gathered.append(contentsOf: queries.row(Int(r))) }
    gathered.withUnsafeBufferPointer { a in
        items.withUnsafeBufferPointer { b in
            Kernels.gemm(transposeB: true, m: rows.count, n: n, k: d, a: a.baseAddress!, lda: d, b: b.baseAddress!, ldb: d,
                         c: buffer.baseAddress!, ldc: n, threads: 1)
        }
    }
}

/// Content-based nearest neighbours for new items: each item is a TF-IDF vector of its
/// categories, tags and the words of its title and text; a user is the sum of their training
/// items' unit vectors; a new item scores its cosine with the user.
public struct ContentKNN: Sendable {
    /// A sparse unit vector: token ids in increasing order and their weights. Sorted arrays keep
    /// every sum in one order, so scores (and ties) are the same in every run.
    struct Sparse: Sendable {
        var ids: [Int32] = []
        var weights: [Float] = []

        /// Scaled to unit length (a zero vector stays zero).
        func normalized() -> Sparse {
            let norm = weights.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return norm > 0 ? Sparse(ids: ids, weights: weights.map { $0 / norm }) : self
        }

        /// The inner product, by merging the sorted ids.
        func dot(_ other: Sparse) -> Float {
            var i = 0, j = 0, s: Float = 0
            while i < ids.count && j < other.ids.count {
                if ids[i] == other.ids[j] { s += weights[i] * other.weights[j]; i += 1; j += 1 }
                else if ids[i] < other.ids[j] { i += 1 } else { j += 1 }
            }
            return s
        }
    }

    let users: [Sparse]
    let items: [Sparse]

    /// Builds vectors for the `known` items (model positions) and the `new` ones, with
    /// document frequencies over both, and user profiles from `seen` (users × known items).
    public init(known: [CatalogItem?], new: [CatalogItem?], seen: CSRMatrix) {
        var vocabulary: [String: Int32] = [:]
        let documents = (known + new).map { item -> [Int32] in
            Set(Self.tokens(item)).sorted().map { t in
                if let id = vocabulary[t] { return id }
                let id = Int32(vocabulary.count); vocabulary[t] = id; return id
            }.sorted()
        }
        var frequency = [Float](repeating: 0, count: vocabulary.count)
        for d in documents { for t in d { frequency[Int(t)] += 1 } }
        let count = Float(max(1, documents.count))
        let vectors = documents.map { d in Sparse(ids: d, weights: d.map { logf(count / frequency[Int($0)]) + 1 }).normalized() }
        let knownVectors = Array(vectors[0..<known.count])
        items = Array(vectors[known.count...])
        users = (0..<seen.rows).map { u in
            var profile: [Int32: Float] = [:]
            for i in seen.columns(inRow: u) where Int(i) < knownVectors.count {
                let v = knownVectors[Int(i)]
                for (t, w) in zip(v.ids, v.weights) { profile[t, default: 0] += w }
            }
            let ids = profile.keys.sorted()
            return Sparse(ids: ids, weights: ids.map { profile[$0]! }).normalized()
        }
    }

    /// Category, tag and word tokens of an item.
    static func tokens(_ item: CatalogItem?) -> [String] {
        guard let item else { return [] }
        var out = item.categories.map { "c:" + $0.lowercased() } + item.tags.map { "t:" + $0.lowercased() }
        let text = [item.title, item.text].compactMap { $0 }.joined(separator: " ").lowercased()
        for word in text.split(whereSeparator: { !$0.isLetter && !$0.isNumber }) where word.count >= 3 { out.append("w:" + word) }
        return out
    }

    /// Cosine of user `user` with every new item.
    public func scores(user: Int, into scores: UnsafeMutableBufferPointer<Float>) {
        for (j, v) in items.enumerated() { scores[j] = users[user].dot(v) }
    }
}
