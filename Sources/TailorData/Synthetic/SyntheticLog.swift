import Foundation
import TailorLinalg

/// A realistic synthetic interaction log with a known structure, for the demo, tests and
/// benchmarks, so nothing needs downloading.
///
/// Items belong to genres and have power-law popularity (a few blockbusters, a long tail).
/// Each user has latent tastes: a few favourite genres with weights. A user's interactions
/// are drawn genre first (by taste), then item within the genre (by popularity), plus a little
/// noise from global popularity; they get increasing timestamps within 2024, and a strength
/// (views, 1 or more). Everything is seeded.
public struct SyntheticLog: Sendable {
    /// Sizes and shape of the generated log.
    public struct Configuration: Sendable, Codable, Equatable {
        /// Number of users.
        public var users = 2_000
        /// Number of items.
        public var items = 1_000
        /// Target number of interactions (the result is within a few percent).
        public var interactions = 60_000
        /// Number of genres.
        public var genres = 16
        /// Power-law exponent of item popularity within a genre (larger: steeper long tail).
        public var popularityExponent = 0.9
        /// Fraction of interactions drawn from global popularity regardless of taste.
        public var noise = 0.1
        /// Seed for every random choice.
        public var seed: UInt64 = 1
        /// Strengths as heavy-tailed play counts instead of view counts of 1–10: each user has a
        /// listening intensity (log-normal, median ≈ 7 plays) times a Pareto tail of index 1.1
        /// per item, times up to 4 for items of the user's favourite genres, capped at 100,000,
        /// like a music service's per-artist plays (a few obsessions in the thousands, a long
        /// tail of single plays; counts say a little about taste, mostly about intensity).
        public var playCounts = false

        /// The defaults (a small log that trains in a second).
        public init() {}
    }

    /// The interactions (values are view counts, timestamps increase per user).
    public let interactions: Interactions
    /// Title of each item (indexed by item position).
    public let titles: [String]
    /// Genre index of each item.
    public let itemGenres: [Int]
    /// Genre names.
    public let genreNames: [String]
    /// Each user's genre weights (summing to 1), the planted tastes.
    public let userTastes: [[Double]]

    static let baseGenres = ["Drama", "Comedy", "Sci-Fi", "Horror", "Romance", "Documentary", "Animation", "Thriller",
                             "Jazz", "Cooking", "Travel", "Fantasy", "Crime", "History", "Sports", "Music",
                             "Western", "Mystery", "Nature", "Tech"]
    static let adjectives = ["Silent", "Golden", "Midnight", "Broken", "Hidden", "Electric", "Distant", "Crimson",
                             "Frozen", "Wild", "Secret", "Lost", "Burning", "Velvet", "Iron", "Hollow", "Bright",
                             "Last", "Northern", "Quiet", "Savage", "Paper", "Glass", "Endless"]
    static let nouns = ["Harbor", "Signal", "Garden", "Empire", "River", "Machine", "Letters", "Kingdom", "Echo",
                        "Highway", "Orchard", "Frontier", "Mirror", "Tide", "Lantern", "Circuit", "Canyon",
                        "Symphony", "Voyage", "Island", "Cipher", "Storm", "Atlas", "Meadow"]

    /// Generates a log. O(interactions · log items).
    public static func generate(_ c: Configuration = .init()) -> SyntheticLog {
        precondition(c.users > 0 && c.items > 0 && c.genres > 0, "synthetic log needs users, items and genres")
        var rng = TailorRandom(seed: c.seed)
        let genreNames = (0..<c.genres).map { g in
            g < baseGenres.count ? baseGenres[g] : "Genre \(g + 1)"
        }
        // Genre sizes follow a mild power law too.
        let genreWeights = (0..<c.genres).map { 1 / pow(Double($0 + 1), 0.5) }
        let genreCumulative = cumulative(genreWeights)
        var itemGenres = (0..<c.items).map { _ in sample(genreCumulative, &rng) }
        // Make sure every genre has at least one item.
        for g in 0..<min(c.genres, c.items) where !itemGenres.contains(g) { itemGenres[g] = g }
        // Popularity: power law over a random permutation of ranks.
        var ranks = Array(0..<c.items)
        for i in stride(from: c.items - 1, to: 0, by: -1) { ranks.swapAt(i, rng.nextInt(below: i + 1)) }
        let popularity = (0..<c.items).map { 1 / pow(Double(ranks[$0] + 1), c.popularityExponent) }
        let globalCumulative = cumulative(popularity)
        var genreItems = [[Int32]](repeating: [], count: c.genres)
        for i in 0..<c.items { genreItems[itemGenres[i]].append(Int32(i)) }
        let genreCumulatives = genreItems.map { cumulative($0.map { popularity[Int($0)] }) }
        var titles = [String]()
        titles.reserveCapacity(c.items)
        for i in 0..<c.items {
            let a = adjectives[rng.nextInt(below: adjectives.count)], n = nouns[rng.nextInt(below: nouns.count)]
            titles.append("\(a) \(n) (\(genreNames[itemGenres[i]]), #\(i + 1))")
        }
        // Activity: log-normal, scaled to the target total.
        let raw = (0..<c.users).map { _ in exp(1.0 * rng.nextGaussian()) }
        let scale = Double(c.interactions) / raw.reduce(0, +)
        let maxPerUser = max(2, c.items / 2)
        let counts = raw.map { min(maxPerUser, max(3, Int(($0 * scale).rounded()))) }
        var users = [Int32](), items = [Int32](), values = [Float](), times = [Int64]()
        let total = counts.reduce(0, +)
        users.reserveCapacity(total); items.reserveCapacity(total); values.reserveCapacity(total); times.reserveCapacity(total)
        var tastes: [[Double]] = []
        tastes.reserveCapacity(c.users)
        let start: Int64 = 1_704_067_200  // 2024-01-01
        let year: Int64 = 365 * 86_400
        var seen = Set<Int32>()
        for u in 0..<c.users {
            var r = TailorRandom(seed: c.seed, stream: UInt64(u) + 1)
            // One to three favourite genres, with decreasing weights.
            let favourites = 1 + r.nextInt(below: 3)
            var taste = [Double](repeating: 0, count: c.genres)
            for f in 0..<favourites { taste[sample(genreCumulative, &r)] += 1 / Double(f + 1) + r.nextDouble() * 0.3 }
            let sum = taste.reduce(0, +)
            taste = taste.map { $0 / sum }
            tastes.append(taste)
            let tasteCumulative = cumulative(taste)
            var t = start + Int64(r.nextDouble() * Double(year) * 0.5)
            let intensity = c.playCounts ? exp(2 + 1.5 * r.nextGaussian()) : 1
            // Spread this user's events over the rest of the year, however many there are.
            let meanGap = Double(start + year - t) / Double(counts[u] + 1)
            seen.removeAll(keepingCapacity: true)
            var attempts = 0
            while seen.count < counts[u] && attempts < counts[u] * 20 {
                attempts += 1
                let item: Int32
                if r.nextDouble() < c.noise {
                    item = Int32(sample(globalCumulative, &r))
                } else {
                    let g = sample(tasteCumulative, &r)
                    guard !genreItems[g].isEmpty else { continue }
                    item = genreItems[g][sample(genreCumulatives[g], &r)]
                }
                guard seen.insert(item).inserted else { continue }
                let affinity = taste[itemGenres[Int(item)]]
                users.append(Int32(u)); items.append(item)
                let u01 = max(1e-12, r.nextDouble())
                if c.playCounts {
                    // P(count ≥ x) ≈ x^−1.1: most pairs played a few times, a few thousands of times.
                    // Items of a favourite genre are played more (up to 4× for a single-genre fan).
                    values.append(Float(min(100_000, max(1, (intensity * (1 + 3 * affinity) * pow(u01, -1 / 1.1)).rounded(.down)))))
                } else {
                    values.append(Float(1 + min(9, Int(-log(u01) * 0.8))))
                }
                t += Int64(60 + (-log(max(1e-12, r.nextDouble())) * meanGap))
                times.append(t)
            }
        }
        let userIDs = IDMap((0..<c.users).map { "u\($0 + 1)" })
        let itemIDs = IDMap((0..<c.items).map { "i\($0 + 1)" })
        let log = Interactions(users: users, items: items, values: values, timestamps: times, userIDs: userIDs, itemIDs: itemIDs)
        return SyntheticLog(interactions: log, titles: titles, itemGenres: itemGenres, genreNames: genreNames, userTastes: tastes)
    }

    static func cumulative(_ weights: [Double]) -> [Double] {
        var out = [Double]()
        out.reserveCapacity(weights.count)
        var s = 0.0
        for w in weights { s += w; out.append(s) }
        return out
    }

    /// An index drawn with probability proportional to its weight, by binary search.
    static func sample(_ cumulative: [Double], _ rng: inout TailorRandom) -> Int {
        let target = rng.nextDouble() * cumulative[cumulative.count - 1]
        var lo = 0, hi = cumulative.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if cumulative[mid] > target { hi = mid } else { lo = mid + 1 }
        }
        return lo
    }
}
