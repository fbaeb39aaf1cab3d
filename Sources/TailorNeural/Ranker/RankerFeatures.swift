import Foundation
import TailorData
import TailorLinalg
import TailorModels

/// Everything a ranker knows about its users and items, row by row (row 0 of each is
/// "unknown"): encoded side information, interaction counts, and a retrieval model's vectors.
struct RankerTables: Sendable {
    /// Users and items with a row (row = position + 1): the training interactions' first, in
    /// their order, then those seen only in impressions.
    var userIDs: IDMap
    var itemIDs: IDMap
    /// Encoded profiles and catalogue, rows `0…count` (row 0 unknown).
    var userInputs: UserInputs
    var itemInputs: ItemInputs
    /// When each user and item row interacted (training interactions), and when each item row
    /// was shown and clicked (training impressions): features count what happened *before* a
    /// row's time, as a live system would have known it, so no row sees its own outcome.
    var userActivity: TimeCounts
    var itemPopularity: TimeCounts
    var itemShown: TimeCounts
    var itemClicked: TimeCounts
    /// The overall training click rate (the prior of each item's smoothed rate).
    var clickRate: Float
    /// Publication time per item row (Unix seconds; `Int64.min` when unknown).
    var published: [Int64]
    /// Retrieval vectors per row (zeros when the retrieval model does not know the row), and
    /// whether it does.
    var retrievalWidth: Int
    var userVectors: [Float]
    var itemVectors: [Float]
    var userKnown: [Bool]
    var itemKnown: [Bool]

    /// The row of an external user or item id (0: unknown).
    func userRow(_ id: String) -> Int32 { userIDs.position(of: id).map { $0 + 1 } ?? 0 }
    func itemRow(_ id: String) -> Int32 { itemIDs.position(of: id).map { $0 + 1 } ?? 0 }
}

/// One row to score: internal user and item rows and the time it was shown.
struct RankerRow {
    var user: Int32
    var item: Int32
    var time: Int64
}

/// Sorted event times per row (compressed), answering "how many before time t".
struct TimeCounts: Sendable, Equatable {
    var offsets: [Int]
    var times: [Int64]

    /// Times per row from (row, time) pairs; `rows` rows.
    init(rows: Int, pairs: [(row: Int, time: Int64)]) {
        var counts = [Int](repeating: 0, count: rows + 1)
        for p in pairs { counts[p.row + 1] += 1 }
        for r in 0..<rows { counts[r + 1] += counts[r] }
        var fill = counts, out = [Int64](repeating: 0, count: pairs.count)
        for p in pairs { out[fill[p.row]] = p.time; fill[p.row] += 1 }
        for r in 0..<rows { out[counts[r]..<counts[r + 1]].sort() }
        offsets = counts
        times = out
    }

    init(offsets: [Int], times: [Int64]) {
        self.offsets = offsets
        self.times = times
    }

    /// Events of `row` strictly before `time`.
    func count(_ row: Int32, before time: Int64) -> Int {
        var lo = offsets[Int(row)], hi = offsets[Int(row) + 1]
        let start = lo
        while lo < hi {
            let mid = (lo + hi) / 2
            if times[mid] < time { lo = mid + 1 } else { hi = mid }
        }
        return lo - start
    }
}

/// Pseudo-impressions of the smoothed click rate's prior.
let clickRatePrior: Float = 20

/// The dense features of a row before standardization, in a fixed order: the retrieval block
/// (user vector, item vector, their product, their inner product, two "known" flags) when there
/// is one, then item popularity, user activity, how often the item was shown and its smoothed
/// click rate in the training impressions, hour and weekday (sine and cosine), log item age in
/// days and an "age known" flag.
func denseFeatures(_ r: RankerRow, _ t: RankerTables, into out: inout [Float]) {
    let d = t.retrievalWidth
    if d > 0 {
        let u = Int(r.user) * d, i = Int(r.item) * d
        var dot: Float = 0
        for c in 0..<d { out.append(t.userVectors[u + c]) }
        for c in 0..<d { out.append(t.itemVectors[i + c]) }
        for c in 0..<d {
            let p = t.userVectors[u + c] * t.itemVectors[i + c]
            out.append(p)
            dot += p
        }
        out.append(dot)
        out.append(t.userKnown[Int(r.user)] ? 1 : 0)
        out.append(t.itemKnown[Int(r.item)] ? 1 : 0)
    }
    out.append(log1p(Float(t.itemPopularity.count(r.item, before: r.time))))
    out.append(log1p(Float(t.userActivity.count(r.user, before: r.time))))
    let shown = Float(t.itemShown.count(r.item, before: r.time)), clicked = Float(t.itemClicked.count(r.item, before: r.time))
    out.append(log1p(shown))
    out.append((clicked + clickRatePrior * t.clickRate) / (shown + clickRatePrior))
    let secondsOfDay = Double(((r.time % 86_400) + 86_400) % 86_400), day = Double(((r.time / 86_400) % 7 + 7) % 7)
    out.append(Float(sin(2 * .pi * secondsOfDay / 86_400)))
    out.append(Float(cos(2 * .pi * secondsOfDay / 86_400)))
    out.append(Float(sin(2 * .pi * day / 7)))
    out.append(Float(cos(2 * .pi * day / 7)))
    let published = t.published[Int(r.item)]
    if published != Int64.min {
        out.append(Float(log1p(max(0, Double(r.time - published) / 86_400))))
        out.append(1)
    } else {
        out.append(0)
        out.append(0)
    }
}

/// The number of dense features for a retrieval width.
func denseFeatureCount(retrievalWidth d: Int) -> Int { (d > 0 ? 3 * d + 3 : 0) + 10 }

/// Column means and standard deviations of dense features, fitted on training rows.
struct Standardizer: Sendable, Codable, Equatable {
    var mean: [Float]
    var scale: [Float]

    init(mean: [Float], scale: [Float]) {
        self.mean = mean
        self.scale = scale
    }

    /// Fits on `rows` (each `width` wide).
    init(fitting rows: [Float], width: Int) {
        let n = max(1, rows.count / max(1, width))
        var m = [Double](repeating: 0, count: width), s = [Double](repeating: 0, count: width)
        for r in 0..<n { for c in 0..<width { m[c] += Double(rows[r * width + c]) } }
        for c in 0..<width { m[c] /= Double(n) }
        for r in 0..<n { for c in 0..<width { let x = Double(rows[r * width + c]) - m[c]; s[c] += x * x } }
        mean = m.map(Float.init)
        scale = s.map { v in let sd = (v / Double(n)).squareRoot(); return sd > 1e-6 ? Float(1 / sd) : 1 }
    }

    func apply(_ x: inout [Float], width: Int) {
        for r in 0..<(x.count / max(1, width)) {
            for c in 0..<width { x[r * width + c] = (x[r * width + c] - mean[c]) * scale[c] }
        }
    }
}
