import Foundation

/// How raw interaction strengths (counts, plays, weighted events, ratings) become the values a
/// model learns from. Applied to the training part after any split, so nothing about the test
/// part leaks in (BM25's document frequencies included).
///
/// Raw play counts span five orders of magnitude: fed as they are to implicit ALS
/// (`c = 1 + α·r`), a handful of obsessive pairs dominate every solve. The default, ``log``,
/// is Hu, Koren and Volinsky's (2008) `log(1 + r/ε)` with ε = 0.1, scaled so that a strength
/// of 1 stays 1: binary input is unchanged, heavy counts are tamed (10⁵ plays → 5.8). With ALS's
/// default α = 0.5 it measured at or above the same data binarized on MovieLens ratings, Last.fm
/// sequences and heavy-tailed play counts, where `linear` lost 30 % (Docs/Benchmarks.md).
public enum ConfidenceTransform: Sendable, Equatable, Codable, CustomStringConvertible {
    /// Strengths as they are (ALS then uses `1 + α·r`).
    case linear
    /// Every positive strength becomes 1 (and every negative one −1).
    case binary
    /// `log(1 + |r|/ε) / log(1 + 1/ε)`, sign kept: 1 stays 1; with ε = 0.1, 10 becomes 1.9 and
    /// 10⁵ plays 5.8 (with ε = 1: 3.5 and 16.6).
    case log(epsilon: Double)
    /// BM25 weighting as in implicit's `bm25_weight` (users as documents, items as terms):
    /// `r·(k1 + 1) / (k1·(1 − b + b·len/avglen) + r) · idf`, `idf = ln N − ln(1 + df)`.
    case bm25(k1: Double, b: Double)

    /// The default: ``log(epsilon:)`` with ε = 0.1.
    public static let standard = ConfidenceTransform.log(epsilon: 0.1)

    /// `log (ε 1)`, `bm25 (k1 100, b 0.8)`…
    public var description: String {
        switch self {
        case .linear: "linear"
        case .binary: "binary"
        case .log(let e): "log (ε \(e))"
        case .bm25(let k1, let b): "bm25 (k1 \(k1), b \(b))"
        }
    }

    /// Parses `linear`, `binary`, `log` (ε 0.1), `log:0.5` (ε), `bm25` or `bm25:100:0.8` (k1, b).
    public init(parsing text: String) throws {
        let parts = text.lowercased().split(separator: ":").map(String.init)
        func number(_ i: Int, _ fallback: Double) throws -> Double {
            guard i < parts.count else { return fallback }
            guard let v = Double(parts[i]), v.isFinite else {
                throw DataError(.invalidConfiguration, field: "confidence", reason: "'\(parts[i])' in '\(text)' is not a number")
            }
            return v
        }
        switch parts.first ?? "" {
        case "linear", "none": self = .linear
        case "binary": self = .binary
        case "log": self = .log(epsilon: try number(1, 0.1))
        case "bm25": self = .bm25(k1: try number(1, 100), b: try number(2, 0.8))
        default:
            throw DataError(.invalidConfiguration, field: "confidence", reason: "unknown transform '\(text)'",
                            hint: "use linear, binary, log (log:EPSILON) or bm25 (bm25:K1:B)")
        }
        try validate()
    }

    /// Throws when a parameter is out of range.
    public func validate() throws {
        switch self {
        case .log(let e) where !(e > 0 && e.isFinite):
            throw DataError(.invalidConfiguration, field: "confidence.epsilon", reason: "must be positive, got \(e)")
        case .bm25(let k1, let b) where !(k1 > 0 && k1.isFinite) || !(0...1).contains(b):
            throw DataError(.invalidConfiguration, field: "confidence", reason: "bm25 needs k1 > 0 and 0 ≤ b ≤ 1, got k1 \(k1), b \(b)")
        default: break
        }
    }

    /// `log` without options gives ε = 1 etc.; the JSON form is `{"transform": "log", "epsilon": 1}`.
    private enum CodingKeys: String, CodingKey { case transform, epsilon, k1, b }

    public init(from decoder: any Decoder) throws {
        if let single = try? decoder.singleValueContainer(), let text = try? single.decode(String.self) {
            self = try ConfidenceTransform(parsing: text)
            return
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        switch try c.decode(String.self, forKey: .transform) {
        case "linear": self = .linear
        case "binary": self = .binary
        case "log": self = .log(epsilon: try c.decodeIfPresent(Double.self, forKey: .epsilon) ?? 0.1)
        case "bm25": self = .bm25(k1: try c.decodeIfPresent(Double.self, forKey: .k1) ?? 100, b: try c.decodeIfPresent(Double.self, forKey: .b) ?? 0.8)
        case let other:
            throw DataError(.invalidConfiguration, field: "confidence.transform", reason: "unknown transform '\(other)'",
                            hint: "use linear, binary, log or bm25")
        }
        try validate()
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .linear: try c.encode("linear", forKey: .transform)
        case .binary: try c.encode("binary", forKey: .transform)
        case .log(let e): try c.encode("log", forKey: .transform); try c.encode(e, forKey: .epsilon)
        case .bm25(let k1, let b): try c.encode("bm25", forKey: .transform); try c.encode(k1, forKey: .k1); try c.encode(b, forKey: .b)
        }
    }

    /// One strength transformed on its own, for events that arrive after training (fold-in).
    /// `nil` for ``bm25(k1:b:)``, which needs the whole matrix (document frequencies, row lengths).
    public func transform(value v: Float) -> Float? {
        switch self {
        case .linear: return v
        case .binary: return v > 0 ? 1 : (v < 0 ? -1 : 0)
        case .log(let epsilon):
            let m = Float(Foundation.log(1 + Double(abs(v)) / epsilon) / Foundation.log(1 + 1 / epsilon))
            return v < 0 ? -m : m
        case .bm25: return nil
        }
    }

    /// `log` with the interactions' values transformed. O(n).
    public func apply(to log: Interactions) -> Interactions {
        var out = log
        out.values = transformed(log)
        return out
    }

    /// The transformed values of `log` (same order).
    public func transformed(_ log: Interactions) -> [Float] {
        switch self {
        case .linear:
            return log.values
        case .binary, .log:
            return log.values.map { transform(value: $0)! }
        case .bm25(let k1, let b):
            let users = log.userIDs.count, items = log.itemIDs.count
            var rowSums = [Double](repeating: 0, count: users), df = [Double](repeating: 0, count: items)
            for i in 0..<log.count {
                rowSums[Int(log.users[i])] += Double(log.values[i])
                df[Int(log.items[i])] += 1
            }
            let active = rowSums.count
            let average = max(1e-12, rowSums.reduce(0, +) / Double(max(1, active)))
            let n = Double(users)
            return (0..<log.count).map { i in
                let r = Double(log.values[i])
                let norm = (1 - b) + b * rowSums[Int(log.users[i])] / average
                let idf = Foundation.log(n) - Foundation.log1p(df[Int(log.items[i])])
                return Float(r * (k1 + 1) / (k1 * norm + r) * idf)
            }
        }
    }
}
