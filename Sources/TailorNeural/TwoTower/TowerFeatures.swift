import TailorData
import TailorModels

/// Counted problems met while encoding side information: never a crash or a NaN score, but
/// never silent either. Recorded in the model's manifest and printed by `tailor train`.
public struct FeatureWarnings: Sendable, Codable, Equatable {
    /// Users the model knows who have no profile (their attributes read as unknown).
    public var usersWithoutProfile = 0
    /// Items the model knows that have no catalogue entry (their content reads as unknown).
    public var itemsWithoutContent = 0
    /// Categorical values outside the vocabulary (read as the out-of-vocabulary row).
    public var unseenValues = 0
    /// Numeric values that were missing, NaN or infinite (read as the training mean).
    public var missingNumbers = 0
    /// Feature vectors of the wrong length (read as absent).
    public var badVectors = 0

    /// Whether anything was counted.
    public var isEmpty: Bool { self == FeatureWarnings() }

    /// One line for people (`12 items without content, 3 unseen values`).
    public var summary: String {
        var parts: [String] = []
        if usersWithoutProfile > 0 { parts.append("\(usersWithoutProfile) users without a profile") }
        if itemsWithoutContent > 0 { parts.append("\(itemsWithoutContent) items without content") }
        if unseenValues > 0 { parts.append("\(unseenValues) unseen categorical values") }
        if missingNumbers > 0 { parts.append("\(missingNumbers) missing or non-finite numbers") }
        if badVectors > 0 { parts.append("\(badVectors) feature vectors of the wrong length") }
        return parts.isEmpty ? "none" : parts.joined(separator: ", ")
    }
}

/// How a two-tower model turns profiles and catalogue entries into network inputs: which
/// features it uses and their fitted encoders. Saved with the model, so serving encodes a new
/// user or item exactly as training did.
public struct FeatureSchema: Sendable, Codable, Equatable {
    /// Categorical user attributes used, with their vocabularies (sorted by name).
    public var userCategorical: [String: CategoricalEncoder] = [:]
    /// Numeric user attributes used.
    public var userNumeric: [String: NumericEncoder] = [:]
    /// Item categories, if used.
    public var itemCategories: CategoricalEncoder?
    /// Item tags, if used.
    public var itemTags: CategoricalEncoder?
    /// Numeric item attributes used.
    public var itemNumeric: [String: NumericEncoder] = [:]
    /// Length of the items' external feature vectors, if used.
    public var itemVectorLength: Int?
    /// Context features of the event used by the user tower (`device`, `platform`, `country`,
    /// `hour`, `weekday`), with their vocabularies; `nil` in files written before context existed.
    public var context: [String: CategoricalEncoder]?

    /// Sorted names, the column order of the encoded arrays.
    public var userCategoricalNames: [String] { userCategorical.keys.sorted() }
    /// See ``userCategoricalNames``.
    public var userNumericNames: [String] { userNumeric.keys.sorted() }
    /// See ``userCategoricalNames``.
    public var itemNumericNames: [String] { itemNumeric.keys.sorted() }
    /// See ``userCategoricalNames``.
    public var contextNames: [String] { (context ?? [:]).keys.sorted() }

    /// Whether the user tower has inputs beyond the id and the history.
    public var hasUserFeatures: Bool { !userCategorical.isEmpty || !userNumeric.isEmpty }
    /// Whether the item tower has inputs beyond the id.
    public var hasItemContent: Bool { itemCategories != nil || itemTags != nil || !itemNumeric.isEmpty || itemVectorLength != nil }

    /// Fits encoders on `side`, keeping the features `userFeatures` and `itemFeatures` name
    /// (`nil`: every one the data has).
    ///
    /// - Throws: ``ModelError`` `.invalidConfiguration` for a feature the data does not have,
    ///   naming it and listing the ones it has.
    public init(side: SideInformation, userFeatures: [String]?, itemFeatures: [String]?, minimumCount: Int = 2) throws {
        let encoders = FeatureEncoders(items: side.sortedItems, users: side.sortedUsers, minimumCount: minimumCount)
        let userNames = Set(encoders.userCategorical.keys).union(encoders.userNumeric.keys)
        let wantedUsers = Set(userFeatures ?? Array(userNames))
        if let missing = wantedUsers.subtracting(userNames).sorted().first {
            throw ModelError(.invalidConfiguration, reason: "configuration.userFeatures names '\(missing)', which the user profiles do not have",
                             hint: userNames.isEmpty ? "this data has no user profiles (import users, or give the recipe a \"users\" file)"
                                 : "they have: \(userNames.sorted().joined(separator: ", "))")
        }
        for name in wantedUsers {
            if let c = encoders.userCategorical[name] { userCategorical[name] = c }
            if let n = encoders.userNumeric[name] { userNumeric[name] = n }
        }
        // The most common vector length wins (ties: the shorter); others are counted as bad when encoding.
        var lengths: [Int: Int] = [:]
        for item in side.items.values { if let n = item.features?.count, n > 0 { lengths[n, default: 0] += 1 } }
        let commonLength = lengths.max { ($0.value, -$0.key) < ($1.value, -$1.key) }?.key
        var available: [String] = []
        if encoders.itemCategories.size > 1 { available.append("categories") }
        if encoders.itemTags.size > 1 { available.append("tags") }
        if commonLength != nil { available.append("vector") }
        available += encoders.itemNumeric.keys.sorted()
        let wantedItems = Set(itemFeatures ?? available)
        if let missing = wantedItems.subtracting(available).sorted().first {
            throw ModelError(.invalidConfiguration, reason: "configuration.itemFeatures names '\(missing)', which the item catalogue does not have",
                             hint: available.isEmpty ? "this data has no item catalogue (import items, or give the recipe an \"items\" file)"
                                 : "it has: \(available.joined(separator: ", "))")
        }
        if wantedItems.contains("categories") { itemCategories = encoders.itemCategories }
        if wantedItems.contains("tags") { itemTags = encoders.itemTags }
        if wantedItems.contains("vector") { itemVectorLength = commonLength }
        for name in wantedItems { if let n = encoders.itemNumeric[name] { itemNumeric[name] = n } }
    }

    /// No features at all (ids and history only).
    public init() {}

    /// Fits the vocabularies of the context features `names` on `log` (values seen at least
    /// `minimumCount` times; hours and weekdays from the times, in UTC).
    ///
    /// - Throws: ``ModelError`` `.invalidConfiguration` naming a feature the log does not have.
    public mutating func fitContext(_ names: [String], log: Interactions?, minimumCount: Int = 2) throws {
        guard !names.isEmpty else { return }
        var available: [String] = []
        if let c = log?.context { available += ContextColumns.fields.filter { c.has($0) } }
        if log?.timestamps != nil { available += ContextFeature.timeFields }
        var out: [String: CategoricalEncoder] = [:]
        for name in names {
            guard available.contains(name), let log else {
                let known = ContextFeature.all.contains(name)
                throw ModelError(.invalidConfiguration,
                                 reason: known ? "configuration.context names '\(name)', which this data does not have"
                                     : "configuration.context names '\(name)', which is not a context feature",
                                 hint: known ? (available.isEmpty ? "this data has no event context or times (ingest events with device, platform or country columns into a store)"
                                                : "it has: \(available.joined(separator: ", "))")
                                     : "context features are: \(ContextFeature.all.joined(separator: ", "))")
            }
            out[name] = CategoricalEncoder(fitting: (0..<log.count).map { r in ContextFeature.value(name, log: log, row: r).map { [$0] } ?? [] },
                                           minimumCount: minimumCount)
        }
        context = out
    }

    /// Encodes one request's context (`hour` 0–23, `weekday` `mon`…`sun` or 0–6 from Monday,
    /// `time` Unix seconds for both) into codes in ``contextNames`` order; features not given
    /// read as unknown, values outside the vocabulary as the out-of-vocabulary row (counted).
    ///
    /// - Throws: ``ModelError`` `.invalidConfiguration` for a key that is not a context feature
    ///   or an hour, weekday or time that does not parse.
    public func encode(context values: [String: String], warnings: inout FeatureWarnings) throws -> [Int32] {
        var values = values
        for key in values.keys.sorted() where !ContextFeature.all.contains(key) && key != "time" {
            throw ModelError(.invalidConfiguration, reason: "unknown context key '\(key)'",
                             hint: "context keys are: \((ContextFeature.all + ["time"]).joined(separator: ", "))")
        }
        if let time = values.removeValue(forKey: "time") {
            guard let t = Int64(time) else {
                throw ModelError(.invalidConfiguration, reason: "context time '\(time)' is not Unix seconds", hint: "for example time=1700000000")
            }
            values["hour"] = values["hour"] ?? ContextFeature.hour(t)
            values["weekday"] = values["weekday"] ?? ContextFeature.weekday(t)
        }
        if let h = values["hour"] {
            guard let n = Int(h), (0..<24).contains(n) else {
                throw ModelError(.invalidConfiguration, reason: "context hour '\(h)' is not a whole hour from 0 to 23", hint: "for example hour=20")
            }
            values["hour"] = String(n)
        }
        if let d = values["weekday"] {
            guard let n = ContextFeature.weekdayNumber(d) else {
                throw ModelError(.invalidConfiguration, reason: "context weekday '\(d)' is not a day", hint: "mon … sun, or 0 (Monday) … 6 (Sunday)")
            }
            values["weekday"] = String(n)
        }
        return contextNames.map { name in values[name].map { Self.code($0, context![name]!, &warnings) } ?? CategoricalEncoder.outOfVocabulary }
    }

    /// The context codes of every row of `log`, `contextNames.count` per row.
    func encodeContext(of log: Interactions) -> [Int32] {
        let names = contextNames
        var out = [Int32](repeating: 0, count: log.count * names.count)
        for (j, name) in names.enumerated() {
            let encoder = context![name]!
            for r in 0..<log.count {
                if let v = ContextFeature.value(name, log: log, row: r) { out[r * names.count + j] = encoder.encode(v) }
            }
        }
        return out
    }

    /// A number for the network: encoded, and the training mean for missing, NaN or infinite
    /// values (counted), clamped to ±8 so one outlier cannot dominate a layer.
    static func number(_ x: Double?, _ encoder: NumericEncoder, _ warnings: inout FeatureWarnings) -> Float {
        guard let x, x.isFinite else { warnings.missingNumbers += 1; return Float(encoder.missing) }
        let y = encoder.encode(x)
        guard y.isFinite else { warnings.missingNumbers += 1; return Float(encoder.missing) }
        return Float(Swift.min(8, Swift.max(-8, y)))
    }

    static func code(_ value: String?, _ encoder: CategoricalEncoder, _ warnings: inout FeatureWarnings) -> Int32 {
        guard let value else { return CategoricalEncoder.outOfVocabulary }
        let c = encoder.encode(value)
        if c == CategoricalEncoder.outOfVocabulary { warnings.unseenValues += 1 }
        return c
    }

    /// Encodes profiles (`nil`: unknown user) into ``UserInputs``.
    public func encode(users: [UserProfile?], warnings: inout FeatureWarnings) -> UserInputs {
        let cNames = userCategoricalNames, nNames = userNumericNames
        var out = UserInputs(count: users.count, categorical: cNames.count, numeric: nNames.count)
        for (u, profile) in users.enumerated() {
            if profile == nil && hasUserFeatures { warnings.usersWithoutProfile += 1 }
            for (j, name) in cNames.enumerated() {
                out.codes[u * cNames.count + j] = Self.code(profile?.attributes[name], userCategorical[name]!, &warnings)
            }
            for (j, name) in nNames.enumerated() {
                let text = profile?.attributes[name]
                out.numbers[u * nNames.count + j] = Self.number(text.flatMap(Double.init), userNumeric[name]!, &warnings)
            }
        }
        return out
    }

    /// Encodes catalogue entries (`nil`: an item without content) into ``ItemInputs``.
    public func encode(items: [CatalogItem?], warnings: inout FeatureWarnings) -> ItemInputs {
        let nNames = itemNumericNames
        var out = ItemInputs(count: items.count, numeric: nNames.count, vectorLength: itemVectorLength ?? 0)
        for (i, item) in items.enumerated() {
            if item == nil && hasItemContent { warnings.itemsWithoutContent += 1 }
            if let e = itemCategories { out.categories.append(item?.categories.map { Self.code($0, e, &warnings) } ?? []) }
            if let e = itemTags { out.tags.append(item?.tags.map { Self.code($0, e, &warnings) } ?? []) }
            for (j, name) in nNames.enumerated() {
                out.numbers[i * nNames.count + j] = Self.number(item?.numeric[name], itemNumeric[name]!, &warnings)
            }
            if let length = itemVectorLength, let v = item?.features {
                if v.count == length && v.allSatisfy(\.isFinite) {
                    for c in 0..<length { out.vectors[i * length + c] = v[c] }
                } else {
                    warnings.badVectors += 1
                }
            }
        }
        return out
    }
}

/// Encoded user attributes, row per user.
public struct UserInputs: Sendable, Equatable {
    /// `count × categorical` vocabulary indices (0: unknown).
    public var codes: [Int32]
    /// `count × numeric` encoded numbers.
    public var numbers: [Float]
    /// Rows and columns.
    public let count: Int, categorical: Int, numeric: Int

    init(count: Int, categorical: Int, numeric: Int) {
        self.count = count
        self.categorical = categorical
        self.numeric = numeric
        codes = [Int32](repeating: 0, count: count * categorical)
        numbers = [Float](repeating: 0, count: count * numeric)
    }

    init(count: Int, categorical: Int, numeric: Int, codes: [Int32], numbers: [Float]) {
        self.init(count: count, categorical: categorical, numeric: numeric)
        self.codes = codes
        self.numbers = numbers
    }
}

extension UserInputs {
    /// Row `r` from `base` where `fromBase(r)` (only for `r < base.count`), else from `self`.
    func replacingRows(from base: UserInputs, where fromBase: (Int) -> Bool) -> UserInputs {
        var out = self
        for r in 0..<Swift.min(count, base.count) where fromBase(r) {
            for j in 0..<categorical { out.codes[r * categorical + j] = base.codes[r * categorical + j] }
            for j in 0..<numeric { out.numbers[r * numeric + j] = base.numbers[r * numeric + j] }
        }
        return out
    }
}

extension ItemInputs {
    /// Row `r` from `base` where `fromBase(r)` (only for `r < base.count`), else from `self`.
    func replacingRows(from base: ItemInputs, where fromBase: (Int) -> Bool) -> ItemInputs {
        var out = ItemInputs(count: count, numeric: numeric, vectorLength: vectorLength)
        let useBase = (0..<count).map { $0 < base.count && fromBase($0) }
        for r in 0..<count {
            let source = useBase[r] ? base : self
            if categories.count == count { out.categories.append(Array(source.categories[r])) }
            if tags.count == count { out.tags.append(Array(source.tags[r])) }
            for j in 0..<numeric { out.numbers[r * numeric + j] = source.numbers[r * numeric + j] }
            for j in 0..<vectorLength { out.vectors[r * vectorLength + j] = source.vectors[r * vectorLength + j] }
        }
        return out
    }
}

/// Encoded item content, row per item.
public struct ItemInputs: Sendable, Equatable {
    /// Category indices per item (multi-valued), when categories are used.
    public var categories: RaggedRows = .init()
    /// Tag indices per item, when tags are used.
    public var tags: RaggedRows = .init()
    /// `count × numeric` encoded numbers.
    public var numbers: [Float]
    /// `count × vectorLength` external feature vectors (zeros when absent).
    public var vectors: [Float]
    /// Rows and columns.
    public let count: Int, numeric: Int, vectorLength: Int

    init(count: Int, numeric: Int, vectorLength: Int) {
        self.count = count
        self.numeric = numeric
        self.vectorLength = vectorLength
        numbers = [Float](repeating: 0, count: count * numeric)
        vectors = [Float](repeating: 0, count: count * vectorLength)
    }
}

/// Variable-length rows of indices (compressed: offsets and values).
public struct RaggedRows: Sendable, Equatable {
    /// Row `r` is `values[offsets[r]..<offsets[r + 1]]`.
    public var offsets: [Int] = [0]
    /// The indices.
    public var values: [Int32] = []

    /// Number of rows.
    public var count: Int { offsets.count - 1 }

    /// Appends a row.
    public mutating func append(_ row: [Int32]) {
        values.append(contentsOf: row)
        offsets.append(values.count)
    }

    /// Row `r`.
    public subscript(r: Int) -> ArraySlice<Int32> { values[offsets[r]..<offsets[r + 1]] }

    /// The rows at `rows`, as bag inputs: flat indices and start offsets.
    func bags(_ rows: [Int32]) -> (indices: [Int32], offsets: [Int]) {
        var indices: [Int32] = [], starts: [Int] = []
        starts.reserveCapacity(rows.count)
        for r in rows { starts.append(indices.count); indices.append(contentsOf: self[Int(r)]) }
        return (indices, starts)
    }
}

/// The context features a user tower can read: the event's device, platform and country (from
/// the store) and its hour and weekday (from its time, UTC).
enum ContextFeature {
    static let timeFields = ["hour", "weekday"]
    static let all = ContextColumns.fields + timeFields
    static let dayNames = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

    /// Hour of day of Unix seconds `t`, as a vocabulary value (see ``ContextColumns/hour(_:)``).
    static func hour(_ t: Int64) -> String { String(ContextColumns.hour(t)) }

    /// Day of the week of Unix seconds `t`, as a vocabulary value (see ``ContextColumns/weekday(_:)``).
    static func weekday(_ t: Int64) -> String { String(ContextColumns.weekday(t)) }

    /// 0–6 from `mon`…`sun` (or longer names) or a number.
    static func weekdayNumber(_ text: String) -> Int? {
        if let n = Int(text) { return (0..<7).contains(n) ? n : nil }
        let lower = text.lowercased()
        guard lower.count >= 3 else { return nil }
        return dayNames.firstIndex { lower.hasPrefix($0) }
    }

    /// Row `r`'s value of feature `name` (`nil`: unknown).
    static func value(_ name: String, log: Interactions, row r: Int) -> String? {
        switch name {
        case "hour": return log.timestamps.map { hour($0[r]) }
        case "weekday": return log.timestamps.map { weekday($0[r]) }
        default:
            guard let f = ContextColumns.fields.firstIndex(of: name) else { return nil }
            return log.context?.value(field: f, row: r)
        }
    }
}
