import Foundation
import TailorLinalg

/// An online experiment: variants with traffic shares, and a salt that makes its assignment
/// independent of every other experiment's.
///
/// Several experiments run at once in **layers** (Tang et al. 2010, Google's overlapping
/// experiments): within a layer they are exclusive, each holding its own slice of the layer's
/// users (a hash of the layer name and the user, so a user is in at most one of them); across
/// layers assignments are independent, and layers must change different things (checked by
/// ``conflicts(with:)``), so a user in one experiment per layer gets all their changes.
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

    /// How the variants are compared.
    public enum Kind: String, Sendable, Codable {
        /// An A/B test: each user sees one variant.
        case split
        /// Team-draft interleaving of exactly two variants: each user sees one list merged from
        /// both, and their clicks say which ranker they prefer (``TeamDraft``).
        case interleave
    }

    /// The layer every experiment is in unless it names another.
    public static let defaultLayer = "default"

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
    /// A/B test or interleaving.
    public var kind: Kind
    /// Its layer: exclusive with the other experiments of the layer, independent of the others.
    public var layer: String
    /// Its slice of the layer's users, `[start, end)` of the layer hash (``includes(_:)``).
    public var trafficStart: Double
    public var trafficEnd: Double

    /// Its share of the layer's users.
    public var traffic: Double { trafficEnd - trafficStart }

    /// An experiment, checked.
    ///
    /// - Throws: ``ExperimentError`` for an empty name or salt, fewer than two variants,
    ///   repeated variant names, a share outside (0, 1], shares that do not sum to 1, or a window
    ///   that is not positive.
    ///   An interleaving experiment needs exactly two variants; `traffic` is a slice `[start,
    ///   end)` of [0, 1] (``allocate(traffic:layer:among:)`` finds a free one).
    public init(name: String, salt: String? = nil, variants: [Variant], started: Int64, attributionWindowSeconds: Double = 86_400,
                kind: Kind = .split, layer: String = Experiment.defaultLayer, traffic: (start: Double, end: Double) = (0, 1)) throws {
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
        if kind == .interleave {
            guard variants.count == 2 else {
                throw ExperimentError(field: "variants", "an interleaving experiment compares exactly two variants, got \(variants.count)", hint: "e.g. control,candidate")
            }
            guard variants.contains(where: { $0.model != nil || !$0.options.isEmpty }) else {
                throw ExperimentError(field: "variants", "the two variants of an interleaving experiment serve the same lists", hint: "give one a model version or request options")
            }
        }
        guard !layer.isEmpty, !layer.contains(where: { $0.isWhitespace || $0 == "/" }) else {
            throw ExperimentError(field: "layer", "a layer needs a name without spaces or slashes, got '\(layer)'")
        }
        guard traffic.start >= 0, traffic.end <= 1, traffic.start < traffic.end, traffic.start.isFinite, traffic.end.isFinite else {
            throw ExperimentError(field: "traffic", "the traffic slice must lie in [0, 1] and not be empty, got [\(traffic.start), \(traffic.end))")
        }
        self.name = name
        self.salt = salt ?? name
        guard !self.salt.isEmpty else { throw ExperimentError(field: "salt", "the salt must not be empty") }
        self.variants = variants
        self.status = .running
        self.started = started
        self.stopped = nil
        self.attributionWindowSeconds = attributionWindowSeconds
        self.kind = kind
        self.layer = layer
        self.trafficStart = traffic.start
        self.trafficEnd = traffic.end
    }

    /// Reads experiments saved before layers, traffic slices and interleaving: an A/B test
    /// over all users of the default layer.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        salt = try c.decode(String.self, forKey: .salt)
        variants = try c.decode([Variant].self, forKey: .variants)
        status = try c.decode(Status.self, forKey: .status)
        started = try c.decode(Int64.self, forKey: .started)
        stopped = try c.decodeIfPresent(Int64.self, forKey: .stopped)
        attributionWindowSeconds = try c.decode(Double.self, forKey: .attributionWindowSeconds)
        kind = try c.decodeIfPresent(Kind.self, forKey: .kind) ?? .split
        layer = try c.decodeIfPresent(String.self, forKey: .layer) ?? Experiment.defaultLayer
        trafficStart = try c.decodeIfPresent(Double.self, forKey: .trafficStart) ?? 0
        trafficEnd = try c.decodeIfPresent(Double.self, forKey: .trafficEnd) ?? 1
    }

    /// Whether `user` is in this experiment: their point in the layer (a hash of the layer
    /// name and the user, the same for every experiment of the layer) falls in its slice.
    public func includes(_ user: String) -> Bool {
        if trafficStart <= 0 && trafficEnd >= 1 { return true }
        let u = Experiment.unitHash("layer\u{1F}" + layer + "\u{1F}" + user)
        return u >= trafficStart && u < trafficEnd
    }

    /// What the experiment changes: the request options its variants set, `model` if one
    /// serves another model version, `list` if it interleaves.
    public var changes: Set<String> {
        var out = Set(variants.flatMap(\.options.keys))
        if variants.contains(where: { $0.model != nil }) { out.insert("model") }
        if kind == .interleave { out.insert("list") }
        return out
    }

    /// Why this experiment cannot run beside `running` (nil: it can): in the same layer their
    /// slices must not overlap; in different layers they must change different things, or a
    /// user in both would get only one of the two changes.
    public func conflicts(with running: Experiment) -> String? {
        guard running.status == .running, running.name != name else { return nil }
        if running.layer == layer {
            let overlap = min(trafficEnd, running.trafficEnd) - max(trafficStart, running.trafficStart)
            return overlap > 1e-12 ? "its traffic overlaps experiment '\(running.name)' in layer '\(layer)'" : nil
        }
        let shared = changes.intersection(running.changes)
        guard !shared.isEmpty else { return nil }
        return "experiment '\(running.name)' (layer '\(running.layer)') also changes \(shared.sorted().joined(separator: ", ")); a user in both would get only one of them"
    }

    /// A free slice of `traffic` (a share of the layer's users, in (0, 1]) in `layer` beside
    /// the `among` experiments that run: the first gap large enough, from 0.
    ///
    /// - Throws: ``ExperimentError`` for a share outside (0, 1] or a layer without room, naming
    ///   the experiments that hold it and the largest free slice.
    public static func allocate(traffic: Double, layer: String, among: [Experiment]) throws -> (start: Double, end: Double) {
        guard traffic > 0, traffic <= 1, traffic.isFinite else {
            throw ExperimentError(field: "traffic", "the traffic share must be above 0 and at most 1, got \(traffic)")
        }
        let held = among.filter { $0.status == .running && $0.layer == layer }.sorted { $0.trafficStart < $1.trafficStart }
        var cursor = 0.0, largest = 0.0
        for e in held {
            if e.trafficStart - cursor >= traffic - 1e-9 { return (cursor, min(1, cursor + traffic)) }
            largest = max(largest, e.trafficStart - cursor)
            cursor = max(cursor, e.trafficEnd)
        }
        if 1 - cursor >= traffic - 1e-9 { return (cursor, min(1, cursor + traffic)) }
        largest = max(largest, 1 - cursor)
        let holders = held.map { "'\($0.name)' \(percent($0.traffic))" }.joined(separator: ", ")
        let fits = (largest * 100 + 1e-9).rounded(.down) / 100
        throw ExperimentError(field: "traffic", "layer '\(layer)' has no free \(percent(traffic)) of its users: \(holders) hold it, the largest free slice is \(percent(largest))",
                              hint: fits > 0 ? "stop one, ask for --traffic \(String(format: "%.2f", fits)) or less, or use another --layer" : "stop one, or use another --layer")
    }

    static func percent(_ x: Double) -> String { String(format: "%g %%", (x * 1000).rounded() / 10) }

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
