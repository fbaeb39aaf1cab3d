import Foundation
import TailorData
import TailorLinalg

/// EASE, the embarrassingly shallow autoencoder (Steck, "Embarrassingly Shallow Autoencoders for
/// Sparse Data", WWW 2019).
///
/// An item×item weight matrix `B` with zero diagonal minimises `‖X − XB‖² + λ‖B‖²`; its closed
/// form is `B = I − P·diag(1/diag(P))` with `P = (XᵀX + λI)⁻¹`. A user's scores are `xᵤ·B`.
/// Training is one dense `items × items` inverse (O(items³), in place), so the catalogue must
/// fit in memory as a dense matrix: `fit` checks first and says what to do when it does not.
public struct EASE: TrainableRecommender, HistoryScoring, ItemSimilarity {
    /// The model family name, `ease`.
    public static let kind = "ease"

    /// EASE hyperparameters.
    public struct Configuration: Sendable, Codable, Equatable {
        /// L2 penalty λ on the weights (hundreds to thousands is typical).
        public var l2: Float = 500
        /// Treat every interaction as 1 (as in the paper) rather than its strength.
        public var binarize = true
        /// Refuse catalogues whose dense matrix would need more than this many bytes
        /// (default: 70% of physical memory).
        public var memoryLimitBytes: Int?
        /// Worker threads (0: all cores).
        public var threads = 0

        /// A configuration; every parameter has the documented default.
        public init(l2: Float = 500, binarize: Bool = true, threads: Int = 0) {
            self.l2 = l2
            self.binarize = binarize
            self.threads = threads
        }
    }

    /// The configuration used.
    public let configuration: Configuration
    /// `items × items` weights, zero diagonal.
    public let weights: Matrix
    /// Users × items training strengths, the histories scores are built from.
    public let history: CSRMatrix

    /// Number of users.
    public var userCount: Int { history.rows }
    /// Number of items.
    public var itemCount: Int { weights.rows }

    /// A model from known weights and histories.
    public init(configuration: Configuration, weights: Matrix, history: CSRMatrix) {
        precondition(weights.rows == weights.columns && weights.rows == history.columns, "EASE weights and history disagree")
        self.configuration = configuration
        self.weights = weights
        self.history = history
    }

    /// Bytes of the dense matrix for `items` items.
    public static func memoryNeeded(items: Int) -> Int { items * items * MemoryLayout<Float>.size }

    /// Solves for `B`. O(Σᵤ nᵤ² + items³) time, one dense items × items matrix of memory.
    ///
    /// - Throws: ``ModelError`` for empty data, a negative λ, or a catalogue too large for memory
    ///   (with the size needed and what to do).
    public static func fit(_ data: TrainingData, configuration c: Configuration = .init(), progress: ProgressHandler? = nil) throws -> EASE {
        guard data.matrix.nonZeroCount > 0 else {
            throw ModelError(.emptyData, reason: "no interactions to learn from (\(data.userCount) users, \(data.itemCount) items)")
        }
        guard c.l2 > 0, c.l2.isFinite else { throw ModelError(reason: "EASE needs a positive L2 penalty λ, got \(c.l2)") }
        let n = data.itemCount
        let needed = memoryNeeded(items: n)
        let limit = c.memoryLimitBytes ?? Int(Double(ProcessInfo.processInfo.physicalMemory) * 0.7)
        guard needed <= limit else {
            func gib(_ b: Int) -> String {
                let units = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")]
                for (size, name) in units where b >= size { return String(format: "%.1f %@", Double(b) / Double(size), name) }
                return "\(b) bytes"
            }
            let fitting = Int((Double(limit) / 4).squareRoot())
            throw ModelError(reason: "EASE needs a dense \(n) × \(n) item matrix (\(gib(needed))), more than the \(gib(limit)) allowed",
                             hint: "keep only the ~\(fitting) most frequent items (filter rare items from the log), or use a sparse model: --model itemknn or --model als")
        }
        let start = monotonicSeconds()
        let threads = effectiveThreadCount(c.threads)
        let x = c.binarize ? data.matrix.userItems.mapValues { _ in 1 } : data.matrix.userItems
        let xt = c.binarize ? data.matrix.itemUsers.mapValues { _ in 1 } : data.matrix.itemUsers
        // G = XᵀX + λI, row i from the users of item i (rows are independent: parallel).
        var g = Matrix(rows: n, columns: n)
        g.withUnsafeMutableBufferPointer { gp in
            let shared = UnsafeSendable(gp.baseAddress!)
            parallelFor(n, chunkSize: 16, threads: threads) { chunk in
                let g = shared.value
                for i in chunk.range {
                    let row = g + i * n
                    for p in xt.range(ofRow: i) {
                        let u = Int(xt.columnIndices[p]), xui = xt.values[p]
                        for q in x.range(ofRow: u) { row[Int(x.columnIndices[q])] += xui * x.values[q] }
                    }
                    row[i] += c.l2
                }
            }
        }
        let gramSeconds = monotonicSeconds() - start
        let ok = g.withUnsafeMutableBufferPointer { Kernels.symmetricInverse($0.baseAddress!, n: n, threads: threads) }
        guard ok else {
            throw ModelError(reason: "XᵀX + λI is not positive definite in single precision", hint: "increase --l2")
        }
        // B = I − P·diag(1/diag(P)): B_ij = −P_ij / P_jj, zero diagonal.
        g.withUnsafeMutableBufferPointer { p in
            let diagonal = (0..<n).map { p[$0 * n + $0] }
            let scale = diagonal.map { -1 / $0 }
            for i in 0..<n {
                let row = p.baseAddress! + i * n
                for j in 0..<n { row[j] *= scale[j] }
                row[i] = 0
            }
        }
        progress?(TrainingEvent(model: kind, step: 1, totalSteps: 1, elapsedSeconds: monotonicSeconds() - start,
                                metrics: ["gram_seconds": gramSeconds]))
        return EASE(configuration: c, weights: g, history: data.matrix.userItems)
    }

    func accumulate(items: ArraySlice<Int32>, values: ArraySlice<Float>, into row: UnsafeMutablePointer<Float>) {
        let n = itemCount
        weights.withUnsafeBufferPointer { b in
            for (i, r) in zip(items, values) where i >= 0 && Int(i) < n {
                Kernels.axpy(configuration.binarize ? 1 : r, b.baseAddress! + Int(i) * n, row, count: n)
            }
        }
    }

    /// Scores `xᵤ·B` from each user's training history. O(Σ history · items).
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

    /// The items with the largest weights `B[i, ·]`: what interacting with `i` predicts.
    public func similarItems(to items: [Int32], k: Int, threads: Int) -> TopKResult {
        let queries = items.map { i -> [Float] in
            var row = weights.row(Int(i))
            row[Int(i)] = -.infinity
            return row
        }
        var result = TopKResult(queries: items.count, k: k)
        for (q, row) in queries.enumerated() {
            var idx = [Int32](repeating: 0, count: k), sc = [Float](repeating: 0, count: k)
            let found = Kernels.topK(row, count: row.count, k: k, outIndices: &idx, outScores: &sc)
            for t in 0..<found { result.indices[q * k + t] = idx[t]; result.scores[q * k + t] = sc[t] }
            result.counts[q] = found
        }
        return result
    }

    /// `weights`, float32 `[items, items]` (the histories come from the bundle's `seen_*`).
    public func archiveTensors() -> [String: SafeTensors.Tensor] {
        ["weights": .init(weights)]
    }

    /// The configuration.
    public func archiveConfiguration() throws -> JSONValue {
        .object(["configuration": try ConfigurationPatch.encode(configuration)])
    }

    /// Restores a model written by ``archiveTensors()`` plus the bundle's `seen_*` tensors.
    public init(archiveTensors t: [String: SafeTensors.Tensor], configuration: JSONValue) throws {
        guard let weights = t["weights"]?.matrix(), weights.rows == weights.columns else {
            throw ModelError(reason: "the EASE model file lacks a square weights matrix")
        }
        guard let history = ModelBundle.seenMatrix(in: t, columns: weights.rows) else {
            throw ModelError(reason: "the EASE model file lacks the training interactions (seen_*)")
        }
        guard case .object(let fields) = configuration, let c = fields["configuration"] else {
            throw ModelError(reason: "the EASE manifest lacks its configuration")
        }
        self.init(configuration: try ConfigurationPatch.apply(c, to: Configuration(), context: "model.configuration"), weights: weights, history: history)
    }
}
