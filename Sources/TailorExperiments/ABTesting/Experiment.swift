import Foundation
import TailorLinalg

/// An online experiment: variants with traffic shares, and a salt that makes its assignment
/// independent of every other experiment's.
public struct Experiment: Sendable, Codable, Equatable {
    /// One arm: what its users are served.
    public struct Variant: Sendable, Codable, Equatable {
        /// Its name (`control`, `treatment`, …).
        public var name: String
        /// Its share of the traffic (the shares sum to 1).
        public var share: Double
        /// The model version it serves (nil: the active one).
        public var model: String?
        /// Request options it applies (`diversity`, `rerank`, …), as query parameters.
        public var options: [String: String]

        public init(name: String, share: Double, model: String? = nil, options: [String: String] = [:]) {
            self.name = name
            self.share = share
            self.model = model
            self.options = options
        }
    }

    public enum Status: String, Sendable, Codable {
        case running, stopped
    }

    public var name: String
    /// Mixed into every user's hash; a new salt reshuffles the users.
    public var salt: String
    public var variants: [Variant]
    public var status: Status
    /// Unix milliseconds of its start and (once stopped) its end.
    public var started: Int64
    public var stopped: Int64?
    /// Outcomes count if they follow an exposure within this many seconds.
    public var attributionWindowSeconds: Double

    /// An experiment, checked.
    ///
    /// - Throws: ``ExperimentError`` for an empty name or salt, fewer than two variants,
    ///   repeated variant names, a share outside (0, 1], shares that do not sum to 1, or a window
    ///   that is not positive.
    public init(name: String, salt: String? = nil, variants: [Variant], started: Int64, attributionWindowSeconds: Double = 86_400) throws {
        guard !name.isEmpty, !name.contains(where: { $0.isWhitespace || $0 == "/" }) else {
            throw ExperimentError(field: "name", "an experiment needs a name without spaces or slashes, got '\(name)'")
        }
        guard variants.count >= 2 else {
            throw ExperimentError(field: "variants", "an experiment needs at least two variants, got \(variants.count)", hint: "e.g. control=0.5,treatment=0.5")
        }
        var names = Set<String>()
        for v in variants {
            guard !v.name.isEmpty, names.insert(v.name).inserted else {
                throw ExperimentError(field: "variants", "variant names must be distinct and not empty ('\(v.name)' repeats or is empty)")
            }
            guard v.share > 0, v.share <= 1, v.share.isFinite else {
                throw ExperimentError(field: "variants.\(v.name).share", "a share must be above 0 and at most 1, got \(v.share)")
            }
            for (key, value) in v.options {
                switch key {
                case "diversity":
                    guard let d = Double(value), d >= 0, d <= 1 else {
                        throw ExperimentError(field: "variants.\(v.name).options.diversity", "diversity must be a number from 0 to 1, got '\(value)'")
                    }
                case "rerank", "exclude_seen":
                    guard value == "true" || value == "false" else {
                        throw ExperimentError(field: "variants.\(v.name).options.\(key)", "\(key) must be true or false, got '\(value)'")
                    }
                default:
                    throw ExperimentError(field: "variants.\(v.name).options.\(key)", "unknown request option '\(key)'",
                                          hint: "a variant may set diversity, rerank and exclude_seen")
                }
            }
        }
        let total = variants.reduce(0) { $0 + $1.share }
        guard abs(total - 1) < 1e-9 else {
            throw ExperimentError(field: "variants", "the traffic shares sum to \(total), not 1",
                                  hint: variants.map { "\($0.name) \($0.share)" }.joined(separator: " + "))
        }
        guard attributionWindowSeconds > 0, attributionWindowSeconds.isFinite else {
            throw ExperimentError(field: "window", "the attribution window must be positive, got \(attributionWindowSeconds)")
        }
        self.name = name
        self.salt = salt ?? name
        guard !self.salt.isEmpty else { throw ExperimentError(field: "salt", "the salt must not be empty") }
        self.variants = variants
        self.status = .running
        self.started = started
        self.stopped = nil
        self.attributionWindowSeconds = attributionWindowSeconds
    }

    /// The variant `user` is in: a point in [0, 1) from a hash of the salt and the user (the
    /// same in every process, replica and release), mapped through the cumulative shares.
    public func variant(for user: String) -> Variant {
        let u = Experiment.unitHash(salt + "\u{1F}" + user)
        var edge = 0.0
        for v in variants {
            edge += v.share
            if u < edge { return v }
        }
        return variants[variants.count - 1]
    }

    /// A stable hash of `text` to [0, 1): FNV-1a over its UTF-8 bytes, then the SplitMix64
    /// finalizer (FNV alone mixes its last bytes poorly), top 53 bits as a fraction. Never
    /// Swift's `Hasher`, which is seeded per process.
    public static func unitHash(_ text: String) -> Double {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 {
            h ^= UInt64(byte)
            h = h &* 0x0000_0100_0000_01B3
        }
        h ^= h >> 30; h = h &* 0xBF58_476D_1CE4_E5B9
        h ^= h >> 27; h = h &* 0x94D0_49BB_1331_11EB
        h ^= h >> 31
        return Double(h >> 11) * 0x1p-53
    }
}

/// Team-draft interleaving (Radlinski, Kurup & Joachims 2008): two rankers' lists merged into
/// one, each slot drafted by the team that has picked fewer so far (a coin decides ties), so
/// every click credits one ranker. Far more sensitive than an A/B test of the same traffic
/// (Chapelle et al. 2012), since each user compares both rankers.
public enum TeamDraft {
    public enum Team: String, Sendable, Codable { case a, b }

    /// The interleaved list of length `k` (fewer if the two lists together have fewer distinct
    /// items), each item with the team that drafted it.
    public static func interleave(_ a: [String], _ b: [String], k: Int, rng: inout TailorRandom) -> [(item: String, team: Team)] {
        var out: [(item: String, team: Team)] = []
        var used = Set<String>()
        var ia = 0, ib = 0, countA = 0, countB = 0
        func next(_ list: [String], _ i: inout Int) -> String? {
            while i < list.count, used.contains(list[i]) { i += 1 }
            return i < list.count ? list[i] : nil
        }
        while out.count < k {
            let na = next(a, &ia), nb = next(b, &ib)
            if na == nil && nb == nil { break }
            let pickA: Bool
            if na == nil { pickA = false } else if nb == nil { pickA = true } else if countA != countB { pickA = countA < countB } else { pickA = rng.nextInt(below: 2) == 0 }
            if pickA { out.append((na!, .a)); used.insert(na!); countA += 1 } else { out.append((nb!, .b)); used.insert(nb!); countB += 1 }
        }
        return out
    }

    /// Which ranker a user's clicks on an interleaved list prefer (nil: a tie, including no
    /// clicks).
    public static func winner(_ list: [(item: String, team: Team)], clicked: Set<String>) -> Team? {
        var a = 0, b = 0
        for entry in list where clicked.contains(entry.item) { if entry.team == .a { a += 1 } else { b += 1 } }
        return a > b ? .a : b > a ? .b : nil
    }

    /// Wins of each ranker over many impressions, and the two-sided sign-test p-value of
    /// "neither is preferred" (ties left out; normal approximation with continuity correction
    /// above 50 decided impressions, exact binomial below).
    public static func report(winsA: Int, winsB: Int, ties: Int) -> (preferenceForB: Double, pValue: Double) {
        let decided = winsA + winsB
        let total = decided + ties
        let preference = total > 0 ? Double(winsB - winsA) / Double(total) : 0
        guard decided > 0 else { return (preference, 1) }
        let low = min(winsA, winsB)
        if decided > 50 {
            let z = (abs(Double(winsB) - Double(decided) / 2) - 0.5) / (Double(decided).squareRoot() / 2)
            return (preference, min(1, 2 * ABStatistics.normalSurvival(max(0, z))))
        }
        // Exact: 2 · P(X ≤ low), X ~ Binomial(decided, 1/2).
        var p = 0.0, term = pow(0.5, Double(decided))
        for x in 0...low {
            if x > 0 { term *= Double(decided - x + 1) / Double(x) }
            p += term
        }
        return (preference, min(1, 2 * p))
    }
}
