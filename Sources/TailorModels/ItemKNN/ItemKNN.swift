import Foundation
import TailorData
import TailorLinalg

/// Item-based nearest neighbours (Sarwar et al., "Item-Based Collaborative Filtering
/// Recommendation Algorithms", WWW 2001), with the feature weightings and shrinkage of the
/// well-tuned baselines in Dacrema et al., "Are We Really Making Much Progress?" (RecSys 2019).
///
/// Each item is a vector over users. After optional weighting (TF-IDF or BM25 of the
/// item×user matrix), the similarity of items `i` and `j` is `wᵢ·wⱼ / (‖wᵢ‖·‖wⱼ‖ + shrinkage)`
/// (cosine; with `normalize` off, the plain dot product as implicit's TF-IDF and BM25
/// recommenders use). Only each item's `neighbors` most similar items are kept. A user's score
/// for item `j` is `Σᵢ r_ui · sim(i, j)` over the items `i` they interacted with.
public struct ItemKNN: TrainableRecommender, HistoryScoring, ItemSimilarity {
    /// The model family name, `itemknn`.
    public static let kind = "itemknn"

    /// How the item×user matrix is weighted before similarities are computed.
    public enum Weighting: String, Sendable, Codable, CaseIterable {
        /// The strengths as they are.
        case none
        /// `√r · log(items / (1 + items the user touched))` (implicit's `tfidf_weight`).
        case tfidf
        /// Okapi BM25 with `bm25K1` and `bm25B`, item length normalization (implicit's `bm25_weight`).
        case bm25
    }

    /// ItemKNN hyperparameters.
    public struct Configuration: Sendable, Codable, Equatable {
        /// Neighbours kept per item.
        public var neighbors = 100
        /// Added to the cosine denominator; damps similarities supported by few users.
        public var shrinkage: Float = 0
        /// Feature weighting.
        public var weighting: Weighting = .none
        /// Divide by the vector norms (cosine). Off gives the raw dot product.
        public var normalize = true
        /// BM25 saturation `k1`.
        public var bm25K1: Float = 1.2
        /// BM25 length normalization `b`.
        public var bm25B: Float = 0.75
        /// Worker threads (0: all cores).
        public var threads = 0

        /// A configuration; every parameter has the documented default.
        public init(neighbors: Int = 100, shrinkage: Float = 0, weighting: Weighting = .none, normalize: Bool = true, threads: Int = 0) {
            self.neighbors = neighbors
            self.shrinkage = shrinkage
            self.weighting = weighting
            self.normalize = normalize
            self.threads = threads
        }
    }

    /// The configuration used.
    public let configuration: Configuration
    /// Items × items: row `i` holds `i`'s neighbours and similarities, ascending by item.
    public let similarity: CSRMatrix
    /// Users × items training strengths, the histories scores are built from.
    public let history: CSRMatrix

    /// Number of users.
    public var userCount: Int { history.rows }
    /// Number of items.
    public var itemCount: Int { similarity.rows }

    /// A model from a known similarity matrix and histories.
    public init(configuration: Configuration, similarity: CSRMatrix, history: CSRMatrix) {
        precondition(similarity.rows == similarity.columns && similarity.rows == history.columns, "similarity and history shapes disagree")
        self.configuration = configuration
        self.similarity = similarity
        self.history = history
    }

    /// Computes the neighbourhoods. O(Σᵤ nᵤ² + items · neighbours · log neighbours).
    public static func fit(_ data: TrainingData, configuration c: Configuration = .init(), progress: ProgressHandler? = nil) throws -> ItemKNN {
        guard data.matrix.nonZeroCount > 0 else {
            throw ModelError(.emptyData, reason: "no interactions to learn from (\(data.userCount) users, \(data.itemCount) items)")
        }
        guard c.neighbors >= 1 else { throw ModelError(.invalidConfiguration, reason: "neighbors must be at least 1, got \(c.neighbors)") }
        guard c.shrinkage >= 0, c.shrinkage.isFinite else { throw ModelError(.invalidConfiguration, reason: "shrinkage must be ≥ 0, got \(c.shrinkage)") }
        let start = monotonicSeconds()
        let weightedItemUsers = weighted(data.matrix.itemUsers, c)
        let weightedUserItems = weightedItemUsers.transposed()
        let n = data.itemCount
        var norms = [Float](repeating: 1, count: n)
        if c.normalize {
            for i in 0..<n { norms[i] = weightedItemUsers.values(inRow: i).reduce(0) { $0 + $1 * $1 }.squareRoot() }
        }
        let k = min(c.neighbors, max(1, n - 1))
        let threads = effectiveThreadCount(c.threads)
        var rowsIndices = [[Int32]](repeating: [], count: n)
        var rowsValues = [[Float]](repeating: [], count: n)
        rowsIndices.withUnsafeMutableBufferPointer { outI in
            rowsValues.withUnsafeMutableBufferPointer { outV in
                let shared = UnsafeSendable((outI.baseAddress!, outV.baseAddress!))
                parallelFor(n, chunkSize: 32, threads: threads) { chunk in
                    let (outI, outV) = shared.value
                    var accumulator = [Float](repeating: 0, count: n)
                    var stamp = [Int32](repeating: -1, count: n)
                    var touched: [Int32] = []
                    var heapS = [Float](repeating: 0, count: k), heapI = [Int32](repeating: 0, count: k)
                    var bestS = [Float](repeating: 0, count: k), bestI = [Int32](repeating: 0, count: k)
                    for i in chunk.range {
                        touched.removeAll(keepingCapacity: true)
                        for p in weightedItemUsers.range(ofRow: i) {
                            let u = Int(weightedItemUsers.columnIndices[p]), wui = weightedItemUsers.values[p]
                            for q in weightedUserItems.range(ofRow: u) {
                                let j = weightedUserItems.columnIndices[q]
                                if stamp[Int(j)] != Int32(i) { stamp[Int(j)] = Int32(i); accumulator[Int(j)] = 0; touched.append(j) }
                                accumulator[Int(j)] += wui * weightedUserItems.values[q]
                            }
                        }
                        let found: Int = heapS.withUnsafeMutableBufferPointer { hs in
                            heapI.withUnsafeMutableBufferPointer { hi in
                                var selector = TopKSelector(capacity: k, scores: hs.baseAddress!, indices: hi.baseAddress!)
                                for j in touched where Int(j) != i {
                                    let dot = accumulator[Int(j)]
                                    let denominator = c.normalize ? norms[i] * norms[Int(j)] + c.shrinkage : 1
                                    if denominator > 0 && dot != 0 { selector.offer(dot / denominator, j) }
                                }
                                return selector.drain(scores: &bestS, indices: &bestI)
                            }
                        }
                        let order = (0..<found).sorted { bestI[$0] < bestI[$1] }
                        outI[i] = order.map { bestI[$0] }
                        outV[i] = order.map { bestS[$0] }
                    }
                }
            }
        }
        var pointers = [0]
        pointers.reserveCapacity(n + 1)
        for i in 0..<n { pointers.append(pointers[i] + rowsIndices[i].count) }
        let similarity = CSRMatrix(rows: n, columns: n, rowPointers: pointers, columnIndices: rowsIndices.flatMap { $0 },
                                   values: rowsValues.flatMap { $0 })
        progress?(TrainingEvent(model: kind, step: 1, totalSteps: 1, elapsedSeconds: monotonicSeconds() - start,
                                metrics: ["neighbors_per_item": Double(similarity.nonZeroCount) / Double(max(1, n))]))
        return ItemKNN(configuration: c, similarity: similarity, history: data.matrix.userItems)
    }

    /// The item×user matrix after the configured weighting.
    static func weighted(_ itemUsers: CSRMatrix, _ c: Configuration) -> CSRMatrix {
        switch c.weighting {
        case .none:
            return itemUsers
        case .tfidf, .bm25:
            let items = Float(itemUsers.rows)
            var userDegree = [Float](repeating: 0, count: itemUsers.columns)
            for u in itemUsers.columnIndices { userDegree[Int(u)] += 1 }
            let idf = userDegree.map { log(items) - log1p($0) }
            if c.weighting == .tfidf {
                var values = itemUsers.values
                for i in 0..<itemUsers.rows {
                    for p in itemUsers.range(ofRow: i) { values[p] = max(0, values[p]).squareRoot() * idf[Int(itemUsers.columnIndices[p])] }
                }
                return CSRMatrix(rows: itemUsers.rows, columns: itemUsers.columns, rowPointers: itemUsers.rowPointers,
                                 columnIndices: itemUsers.columnIndices, values: values)
            }
            let lengths = (0..<itemUsers.rows).map { itemUsers.values(inRow: $0).reduce(0, +) }
            let average = max(1e-12, lengths.reduce(0, +) / Float(max(1, lengths.count)))
            var values = itemUsers.values
            for i in 0..<itemUsers.rows {
                let norm = (1 - c.bm25B) + c.bm25B * lengths[i] / average
                for p in itemUsers.range(ofRow: i) {
                    let r = values[p]
                    values[p] = r * (c.bm25K1 + 1) / (c.bm25K1 * norm + r) * idf[Int(itemUsers.columnIndices[p])]
                }
            }
            return CSRMatrix(rows: itemUsers.rows, columns: itemUsers.columns, rowPointers: itemUsers.rowPointers,
                             columnIndices: itemUsers.columnIndices, values: values)
        }
    }

    /// Accumulates `Σᵢ rᵢ · sim(i, ·)` into `row`.
    func accumulate(items: ArraySlice<Int32>, values: ArraySlice<Float>, into row: UnsafeMutablePointer<Float>) {
        for (i, r) in zip(items, values) where i >= 0 && Int(i) < itemCount {
            for p in similarity.range(ofRow: Int(i)) {
                row[Int(similarity.columnIndices[p])] += r * similarity.values[p]
            }
        }
    }

    /// Scores from each user's training history. O(Σ history · neighbours).
    public func scores(users: [Int32], into scores: UnsafeMutableBufferPointer<Float>, threads: Int) {
        let n = itemCount
        for (r, u) in users.enumerated() {
            let row = scores.baseAddress! + r * n
            row.update(repeating: 0, count: n)
            if u >= 0 && Int(u) < history.rows {
                accumulate(items: history.columns(inRow: Int(u)), values: history.values(inRow: Int(u)), into: row)
            }
        }
    }

    /// Scores for any history (fold-in needs no training).
    public func scores(for history: UserHistory, into scores: UnsafeMutableBufferPointer<Float>) {
        scores.baseAddress!.update(repeating: 0, count: itemCount)
        accumulate(items: history.items[...], values: history.values[...], into: scores.baseAddress!)
    }

    /// The stored neighbours of each item, most similar first.
    public func similarItems(to items: [Int32], k: Int, threads: Int) -> TopKResult {
        topKOfRows(similarity, rows: items, k: k)
    }

    /// The similarity matrix as CSR tensors (the histories come from the bundle's `seen_*`).
    public func archiveTensors() -> [String: SafeTensors.Tensor] {
        ["similarity_indptr": .init(similarity.rowPointers.map(Int64.init), shape: [similarity.rows + 1]),
         "similarity_indices": .init(similarity.columnIndices, shape: [similarity.nonZeroCount]),
         "similarity_values": .init(similarity.values, shape: [similarity.nonZeroCount])]
    }

    /// The configuration.
    public func archiveConfiguration() throws -> JSONValue {
        .object(["configuration": try ConfigurationPatch.encode(configuration)])
    }

    /// Restores a model written by ``archiveTensors()`` plus the bundle's `seen_*` tensors.
    public init(archiveTensors t: [String: SafeTensors.Tensor], configuration: JSONValue) throws {
        guard let indices = t["similarity_indices"]?.int32s(), let values = t["similarity_values"]?.floats(),
              indices.count == values.count else {
            throw ModelError(reason: "the ItemKNN model file lacks a consistent similarity matrix")
        }
        let indptr = try ArchiveChecks.pointers(t["similarity_indptr"]?.int64s(), count: indices.count, name: "similarity_indptr", model: "ItemKNN")
        let n = indptr.count - 1
        try ArchiveChecks.indices(indices, below: n, name: "similarity_indices", model: "ItemKNN")
        guard let history = ModelBundle.seenMatrix(in: t, columns: n) else {
            throw ModelError(reason: "the ItemKNN model file lacks the training interactions (seen_*)")
        }
        guard case .object(let fields) = configuration, let c = fields["configuration"] else {
            throw ModelError(reason: "the ItemKNN manifest lacks its configuration")
        }
        self.init(configuration: try ConfigurationPatch.apply(c, to: Configuration(), context: "model.configuration"),
                  similarity: CSRMatrix(rows: n, columns: n, rowPointers: indptr, columnIndices: indices, values: values),
                  history: history)
    }
}
