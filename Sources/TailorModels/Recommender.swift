import TailorData
import TailorLinalg

/// Anything that scores every item for a user. Every model in Tailor conforms, so the CLI, the
/// evaluator and the server treat them alike.
///
/// Positions (`Int32`) are dense internal indices; external identifiers are translated at the
/// edge by ``ModelBundle``.
public protocol Recommender: Sendable {
    /// The name of the model family in manifests and on the command line (`als`, `popularity`).
    static var kind: String { get }
    /// Number of users the model knows.
    var userCount: Int { get }
    /// Number of items the model scores.
    var itemCount: Int { get }

    /// Writes the score of every item for each of `users` into `scores`, row-major
    /// (`users.count × itemCount`). Higher is better.
    func scores(users: [Int32], into scores: UnsafeMutableBufferPointer<Float>, threads: Int)

    /// The `k` best items for each of `users`, best first, never returning an item listed for
    /// that user in `exclude` (a users × items matrix, usually the training interactions).
    func recommend(users: [Int32], k: Int, exclude: CSRMatrix?, threads: Int) -> TopKResult

    /// The model's learned state as named tensors, for the model file.
    func archiveTensors() -> [String: SafeTensors.Tensor]
    /// The model's hyperparameters as JSON, for the manifest.
    func archiveConfiguration() throws -> JSONValue
    /// Rebuilds a model from what ``archiveTensors()`` and ``archiveConfiguration()`` wrote.
    ///
    /// When loaded through ``ModelBundle``, `archiveTensors` also holds the bundle's training
    /// interactions (`seen_indptr`, `seen_indices`, `seen_values`; see ``ModelBundle/seenMatrix(in:)``),
    /// so models that score from a user's history need not store it twice.
    init(archiveTensors: [String: SafeTensors.Tensor], configuration: JSONValue) throws
}

extension Recommender {
    /// Default top-K: score users in blocks, knock out excluded items, select without sorting.
    /// O(users · (itemCount + cost of scoring)).
    public func recommend(users: [Int32], k requested: Int, exclude: CSRMatrix?, threads: Int) -> TopKResult {
        let n = itemCount
        let k = Swift.max(0, Swift.min(requested, n))
        var result = TopKResult(queries: users.count, k: k)
        guard !users.isEmpty, k > 0, n > 0 else { return result }
        let block = 64
        let workers = effectiveThreadCount(threads)
        let buffers = (0..<workers).map { _ in UnsafeMutableBufferPointer<Float>.allocate(capacity: block * n) }
        let heapS = UnsafeMutablePointer<Float>.allocate(capacity: workers * k)
        let heapI = UnsafeMutablePointer<Int32>.allocate(capacity: workers * k)
        defer { buffers.forEach { $0.deallocate() }; heapS.deallocate(); heapI.deallocate() }
        result.indices.withUnsafeMutableBufferPointer { outI in
            result.scores.withUnsafeMutableBufferPointer { outS in
                result.counts.withUnsafeMutableBufferPointer { outC in
                    let shared = UnsafeSendable((outI.baseAddress!, outS.baseAddress!, outC.baseAddress!, buffers, heapS, heapI))
                    parallelFor(users.count, chunkSize: block, threads: workers) { chunk in
                        let (outI, outS, outC, buffers, heapS, heapI) = shared.value
                        let batch = Array(users[chunk.range])
                        let buffer = buffers[chunk.worker]
                        self.scores(users: batch, into: UnsafeMutableBufferPointer(rebasing: buffer[0..<(batch.count * n)]), threads: 1)
                        var selector = TopKSelector(capacity: k, scores: heapS + chunk.worker * k, indices: heapI + chunk.worker * k)
                        for (r, user) in batch.enumerated() {
                            let row = buffer.baseAddress! + r * n
                            if let exclude, Int(user) < exclude.rows {
                                for item in exclude.columns(inRow: Int(user)) where Int(item) < n { row[Int(item)] = -.infinity }
                            }
                            selector.reset()
                            selector.offer(scores: row, count: n, indexOffset: 0)
                            let q = chunk.range.lowerBound + r
                            outC[q] = selector.drain(scores: outS + q * k, indices: outI + q * k)
                        }
                    }
                }
            }
        }
        return result
    }
}

/// Models that can list the items most similar to an item.
public protocol ItemSimilarity: Recommender {
    /// The `k` items most similar to each of `items`, best first, never the item itself.
    func similarItems(to items: [Int32], k: Int, threads: Int) -> TopKResult
}

/// Models that find trained items similar to new items known only by their content (text
/// vectors, categories): `similar` for an item nobody has interacted with yet.
public protocol ContentSimilarity: ItemSimilarity {
    /// The `k` trained items most similar to each of `content`, best first.
    func similarItems(toContent content: [CatalogItem?], k: Int, threads: Int) -> TopKResult
}

/// A model with one vector per user and per item whose inner product is the score
/// (matrix factorization and its relatives).
public protocol FactorModel: ItemSimilarity {
    /// `userCount × factors`.
    var userFactors: Matrix { get }
    /// `itemCount × factors`.
    var itemFactors: Matrix { get }
}

extension FactorModel {
    /// Number of users (rows of ``userFactors``).
    public var userCount: Int { userFactors.rows }
    /// Number of items (rows of ``itemFactors``).
    public var itemCount: Int { itemFactors.rows }
    /// Length of each vector.
    public var factors: Int { itemFactors.columns }

    /// Scores by one GEMM: `userFactors[users] · itemFactorsᵀ`.
    public func scores(users: [Int32], into scores: UnsafeMutableBufferPointer<Float>, threads: Int) {
        precondition(scores.count >= users.count * itemCount, "scores buffer too small")
        let queries = gatherRows(userFactors, users)
        queries.withUnsafeBufferPointer { q in
            itemFactors.withUnsafeBufferPointer { y in
                guard let qa = q.baseAddress, let ya = y.baseAddress, let out = scores.baseAddress else { return }
                Kernels.gemm(transposeB: true, m: users.count, n: itemCount, k: factors, a: qa, lda: factors,
                             b: ya, ldb: factors, c: out, ldc: itemCount, threads: threads)
            }
        }
    }

    /// Top-K by the fused scoring and selection kernel, never materializing a users × items
    /// score matrix. O(users · items · factors) arithmetic, O(users · k) memory.
    public func recommend(users: [Int32], k: Int, exclude: CSRMatrix?, threads: Int) -> TopKResult {
        let queries = gatherRows(userFactors, users)
        guard let matrix = exclude else {
            return Kernels.topKInnerProducts(queries: queries, items: itemFactors, k: k, exclude: nil, threads: threads)
        }
        let exclusion: @Sendable (Int) -> ArraySlice<Int32> = { (q: Int) -> ArraySlice<Int32> in
            let user = Int(users[q])
            return user < matrix.rows ? matrix.columns(inRow: user) : []
        }
        return Kernels.topKInnerProducts(queries: queries, items: itemFactors, k: k, exclude: exclusion, threads: threads)
    }

    /// The `k` items most similar to each of `items` by cosine of their vectors, excluding the
    /// item itself. Items with a zero vector are similar to nothing.
    public func similarItems(to items: [Int32], k: Int, threads: Int = 0) -> TopKResult {
        similarItemsByCosine(to: items, k: k, threads: threads)
    }

    /// Cosine neighbours of `items` among all item vectors.
    public func similarItemsByCosine(to items: [Int32], k: Int, threads: Int = 0) -> TopKResult {
        let normalized = normalizedRows(itemFactors)
        let queries = gatherRows(normalized, items)
        return Kernels.topKInnerProducts(queries: queries, items: normalized, k: k,
                                         exclude: { q in [items[q]] }, threads: threads)
    }
}

/// Rows `indices` of `m` as a new matrix.
func gatherRows(_ m: Matrix, _ indices: [Int32]) -> Matrix {
    var out = Matrix(rows: indices.count, columns: m.columns)
    let d = m.columns
    m.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            for (r, i) in indices.enumerated() {
                precondition(i >= 0 && Int(i) < m.rows, "row \(i) outside a matrix of \(m.rows) rows")
                for c in 0..<d { dst[r * d + c] = src[Int(i) * d + c] }
            }
        }
    }
    return out
}

/// `m` with each row scaled to unit length (zero rows stay zero).
public func normalizedRows(_ m: Matrix) -> Matrix {
    var out = m
    let d = m.columns
    out.withUnsafeMutableBufferPointer { p in
        for r in 0..<m.rows {
            let row = p.baseAddress! + r * d
            let norm = Kernels.dot(row, row, count: d).squareRoot()
            if norm > 0 { Kernels.scale(1 / norm, row, count: d) }
        }
    }
    return out
}



/// Top-`k` of each row of a sparse matrix (for example, an item-similarity matrix), skipping the
/// diagonal.
func topKOfRows(_ m: CSRMatrix, rows: [Int32], k requested: Int) -> TopKResult {
    let k = Swift.max(0, Swift.min(requested, m.columns))
    var result = TopKResult(queries: rows.count, k: k)
    for (q, r) in rows.enumerated() {
        let range = m.range(ofRow: Int(r))
        var scores = [Float](), ids = [Int32]()
        for p in range where m.columnIndices[p] != r { scores.append(m.values[p]); ids.append(m.columnIndices[p]) }
        let order = ids.indices.sorted { (scores[$0], -ids[$0]) > (scores[$1], -ids[$1]) }.prefix(k)
        for (n, i) in order.enumerated() { result.indices[q * k + n] = ids[i]; result.scores[q * k + n] = scores[i] }
        result.counts[q] = order.count
    }
    return result
}
