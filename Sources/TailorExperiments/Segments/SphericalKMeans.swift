import Foundation
import TailorLinalg

/// Users (or any rows of vectors) grouped by the direction of their vectors: spherical
/// mini-batch k-means (Sculley 2010) with k-means++ seeding (Arthur & Vassilvitskii 2007) under
/// cosine distance `1 − cos`, and `k` chosen by the mean silhouette (Rousseeuw 1987) when not
/// given.
///
/// Rows are scaled to unit length first; rows of zeros (users a model has no vector for) have no
/// direction and get segment −1. Centroids are unit vectors; a row belongs to the centroid with
/// the largest inner product.
public struct UserSegments: Sendable {
    /// How segments are found.
    public struct Configuration: Sendable, Codable, Equatable {
        /// The number of segments; `nil`: the best silhouette in `minK...maxK`.
        public var k: Int?
        /// Smallest `k` tried when choosing.
        public var minK = 2
        /// Largest `k` tried when choosing (capped at the rows − 1).
        public var maxK = 12
        /// Rows per mini-batch step.
        public var batchSize = 1_024
        /// Mini-batch steps per run.
        public var steps = 150
        /// Independent runs per `k` (different seeds); the one with the least total distance is
        /// kept.
        public var restarts = 3
        /// Rows the silhouette is computed on (a seeded sample: the exact silhouette is O(n²)).
        public var silhouetteSample = 2_000
        /// Seed of the sampling.
        public var seed: UInt64 = 1
        public init() {}
    }

    /// The silhouette of one `k` tried.
    public struct Candidate: Sendable, Codable, Equatable {
        public var k: Int
        public var silhouette: Double
        /// Mean cosine distance of a row to its centroid.
        public var meanDistance: Double
    }

    /// Unit centroids, one row per segment.
    public let centroids: Matrix
    /// The segment of each input row (−1: a zero row).
    public let assignments: [Int32]
    /// Every `k` tried (one when `k` was given), with its silhouette.
    public let candidates: [Candidate]
    /// Rows per segment.
    public let sizes: [Int]

    /// The number of segments.
    public var k: Int { centroids.rows }
    /// The chosen `k`'s mean silhouette on the sample.
    public var silhouette: Double { candidates.first { $0.k == k }?.silhouette ?? 0 }

    /// Segments of the rows of `vectors`.
    ///
    /// - Throws: ``ExperimentError`` for a `k` below 2 or above the rows with a direction, a
    ///   range of `k` that is empty, non-finite values (naming the row), or too few rows.
    public static func fit(_ vectors: Matrix, configuration c: Configuration = .init(), progress: ((String) -> Void)? = nil) throws -> UserSegments {
        for r in 0..<vectors.rows {
            for j in 0..<vectors.columns where !vectors[r, j].isFinite {
                throw ExperimentError(field: "vectors", "row \(r) has a non-finite value (\(vectors[r, j])) in column \(j)", hint: "retrain the model; its vectors are damaged")
            }
        }
        let (unit, kept) = unitRows(vectors)
        let n = kept.count
        guard n >= 3 else {
            throw ExperimentError(field: "users", "\(n) users have a vector with a direction; segments need at least 3")
        }
        let ks: [Int]
        if let k = c.k {
            guard k >= 2 else { throw ExperimentError(field: "k", "k must be at least 2, got \(k)") }
            guard k < n else {
                throw ExperimentError(field: "k", "asked for \(k) segments but only \(n) users have a vector", hint: "use k \(n - 1) or fewer")
            }
            ks = [k]
        } else {
            guard c.minK >= 2 else { throw ExperimentError(field: "k-min", "the smallest k must be at least 2, got \(c.minK)") }
            guard c.minK <= c.maxK else { throw ExperimentError(field: "k-max", "the range \(c.minK)...\(c.maxK) of k is empty", hint: "give k-max ≥ k-min") }
            guard c.minK < n else {
                throw ExperimentError(field: "k-min", "the smallest k (\(c.minK)) is not below the \(n) users with a vector")
            }
            ks = Array(c.minK...min(c.maxK, n - 1))
        }
        guard c.batchSize >= 1, c.steps >= 1, c.restarts >= 1, c.silhouetteSample >= 2 else {
            throw ExperimentError(field: "configuration", "batch size, steps and restarts must be at least 1 and the silhouette sample at least 2")
        }
        // One sample for every k's silhouette, with its cosine distances computed once.
        var rng = TailorRandom(seed: c.seed, stream: 0x5E6)
        let sample = sampleIndices(n, min(n, c.silhouetteSample), &rng)
        let sampled = rows(unit, sample)
        let distances = cosineDistances(sampled)
        var best: (centroids: Matrix, labels: [Int32])?
        var candidates: [Candidate] = []
        for k in ks {
            var run: (centroids: Matrix, labels: [Int32], cost: Double)?
            for r in 0..<c.restarts {
                var local = TailorRandom(seed: c.seed &+ UInt64(r) &* 0x9E37_79B9, stream: UInt64(k))
                let centroids = miniBatch(unit, k: k, batchSize: c.batchSize, steps: c.steps, rng: &local)
                let (labels, cost) = assign(unit, centroids)
                if run == nil || cost < run!.cost { run = (centroids, labels, cost) }
            }
            let s = silhouette(distances, labels: sample.map { run!.labels[$0] }, k: k)
            candidates.append(Candidate(k: k, silhouette: s, meanDistance: run!.cost / Double(n)))
            progress?("k \(k): silhouette \(String(format: "%.3f", s))")
            if best == nil || s > candidates.filter({ $0.k != k }).map(\.silhouette).max() ?? -.infinity {
                best = (run!.centroids, run!.labels)
            }
        }
        var assignments = [Int32](repeating: -1, count: vectors.rows)
        for (slot, row) in kept.enumerated() { assignments[row] = best!.labels[slot] }
        var sizes = [Int](repeating: 0, count: best!.centroids.rows)
        for a in assignments where a >= 0 { sizes[Int(a)] += 1 }
        return UserSegments(centroids: best!.centroids, assignments: assignments, candidates: candidates, sizes: sizes)
    }

    /// The segment of each row of `vectors` under these centroids (−1: a zero row).
    public func assign(_ vectors: Matrix) -> [Int32] {
        let (unit, kept) = UserSegments.unitRows(vectors)
        let labels = UserSegments.assign(unit, centroids).labels
        var out = [Int32](repeating: -1, count: vectors.rows)
        for (slot, row) in kept.enumerated() { out[row] = labels[slot] }
        return out
    }

    // MARK: Steps

    /// The rows of `m` with a direction, scaled to unit length, and their positions in `m`.
    public static func unitRows(_ m: Matrix) -> (Matrix, [Int]) {
        var kept: [Int] = []
        var storage: [Float] = []
        storage.reserveCapacity(m.storage.count)
        for r in 0..<m.rows {
            var norm: Float = 0
            for j in 0..<m.columns { norm += m[r, j] * m[r, j] }
            guard norm > 0 else { continue }
            let scale = 1 / norm.squareRoot()
            for j in 0..<m.columns { storage.append(m[r, j] * scale) }
            kept.append(r)
        }
        return (Matrix(rows: kept.count, columns: m.columns, storage: storage), kept)
    }

    static func sampleIndices(_ n: Int, _ count: Int, _ rng: inout TailorRandom) -> [Int] {
        var all = Array(0..<n)
        for t in 0..<count { all.swapAt(t, t + rng.nextInt(below: n - t)) }
        return Array(all[0..<count]).sorted()
    }

    static func rows(_ m: Matrix, _ indices: [Int]) -> Matrix {
        var storage: [Float] = []
        storage.reserveCapacity(indices.count * m.columns)
        for r in indices { storage += m.row(r) }
        return Matrix(rows: indices.count, columns: m.columns, storage: storage)
    }

    /// k-means++ seeding on unit rows: the first centre at random, each next one drawn with
    /// probability proportional to the squared cosine distance to the nearest centre so far.
    static func seed(_ x: Matrix, k: Int, rng: inout TailorRandom) -> Matrix {
        let n = x.rows, d = x.columns
        var centres = Matrix(rows: k, columns: d)
        var nearest = [Double](repeating: .infinity, count: n)
        var pick = rng.nextInt(below: n)
        for c in 0..<k {
            for j in 0..<d { centres[c, j] = x[pick, j] }
            var total = 0.0
            for i in 0..<n {
                var dot: Float = 0
                for j in 0..<d { dot += x[i, j] * centres[c, j] }
                let distance = Double(max(0, 1 - dot))
                nearest[i] = min(nearest[i], distance * distance)
                total += nearest[i]
            }
            guard c + 1 < k else { break }
            if total <= 0 { pick = rng.nextInt(below: n); continue }  // every row on a centre
            var target = rng.nextDouble() * total
            pick = n - 1
            for i in 0..<n {
                target -= nearest[i]
                if target <= 0 { pick = i; break }
            }
        }
        return centres
    }

    /// Mini-batch k-means (Sculley 2010) on unit rows, centroids renormalized after each step
    /// (spherical): each batch row pulls its nearest centroid by 1/(rows it has drawn so far).
    static func miniBatch(_ x: Matrix, k: Int, batchSize: Int, steps: Int, rng: inout TailorRandom) -> Matrix {
        let n = x.rows, d = x.columns
        var centroids = seed(x, k: k, rng: &rng)
        var counts = [Double](repeating: 0, count: k)
        let b = min(batchSize, n)
        for _ in 0..<steps {
            let batch = (0..<b).map { _ in rng.nextInt(below: n) }
            let labels = batch.map { nearest(x, row: $0, centroids) }
            for (row, c) in zip(batch, labels) {
                counts[c] += 1
                let rate = Float(1 / counts[c])
                for j in 0..<d { centroids[c, j] += rate * (x[row, j] - centroids[c, j]) }
            }
            for c in Set(labels) { normalize(&centroids, row: c) }
        }
        return centroids
    }

    @inline(__always)
    static func nearest(_ x: Matrix, row: Int, _ centroids: Matrix) -> Int {
        var best = 0, bestDot = -Float.infinity
        for c in 0..<centroids.rows {
            var dot: Float = 0
            for j in 0..<x.columns { dot += x[row, j] * centroids[c, j] }
            if dot > bestDot { best = c; bestDot = dot }
        }
        return best
    }

    static func normalize(_ m: inout Matrix, row: Int) {
        var norm: Float = 0
        for j in 0..<m.columns { norm += m[row, j] * m[row, j] }
        guard norm > 0 else { return }
        let scale = 1 / norm.squareRoot()
        for j in 0..<m.columns { m[row, j] *= scale }
    }

    /// Every row's nearest centroid (one matrix product) and the total cosine distance.
    static func assign(_ x: Matrix, _ centroids: Matrix) -> (labels: [Int32], cost: Double) {
        guard x.rows > 0 else { return ([], 0) }
        let dots = x.multiplied(by: centroids, transposeOther: true)
        var labels = [Int32](repeating: 0, count: x.rows)
        var cost = 0.0
        for i in 0..<x.rows {
            var best = 0, bestDot = -Float.infinity
            for c in 0..<centroids.rows where dots[i, c] > bestDot { best = c; bestDot = dots[i, c] }
            labels[i] = Int32(best)
            cost += Double(max(0, 1 - bestDot))
        }
        return (labels, cost)
    }

    /// `1 − cos` between every pair of unit rows (one matrix product).
    static func cosineDistances(_ x: Matrix) -> Matrix {
        var d = x.multiplied(by: x, transposeOther: true)
        for i in 0..<d.storage.count { d.storage[i] = max(0, 1 - d.storage[i]) }
        for i in 0..<d.rows { d[i, i] = 0 }
        return d
    }

    /// Mean silhouette of `labels` from a distance matrix: for each row, `a` its mean distance
    /// to the rest of its segment, `b` the least mean distance to another segment, and
    /// `(b − a) / max(a, b)` (0 for a row alone in its segment). O(n²).
    static func silhouette(_ distances: Matrix, labels: [Int32], k: Int) -> Double {
        let n = labels.count
        var sizes = [Int](repeating: 0, count: k)
        for l in labels { sizes[Int(l)] += 1 }
        var total = 0.0
        var sums = [Double](repeating: 0, count: k)
        for i in 0..<n {
            for c in 0..<k { sums[c] = 0 }
            for j in 0..<n { sums[Int(labels[j])] += Double(distances[i, j]) }
            let own = Int(labels[i])
            guard sizes[own] > 1 else { continue }
            let a = sums[own] / Double(sizes[own] - 1)
            var b = Double.infinity
            for c in 0..<k where c != own && sizes[c] > 0 { b = min(b, sums[c] / Double(sizes[c])) }
            guard b.isFinite, max(a, b) > 0 else { continue }
            total += (b - a) / max(a, b)
        }
        return total / Double(n)
    }
}
