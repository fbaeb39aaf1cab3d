import Foundation

/// A fitted transform of one numeric feature. The statistics are stored with the encoder so
/// that serving applies exactly the transform training saw.
public struct NumericEncoder: Sendable, Codable, Equatable {
    /// The transform.
    public enum Method: String, Sendable, Codable, CaseIterable {
        /// `(x − mean) / std`.
        case zScore = "z-score"
        /// `(x − min) / (max − min)`, clamped to [0, 1].
        case minMax = "min-max"
        /// `ln(1 + max(0, x))`, then z-scored.
        case log
    }

    /// The transform.
    public var method: Method
    /// Mean (z-score, log) or minimum (min-max) of the training values.
    public var center: Double
    /// Standard deviation (z-score, log) or range (min-max); never 0.
    public var scale: Double
    /// What missing values become (the training mean, transformed: 0 for z-score).
    public var missing: Double

    /// Fits `method` on `values` (NaN values are ignored).
    public init(fitting values: [Double], method: Method = .zScore) {
        self.method = method
        let xs = values.filter { !$0.isNaN }.map { method == .log ? Foundation.log1p(max(0, $0)) : $0 }
        switch method {
        case .zScore, .log:
            let mean = xs.isEmpty ? 0 : xs.reduce(0, +) / Double(xs.count)
            let variance = xs.isEmpty ? 0 : xs.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(xs.count)
            center = mean
            scale = variance > 0 ? variance.squareRoot() : 1
            missing = 0
        case .minMax:
            let lo = xs.min() ?? 0, hi = xs.max() ?? 1
            center = lo
            scale = hi > lo ? hi - lo : 1
            missing = xs.isEmpty ? 0 : (xs.reduce(0, +) / Double(xs.count) - lo) / scale
        }
    }

    /// The transformed value (`missing` for NaN).
    public func encode(_ x: Double) -> Double {
        guard !x.isNaN else { return missing }
        switch method {
        case .zScore: return (x - center) / scale
        case .log: return (Foundation.log1p(max(0, x)) - center) / scale
        case .minMax: return min(1, max(0, (x - center) / scale))
        }
    }
}

/// A fitted vocabulary for a categorical (possibly multi-valued) feature: values seen at least
/// `minimumCount` times get indices `1…`, everything else the out-of-vocabulary index 0.
/// Or, with `hashBuckets`, values are hashed into that many buckets (no vocabulary to store).
public struct CategoricalEncoder: Sendable, Codable, Equatable {
    /// Known values and their indices (1-based; 0 is out-of-vocabulary).
    public var vocabulary: [String: Int32]
    /// With hashing, the number of buckets; `nil` for a vocabulary.
    public var hashBuckets: Int?

    /// Index of values not in the vocabulary.
    public static let outOfVocabulary: Int32 = 0

    /// Number of indices (vocabulary size plus the out-of-vocabulary slot, or the buckets).
    public var size: Int { hashBuckets ?? vocabulary.count + 1 }

    /// Fits a vocabulary on `values` (each element one row's values), keeping values seen at least
    /// `minimumCount` times, most frequent first (ties alphabetical).
    public init(fitting values: [[String]], minimumCount: Int = 1) {
        var counts: [String: Int] = [:]
        for row in values { for v in row { counts[v, default: 0] += 1 } }
        let kept = counts.filter { $0.value >= minimumCount }.sorted { ($1.value, $0.key) < ($0.value, $1.key) }
        vocabulary = Dictionary(uniqueKeysWithValues: kept.enumerated().map { ($0.element.key, Int32($0.offset + 1)) })
        hashBuckets = nil
    }

    /// A hashing encoder with `buckets` buckets.
    public init(hashBuckets buckets: Int) {
        precondition(buckets > 0, "hashing needs at least one bucket")
        vocabulary = [:]
        hashBuckets = buckets
    }

    /// The index of one value.
    public func encode(_ value: String) -> Int32 {
        if let buckets = hashBuckets {
            var h = FNV1a64()
            h.combine(value)
            return Int32(h.value % UInt64(buckets))
        }
        return vocabulary[value] ?? CategoricalEncoder.outOfVocabulary
    }

    /// The indices of a multi-valued field.
    public func encode(_ values: [String]) -> [Int32] { values.map(encode) }
}

/// Encoders for the item catalogue and user profiles: categories, tags and each numeric
/// attribute of items; each attribute of users (numeric when every value is a number,
/// categorical otherwise). Fitted once, stored (JSON), applied at training and serving.
public struct FeatureEncoders: Sendable, Codable, Equatable {
    /// Item categories (multi-valued).
    public var itemCategories: CategoricalEncoder
    /// Item tags (multi-valued).
    public var itemTags: CategoricalEncoder
    /// Item numeric attributes by name.
    public var itemNumeric: [String: NumericEncoder]
    /// User categorical attributes by name.
    public var userCategorical: [String: CategoricalEncoder]
    /// User numeric attributes by name.
    public var userNumeric: [String: NumericEncoder]

    /// Fits encoders on a catalogue and profiles.
    public init(items: [CatalogItem], users: [UserProfile], minimumCount: Int = 2, numericMethod: NumericEncoder.Method = .zScore) {
        itemCategories = CategoricalEncoder(fitting: items.map(\.categories), minimumCount: minimumCount)
        itemTags = CategoricalEncoder(fitting: items.map(\.tags), minimumCount: minimumCount)
        let numericNames = Set(items.flatMap { $0.numeric.keys })
        itemNumeric = Dictionary(uniqueKeysWithValues: numericNames.map { name in
            (name, NumericEncoder(fitting: items.map { $0.numeric[name] ?? .nan }, method: numericMethod))
        })
        let attributes = Set(users.flatMap { $0.attributes.keys })
        var categorical: [String: CategoricalEncoder] = [:], numeric: [String: NumericEncoder] = [:]
        for name in attributes {
            let values = users.compactMap { $0.attributes[name] }
            if !values.isEmpty && values.allSatisfy({ Double($0) != nil }) {
                numeric[name] = NumericEncoder(fitting: users.map { $0.attributes[name].flatMap(Double.init) ?? .nan }, method: numericMethod)
            } else {
                categorical[name] = CategoricalEncoder(fitting: users.map { $0.attributes[name].map { [$0] } ?? [] }, minimumCount: minimumCount)
            }
        }
        userCategorical = categorical
        userNumeric = numeric
    }
}
