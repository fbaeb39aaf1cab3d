// Top-K selection without sorting the catalogue: a size-K min-heap whose root is the current
// threshold, and a SIMD scan that skips 16 scores at a time when none beats the threshold.
// Order: higher score first; equal scores by lower index first. A score of −∞ or NaN marks
// "not a candidate" (excluded items), so fewer than K results come back when fewer exist.

/// Accumulates the K best `(score, index)` pairs in caller-owned storage.
///
/// Non-allocating: the heap lives in the two buffers passed to ``init(capacity:scores:indices:)``.
@frozen
public struct TopKSelector {
    @usableFromInline let capacity: Int
    @usableFromInline let heapScores: UnsafeMutablePointer<Float>
    @usableFromInline let heapIndices: UnsafeMutablePointer<Int32>
    @usableFromInline var _count: Int = 0
    /// How many pairs are held.
    @inlinable public var count: Int { _count }

    /// A selector keeping `capacity` pairs in the given buffers (each at least `capacity` long).
    @inlinable
    public init(capacity: Int, scores: UnsafeMutablePointer<Float>, indices: UnsafeMutablePointer<Int32>) {
        self.capacity = capacity
        self.heapScores = scores
        self.heapIndices = indices
    }

    /// Forgets everything held.
    @inlinable public mutating func reset() { _count = 0 }

    /// The score a candidate must beat once the selector is full (−∞ before that).
    @inlinable
    public var threshold: Float { count < capacity ? -.infinity : heapScores[0] }

    /// `true` if `(s, i)` ranks below `(t, j)`: lower score, or equal score and higher index.
    @inlinable @inline(__always)
    static func worse(_ s: Float, _ i: Int32, than t: Float, _ j: Int32) -> Bool {
        s < t || (s == t && i > j)
    }

    /// Offers one candidate. O(log K) when it enters, O(1) otherwise.
    @inlinable
    public mutating func offer(_ score: Float, _ index: Int32) {
        guard score > -.infinity, capacity > 0 else { return }  // also rejects NaN
        if count < capacity {
            // Sift up.
            var c = count
            _count += 1
            while c > 0 {
                let parent = (c &- 1) >> 1
                if TopKSelector.worse(score, index, than: heapScores[parent], heapIndices[parent]) {
                    heapScores[c] = heapScores[parent]; heapIndices[c] = heapIndices[parent]
                    c = parent
                } else { break }
            }
            heapScores[c] = score; heapIndices[c] = index
            return
        }
        guard TopKSelector.worse(heapScores[0], heapIndices[0], than: score, index) else { return }
        // Replace the root and sift down.
        var c = 0
        while true {
            let l = 2 &* c &+ 1
            if l >= count { break }
            var m = l
            let r = l &+ 1
            if r < count && TopKSelector.worse(heapScores[r], heapIndices[r], than: heapScores[l], heapIndices[l]) { m = r }
            if TopKSelector.worse(heapScores[m], heapIndices[m], than: score, index) {
                heapScores[c] = heapScores[m]; heapIndices[c] = heapIndices[m]
                c = m
            } else { break }
        }
        heapScores[c] = score; heapIndices[c] = index
    }

    /// Offers `scores[0..<n]` as candidates with indices `indexOffset + i`. Skips blocks of 16
    /// that cannot enter with one SIMD comparison. O(n) plus O(log K) per entry.
    @inlinable
    public mutating func offer(scores: UnsafePointer<Float>, count n: Int, indexOffset: Int) {
        var i = 0
        while i < n && count < capacity {
            offer(scores[i], Int32(truncatingIfNeeded: indexOffset &+ i))
            i &+= 1
        }
        while i &+ 16 <= n {
            let v = load16(scores + i)
            // Equal scores can still enter (with a lower index), so compare with ≥.
            if any(v .>= F16(repeating: heapScores[0])) {
                for j in i..<(i &+ 16) { offer(scores[j], Int32(truncatingIfNeeded: indexOffset &+ j)) }
            }
            i &+= 16
        }
        while i < n {
            offer(scores[i], Int32(truncatingIfNeeded: indexOffset &+ i))
            i &+= 1
        }
    }

    /// Writes the held pairs best-first into the two outputs and returns how many there are.
    /// The selector is left empty. O(K log K).
    @inlinable
    public mutating func drain(scores: UnsafeMutablePointer<Float>, indices: UnsafeMutablePointer<Int32>) -> Int {
        let n = count
        // Pop the worst repeatedly, filling the output from the back.
        var out = n
        while count > 0 {
            out -= 1
            scores[out] = heapScores[0]; indices[out] = heapIndices[0]
            _count -= 1
            if count == 0 { break }
            let s = heapScores[count], ix = heapIndices[count]
            var c = 0
            while true {
                let l = 2 &* c &+ 1
                if l >= count { break }
                var m = l
                let r = l &+ 1
                if r < count && TopKSelector.worse(heapScores[r], heapIndices[r], than: heapScores[l], heapIndices[l]) { m = r }
                if TopKSelector.worse(heapScores[m], heapIndices[m], than: s, ix) {
                    heapScores[c] = heapScores[m]; heapIndices[c] = heapIndices[m]
                    c = m
                } else { break }
            }
            heapScores[c] = s; heapIndices[c] = ix
        }
        return n
    }
}

/// The best `k` entries for each of several queries, best first.
public struct TopKResult: Sendable, Equatable {
    /// Number of queries.
    public let queries: Int
    /// Entries kept per query (the `k` asked for).
    public let k: Int
    /// `queries × k` indices; only the first `counts[q]` of row `q` are meaningful.
    public var indices: [Int32]
    /// `queries × k` scores, aligned with `indices`.
    public var scores: [Float]
    /// How many entries each query got (less than `k` when fewer candidates existed).
    public var counts: [Int]

    /// An empty result for `queries` queries.
    public init(queries: Int, k: Int) {
        self.queries = queries
        self.k = k
        indices = [Int32](repeating: -1, count: queries * k)
        scores = [Float](repeating: -.infinity, count: queries * k)
        counts = [Int](repeating: 0, count: queries)
    }

    /// The `(index, score)` pairs of query `q`, best first.
    public func row(_ q: Int) -> [(index: Int32, score: Float)] {
        (0..<counts[q]).map { (indices[q * k + $0], scores[q * k + $0]) }
    }
}

extension Kernels {
    /// The best `k` of `scores[0..<n]` (−∞/NaN excluded). Writes into `outIndices`/`outScores`
    /// (at least `k` long each), best first, and returns how many were written. O(n + K log K).
    @inlinable
    public static func topK(
        _ scores: UnsafePointer<Float>, count n: Int, k: Int,
        outIndices: UnsafeMutablePointer<Int32>, outScores: UnsafeMutablePointer<Float>
    ) -> Int {
        guard k > 0 else { return 0 }
        return withUnsafeTemporaryAllocation(of: Float.self, capacity: k) { hs in
            withUnsafeTemporaryAllocation(of: Int32.self, capacity: k) { hi in
                var sel = TopKSelector(capacity: k, scores: hs.baseAddress!, indices: hi.baseAddress!)
                sel.offer(scores: scores, count: n, indexOffset: 0)
                return sel.drain(scores: outScores, indices: outIndices)
            }
        }
    }

    /// Top-`k` inner products: for each query row `queries[q]`, the `k` rows of `items` with the
    /// largest `⟨query, item⟩`, never sorting the catalogue.
    ///
    /// Scores are computed block by block (a GEMM tile of queries × 512 items) and fed straight into
    /// per-query selectors, so memory stays O(queries·k) however large the catalogue is.
    ///
    /// - Parameters:
    ///   - queries: `q×d` query vectors (one per row).
    ///   - items: `n×d` item vectors.
    ///   - k: results per query.
    ///   - exclude: optional per-query exclusion lists: `exclude(q)` returns sorted item indices
    ///     that must not be returned for query `q` (for example, items the user already has).
    ///   - threads: workers (0 = all cores).
    /// - Complexity: O(q·n·d) arithmetic, O(q·n) comparisons, O(q·k) memory besides the inputs.
    public static func topKInnerProducts(
        queries: Matrix, items: Matrix, k: Int,
        exclude: (@Sendable (Int) -> ArraySlice<Int32>)? = nil,
        threads: Int = 0
    ) -> TopKResult {
        precondition(queries.columns == items.columns,
                     "topKInnerProducts needs equal widths, got queries ×\(queries.columns) and items ×\(items.columns)")
        let q = queries.rows, n = items.rows, d = queries.columns
        let k = max(0, min(k, n))  // never more results than items, whatever was asked
        var result = TopKResult(queries: q, k: k)
        guard q > 0, n > 0, k > 0 else { return result }
        let mr = gemmMR, nr = gemmNR
        let itemBlock = 512
        // Pack every item once: panels of 16 items, depth d.
        let panels = (n + nr - 1) / nr
        let packedItems = allocateAligned(panels * nr * d)
        defer { packedItems.deallocate() }
        items.withUnsafeBufferPointer { it in
            if d > 0 { packPanelsB(true, it.baseAddress!, d, 0, d, 0, n, packedItems) }
        }
        let queryBlock = 48  // 8 micro-kernel rows; scores tile 48×512 floats = 96 KiB
        let workers = effectiveThreadCount(threads)
        let tileCap = queryBlock * itemBlock
        let perWorkerF = roundUp(tileCap + queryBlock * d + queryBlock * k, 16)
        let scratch = allocateAligned(workers * perWorkerF)
        let scratchIdx = UnsafeMutablePointer<Int32>.allocate(capacity: workers * queryBlock * k)
        defer { scratch.deallocate(); scratchIdx.deallocate() }
        result.indices.withUnsafeMutableBufferPointer { outI in
        result.scores.withUnsafeMutableBufferPointer { outS in
        result.counts.withUnsafeMutableBufferPointer { outC in
        queries.withUnsafeBufferPointer { qp in
            let shared = UnsafeSendable((outI.baseAddress!, outS.baseAddress!, outC.baseAddress!, qp.baseAddress!,
                                         UnsafePointer(packedItems), scratch, scratchIdx))
            parallelFor(q, chunkSize: queryBlock, threads: workers) { chunk in
                let (outI, outS, outC, qp, packed, scratch, scratchIdx) = shared.value
                let rows = chunk.range.count
                let tile = scratch + chunk.worker * perWorkerF
                let packedQ = tile + tileCap
                let heapS = packedQ + queryBlock * d
                let heapI = scratchIdx + chunk.worker * queryBlock * k
                if d > 0 { packPanelsA(false, qp, d, chunk.range.lowerBound, rows, 0, d, packedQ) }
                var selectors = (0..<rows).map {
                    TopKSelector(capacity: k, scores: heapS + $0 * k, indices: heapI + $0 * k)
                }
                var exclusions = (0..<rows).map { exclude?(chunk.range.lowerBound + $0) ?? [] }
                var j0 = 0
                while j0 < n {
                    let nb = min(itemBlock, n - j0)
                    // Scores for this block of items.
                    var jr = 0
                    while jr < nb {
                        let nrHere = min(nr, nb - jr)
                        let bPanel = packed + ((j0 + jr) / nr) * nr * d
                        var ir = 0
                        while ir < rows {
                            microKernel6x16(d, packedQ + ir * d, rowStride: 1, depthStride: 6, bPanel, tile + ir * itemBlock + jr, itemBlock,
                                            min(mr, rows - ir), nrHere, 1, 0)
                            ir += mr
                        }
                        jr += nr
                    }
                    for r in 0..<rows {
                        let row = tile + r * itemBlock
                        // Knock out excluded items that fall in this block (lists are sorted).
                        var ex = exclusions[r]
                        while let first = ex.first, Int(first) < j0 + nb {
                            if Int(first) >= j0 { row[Int(first) - j0] = -.infinity }
                            ex.removeFirst()
                        }
                        exclusions[r] = ex
                        selectors[r].offer(scores: row, count: nb, indexOffset: j0)
                    }
                    j0 += nb
                }
                for r in 0..<rows {
                    let qi = chunk.range.lowerBound + r
                    outC[qi] = selectors[r].drain(scores: outS + qi * k, indices: outI + qi * k)
                }
            }
        }
        }
        }
        }
        return result
    }
}

