import Foundation
import CTailorInt8
import Synchronization

/// Approximate maximum-inner-product search by a hierarchical navigable small-world graph
/// (Malkov & Yashunin 2018, "Efficient and robust approximate nearest neighbor search using
/// Hierarchical Navigable Small World graphs"): each vector is a node on level 0 and, with
/// probability falling by a factor `m` per level, on higher levels; a search descends greedily
/// from the top and explores level 0 best-first, keeping the `ef` best nodes seen.
///
/// Similarity is the inner product (the score of a factor model), as hnswlib's `ip` space.
/// Neighbours are chosen by the paper's heuristic (Algorithm 4: a candidate is kept only if it
/// is closer to the new node than to every neighbour kept so far), which keeps the graph
/// navigable on clustered data. With `quantized`, the graph is walked over int8 codes (one scale
/// per vector, a quarter of the memory traffic) and the `ef` nodes found are re-scored exactly.
///
/// The exact twin is ``Kernels/topKInnerProducts(queries:items:k:exclude:threads:)``; tests and
/// `Benchmarks/ann.py` measure recall against it.
public struct HNSWIndex: Sendable {
    /// How the graph is built.
    public struct Configuration: Sendable, Codable, Equatable {
        /// Links per node on the upper levels (level 0 has `2·m`).
        public var m = 16
        /// Candidates kept while linking a new node (larger: better graph, slower build).
        public var efConstruction = 200
        /// Seed of the level draw (the build is deterministic for a seed).
        public var seed: UInt64 = 42
        /// Walk the graph over int8 codes, re-scoring the result exactly.
        public var quantized = false

        /// The defaults (hnswlib's M 16, ef_construction 200).
        public init(m: Int = 16, efConstruction: Int = 200, seed: UInt64 = 42, quantized: Bool = false) {
            self.m = m; self.efConstruction = efConstruction; self.seed = seed; self.quantized = quantized
        }
    }

    /// Vectors indexed.
    public let count: Int
    /// Length of each vector.
    public let dimension: Int
    public let configuration: Configuration
    /// `count × dimension`, row-major (shared with the caller's matrix, not copied).
    let vectors: [Float]
    /// int8 codes and their per-vector scales (quantized only).
    let codes: [Int8]
    let scales: [Float]
    /// Level-0 links: `count × (2m)` slots, the first `degree0[node]` used.
    let links0: [Int32]
    let degree0: [UInt8]
    /// Links above level 0: `upper[node][level - 1]`, for nodes whose level is above 0.
    let upper: [Int32: [[Int32]]]
    let entry: Int32
    let topLevel: Int
    let scratch: VisitedPool

    /// Builds the index over the rows of `vectors`. O(n · efConstruction · m · d) roughly.
    public init(vectors matrix: Matrix, configuration: Configuration = .init()) {
        precondition(configuration.m >= 2 && configuration.m <= 127, "m must be 2…127")
        precondition(configuration.efConstruction >= 1, "efConstruction must be positive")
        var builder = Builder(matrix: matrix, configuration: configuration)
        builder.build()
        count = matrix.rows
        dimension = matrix.columns
        self.configuration = configuration
        vectors = matrix.storage
        codes = builder.codes
        scales = builder.scales
        links0 = builder.links0
        degree0 = builder.degree0
        upper = builder.upper
        entry = builder.entry
        topLevel = builder.topLevel
        scratch = VisitedPool(count: matrix.rows)
    }

    /// The `k` vectors with the largest inner product with `query`, best first, never one in
    /// `exclude` (sorted positions), exploring `ef` candidates (at least `k`; larger is more
    /// accurate and slower).
    public func search(_ query: [Float], k: Int, ef: Int = 64, exclude: ArraySlice<Int32> = []) -> [(index: Int32, score: Float)] {
        precondition(query.count == dimension, "query has \(query.count) values, the index \(dimension)")
        guard count > 0, k > 0 else { return [] }
        let ef = max(ef, k)
        let visited = scratch.take()
        defer { scratch.give(visited) }
        return query.withUnsafeBufferPointer { q in
            vectors.withUnsafeBufferPointer { v in
                codes.withUnsafeBufferPointer { c in
                    let space = Space(q: q.baseAddress!, vectors: v.baseAddress!, codes: configuration.quantized ? c.baseAddress : nil, scales: scales, d: dimension)
                    var ep = entry
                    var epScore = space.score(ep)
                    if topLevel > 0 {
                        for level in stride(from: topLevel, to: 0, by: -1) {
                            (ep, epScore) = greedy(space, from: ep, score: epScore, level: level)
                        }
                    }
                    var found = searchLevel0(space, entry: ep, entryScore: epScore, ef: ef, exclude: exclude, visited: visited)
                    if configuration.quantized {
                        for i in found.indices { found[i].score = space.exact(found[i].index) }
                    }
                    found.sort { ($0.score, -$0.index) > ($1.score, -$1.index) }
                    return Array(found.prefix(k))
                }
            }
        }
    }

    /// The neighbours of `node` at `level`.
    func neighbours(_ node: Int32, level: Int) -> ArraySlice<Int32> {
        if level == 0 {
            let m0 = 2 * configuration.m, start = Int(node) * m0
            return links0[start..<(start + Int(degree0[Int(node)]))]
        }
        return upper[node]![level - 1][...]
    }

    /// Greedy descent on an upper level: move to the best neighbour while it improves.
    func greedy(_ space: Space, from start: Int32, score: Float, level: Int) -> (Int32, Float) {
        var current = start, best = score
        var improved = true
        while improved {
            improved = false
            for n in neighbours(current, level: level) {
                let s = space.score(n)
                if s > best { best = s; current = n; improved = true }
            }
        }
        return (current, best)
    }

    /// Best-first search of level 0 keeping the `ef` best non-excluded nodes.
    func searchLevel0(_ space: Space, entry: Int32, entryScore: Float, ef: Int, exclude: ArraySlice<Int32>,
                      visited: VisitedSet) -> [(index: Int32, score: Float)] {
        let marks = visited.begin()
        _ = marks.insert(entry)
        var candidates = ScoreHeap(maxFirst: true), results = ScoreHeap(maxFirst: false)
        swap(&candidates, &visited.candidates)
        swap(&results, &visited.results)
        defer { swap(&candidates, &visited.candidates); swap(&results, &visited.results) }
        candidates.removeAll()
        results.removeAll()
        candidates.push(entryScore, entry)
        if !HNSWIndex.contains(exclude, entry) { results.push(entryScore, entry) }
        let m0 = 2 * configuration.m, d = dimension
        links0.withUnsafeBufferPointer { links in
            degree0.withUnsafeBufferPointer { degrees in
                while let (s, node) = candidates.pop() {
                    if results.count >= ef, let worst = results.top, s < worst.score { break }
                    let base = links.baseAddress! + Int(node) * m0
                    let degree = Int(degrees[Int(node)])
                    // Fetch the unvisited neighbours' vectors while scoring the first ones.
                    for j in 0..<degree { space.prefetch(base[j], d) }
                    for j in 0..<degree {
                        let n = base[j]
                        guard marks.insert(n) else { continue }
                        let sn = space.score(n)
                        if results.count < ef || sn > results.top!.score {
                            candidates.push(sn, n)
                            if !HNSWIndex.contains(exclude, n) {
                                results.push(sn, n)
                                if results.count > ef { _ = results.pop() }
                            }
                        }
                    }
                }
            }
        }
        return results.elements.map { ($0.index, $0.score) }
    }

    static func contains(_ sorted: ArraySlice<Int32>, _ x: Int32) -> Bool {
        guard !sorted.isEmpty else { return false }
        var lo = sorted.startIndex, hi = sorted.endIndex
        while lo < hi {
            let mid = (lo + hi) / 2
            if sorted[mid] < x { lo = mid + 1 } else { hi = mid }
        }
        return lo < sorted.endIndex && sorted[lo] == x
    }

    /// Memory of the graph and codes (the float vectors are the caller's).
    public var graphBytes: Int {
        links0.count * 4 + degree0.count + codes.count + scales.count * 4
            + upper.values.reduce(0) { $0 + $1.reduce(0) { $0 + $1.count * 4 } + 16 }
    }
}

/// Scores of a query against indexed vectors (float or int8 codes).
struct Space {
    let q: UnsafePointer<Float>
    let vectors: UnsafePointer<Float>
    let codes: UnsafePointer<Int8>?
    let scales: [Float]
    let d: Int

    @inline(__always)
    func score(_ i: Int32) -> Float {
        if let codes { return scales[Int(i)] * Kernels.dotInt8(q, codes + Int(i) * d, count: d) }
        return Kernels.dot(q, vectors + Int(i) * d, count: d)
    }

    @inline(__always)
    func exact(_ i: Int32) -> Float { Kernels.dot(q, vectors + Int(i) * d, count: d) }

    @inline(__always)
    func prefetch(_ i: Int32, _ d: Int) {
        if let codes { tailor_prefetch(codes + Int(i) * d) } else { tailor_prefetch(vectors + Int(i) * d) }
    }
}

extension HNSWIndex {
    /// The graph under construction (Algorithm 1 of the paper, one node at a time).
    struct Builder {
        let matrix: Matrix
        let configuration: Configuration
        let n: Int, d: Int, m: Int, m0: Int
        var codes: [Int8] = []
        var scales: [Float] = []
        var links0: [Int32]
        var degree0: [UInt8]
        var upper: [Int32: [[Int32]]] = [:]
        var levels: [Int]
        var entry: Int32 = 0
        var topLevel = 0

        init(matrix: Matrix, configuration: Configuration) {
            self.matrix = matrix
            self.configuration = configuration
            n = matrix.rows; d = matrix.columns; m = configuration.m; m0 = 2 * configuration.m
            links0 = [Int32](repeating: -1, count: n * m0)
            degree0 = [UInt8](repeating: 0, count: n)
            // Level of each node: floor(−ln U · mL) with mL = 1 / ln m (the paper's choice).
            var rng = TailorRandom(seed: configuration.seed, stream: 0x4E5357)
            let mL = 1 / log(Double(configuration.m))
            levels = (0..<n).map { _ in
                let u = max(rng.nextDouble(), 1e-9)
                return min(16, Int(-log(u) * mL))
            }
            if configuration.quantized {
                codes = [Int8](repeating: 0, count: n * d)
                scales = [Float](repeating: 0, count: n)
                matrix.withUnsafeBufferPointer { v in
                    for r in 0..<n {
                        var top: Float = 0
                        for c in 0..<d { top = max(top, abs(v[r * d + c])) }
                        let scale = top > 0 ? top / 127 : 1
                        scales[r] = scale
                        for c in 0..<d { codes[r * d + c] = Int8(max(-127, min(127, (v[r * d + c] / scale).rounded()))) }
                    }
                }
            }
        }

        func sim(_ a: Int32, _ b: Int32, _ v: UnsafePointer<Float>) -> Float {
            Kernels.dot(v + Int(a) * d, v + Int(b) * d, count: d)
        }

        func neighbours(_ node: Int32, level: Int) -> [Int32] {
            if level == 0 { return Array(links0[(Int(node) * m0)..<(Int(node) * m0 + Int(degree0[Int(node)]))]) }
            return upper[node]![level - 1]
        }

        mutating func setNeighbours(_ node: Int32, level: Int, _ list: [Int32]) {
            if level == 0 {
                for (j, x) in list.enumerated() { links0[Int(node) * m0 + j] = x }
                degree0[Int(node)] = UInt8(list.count)
            } else {
                upper[node]![level - 1] = list
            }
        }

        /// Algorithm 4 (without extending candidates): keep a candidate only if it is more
        /// similar to the base than to every candidate kept before it.
        func selectHeuristic(_ candidates: [(index: Int32, score: Float)], limit: Int, _ v: UnsafePointer<Float>) -> [Int32] {
            let sorted = candidates.sorted { ($0.score, -$0.index) > ($1.score, -$1.index) }
            var kept: [Int32] = []
            for c in sorted {
                if kept.count >= limit { break }
                var good = true
                for r in kept where sim(c.index, r, v) > c.score { good = false; break }
                if good { kept.append(c.index) }
            }
            return kept
        }

        /// Best-first search at `level` from `entries` (used while building).
        func searchLevel(_ q: Int32, entries: [(index: Int32, score: Float)], ef: Int, level: Int, visited: VisitedSet,
                         _ v: UnsafePointer<Float>) -> [(index: Int32, score: Float)] {
            let marks = visited.begin()
            var candidates = ScoreHeap(maxFirst: true), results = ScoreHeap(maxFirst: false)
            for e in entries where marks.insert(e.index) {
                candidates.push(e.score, e.index)
                results.push(e.score, e.index)
                if results.count > ef { _ = results.pop() }
            }
            while let (s, node) = candidates.pop() {
                if results.count >= ef, s < results.top!.score { break }
                let list: ArraySlice<Int32> = level == 0 ? links0[(Int(node) * m0)..<(Int(node) * m0 + Int(degree0[Int(node)]))] : upper[node]![level - 1][...]
                for nb in list where marks.insert(nb) {
                    let sn = sim(q, nb, v)
                    if results.count < ef || sn > results.top!.score {
                        candidates.push(sn, nb)
                        results.push(sn, nb)
                        if results.count > ef { _ = results.pop() }
                    }
                }
            }
            return results.elements.map { ($0.index, $0.score) }
        }

        mutating func build() {
            guard n > 0 else { return }
            let visited = VisitedSet(count: n)
            let storage = matrix.storage
            storage.withUnsafeBufferPointer { buffer in
                let v = buffer.baseAddress!
                entry = 0
                topLevel = levels[0]
                if topLevel > 0 { upper[0] = Array(repeating: [], count: topLevel) }
                for node in 1..<max(1, n) {
                    let q = Int32(node)
                    let level = levels[node]
                    if level > 0 { upper[q] = Array(repeating: [], count: level) }
                    var ep = entry
                    var epScore = sim(q, ep, v)
                    if topLevel > level {
                        for l in stride(from: topLevel, to: level, by: -1) {
                            var improved = true
                            while improved {
                                improved = false
                                for nb in neighbours(ep, level: l) {
                                    let s = sim(q, nb, v)
                                    if s > epScore { epScore = s; ep = nb; improved = true }
                                }
                            }
                        }
                    }
                    var entries = [(index: ep, score: epScore)]
                    for l in stride(from: min(level, topLevel), through: 0, by: -1) {
                        let found = searchLevel(q, entries: entries, ef: configuration.efConstruction, level: l, visited: visited, v)
                        let limit = l == 0 ? m0 : m
                        let chosen = selectHeuristic(found, limit: m, v)
                        setNeighbours(q, level: l, chosen)
                        for nb in chosen {
                            var list = neighbours(nb, level: l)
                            if list.count < limit {
                                list.append(q)
                                setNeighbours(nb, level: l, list)
                            } else {
                                // Full: re-select among the old links and the new node.
                                let pool = (list + [q]).map { (index: $0, score: sim(nb, $0, v)) }
                                setNeighbours(nb, level: l, selectHeuristic(pool, limit: limit, v))
                            }
                        }
                        entries = found
                    }
                    if level > topLevel { topLevel = level; entry = q }
                }
                connect(visited: visited, v)
            }
        }

        /// Links the level-0 nodes that no walk from the entry point reaches. With the inner product, the
        /// heuristic re-selection of a full list drops nodes that score low against it (short
        /// vectors), and a node no search can walk to is never found, however large `ef` (on a
        /// 120-item ALS model with m 8, a twelfth of the exact top 10 was out of reach). Each
        /// node a walk from the entry misses is linked from the most similar node a search
        /// from the entry finds (appended where that list has room, else in place of its least
        /// similar link whose target has another incoming link); a replaced link can cut a node
        /// off, so the walk is repeated, four rounds at most. A node whose every candidate list is
        /// full of singly linked targets stays unlinked (not seen in the tests or benchmarks).
        mutating func connect(visited: VisitedSet, _ v: UnsafePointer<Float>) {
            var inDegree = [Int32](repeating: 0, count: n)
            for node in 0..<n {
                for j in 0..<Int(degree0[node]) { inDegree[Int(links0[node * m0 + j])] += 1 }
            }
            for _ in 0..<4 {
                var reached = [Bool](repeating: false, count: n)
                func reach(from start: Int32) {
                    guard !reached[Int(start)] else { return }
                    reached[Int(start)] = true
                    var stack = [start]
                    while let node = stack.popLast() {
                        for j in 0..<Int(degree0[Int(node)]) {
                            let nb = links0[Int(node) * m0 + j]
                            if !reached[Int(nb)] { reached[Int(nb)] = true; stack.append(nb) }
                        }
                    }
                }
                reach(from: entry)
                var linked = false
                for node in 0..<n where !reached[node] {
                    let q = Int32(node)
                    let found = searchLevel(q, entries: [(index: entry, score: sim(q, entry, v))], ef: configuration.efConstruction, level: 0,
                                            visited: visited, v).sorted { $0.score > $1.score }
                    for from in found.map(\.index) where from != q && reached[Int(from)] {
                        var list = neighbours(from, level: 0)
                        if list.count < m0 {
                            list.append(q)
                        } else {
                            let weakest = list.indices.filter { inDegree[Int(list[$0])] >= 2 }.min { sim(from, list[$0], v) < sim(from, list[$1], v) }
                            guard let slot = weakest else { continue }
                            inDegree[Int(list[slot])] -= 1
                            list[slot] = q
                        }
                        setNeighbours(from, level: 0, list)
                        inDegree[node] += 1
                        reach(from: q)
                        linked = true
                        break
                    }
                }
                if !linked { break }
            }
        }
    }
}

/// A binary heap of (score, index), best-scoring on top when `maxFirst`, else worst on top.
struct ScoreHeap {
    struct Element { var score: Float; var index: Int32 }
    var elements: [Element] = []
    let maxFirst: Bool

    init(maxFirst: Bool) { self.maxFirst = maxFirst; elements.reserveCapacity(64) }

    var count: Int { elements.count }
    var top: Element? { elements.first }

    @inline(__always)
    func above(_ a: Element, _ b: Element) -> Bool { maxFirst ? a.score > b.score : a.score < b.score }

    mutating func push(_ score: Float, _ index: Int32) {
        elements.append(Element(score: score, index: index))
        var i = elements.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard above(elements[i], elements[parent]) else { break }
            elements.swapAt(i, parent)
            i = parent
        }
    }

    mutating func removeAll() { elements.removeAll(keepingCapacity: true) }

    mutating func pop() -> (Float, Int32)? {
        guard let first = elements.first else { return nil }
        let last = elements.removeLast()
        if !elements.isEmpty {
            elements[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var best = i
                if l < elements.count && above(elements[l], elements[best]) { best = l }
                if r < elements.count && above(elements[r], elements[best]) { best = r }
                if best == i { break }
                elements.swapAt(i, best)
                i = best
            }
        }
        return (first.score, first.index)
    }
}

/// Which nodes a search has reached: a stamp per node, so resetting is one increment. The
/// search works on a ``Stamps`` value (a pointer and the current stamp), so marking a node is
/// a load and a store with no exclusivity bookkeeping.
final class VisitedSet: @unchecked Sendable {
    let stamps: UnsafeMutablePointer<UInt32>
    let count: Int
    var generation: UInt32 = 0
    /// The search's heaps, kept between searches so they allocate once.
    var candidates = ScoreHeap(maxFirst: true)
    var results = ScoreHeap(maxFirst: false)

    init(count: Int) {
        self.count = count
        stamps = UnsafeMutablePointer<UInt32>.allocate(capacity: max(1, count))
        stamps.initialize(repeating: 0, count: max(1, count))
    }

    deinit { stamps.deallocate() }

    /// A fresh set (every node unmarked).
    func begin() -> Stamps {
        generation &+= 1
        if generation == 0 {
            stamps.update(repeating: 0, count: max(1, count))
            generation = 1
        }
        return Stamps(pointer: stamps, current: generation)
    }
}

/// The marks of one search.
struct Stamps {
    let pointer: UnsafeMutablePointer<UInt32>
    let current: UInt32

    /// Marks `i`; true if it was not marked yet.
    @inline(__always)
    func insert(_ i: Int32) -> Bool {
        if pointer[Int(i)] == current { return false }
        pointer[Int(i)] = current
        return true
    }
}

/// Visited sets reused across searches (one per concurrent search).
final class VisitedPool: Sendable {
    let count: Int
    let free = Mutex<[VisitedSet]>([])

    init(count: Int) { self.count = count }

    func take() -> VisitedSet { free.withLock { $0.popLast() } ?? VisitedSet(count: count) }
    func give(_ v: VisitedSet) { free.withLock { if $0.count < 64 { $0.append(v) } } }
}

extension Kernels {
    /// `Σ x[i] · Float(codes[i])`: a float query against int8 codes.
    @inline(__always)
    public static func dotInt8(_ x: UnsafePointer<Float>, _ codes: UnsafePointer<Int8>, count n: Int) -> Float {
        var i = 0
        var acc = SIMD16<Float>()
        while i &+ 16 <= n {
            let c = UnsafeRawPointer(codes + i).loadUnaligned(as: SIMD16<Int8>.self)
            let q = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self)
            acc += q * SIMD16<Float>(SIMD16<Int32>(truncatingIfNeeded: c))
            i &+= 16
        }
        var sum = acc.sum()
        while i < n { sum += x[i] * Float(codes[i]); i &+= 1 }
        return sum
    }
}

