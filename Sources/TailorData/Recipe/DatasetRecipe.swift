import Foundation

/// Anything that can hand over its events: the store protocol refines this, so recipes can
/// name a store without TailorData depending on one.
public protocol EventSource {
    /// Every event, in a deterministic order.
    func loadEvents() throws -> EventLog
    /// The item catalogue (empty when the source has none).
    func loadItems() throws -> [CatalogItem]
    /// The user profiles (empty when the source has none).
    func loadUsers() throws -> [UserProfile]
    /// The item vectors stored under `space` (empty when there are none).
    func loadItemVectors(space: String) throws -> [ItemVector]
    /// A position in the source's append order: events appended later come after it (nil for
    /// sources without one, such as files).
    func eventCursor() throws -> Int64?
}

extension EventSource {
    /// No catalogue.
    public func loadItems() throws -> [CatalogItem] { [] }
    /// No profiles.
    public func loadUsers() throws -> [UserProfile] { [] }
    /// No item vectors.
    public func loadItemVectors(space: String) throws -> [ItemVector] { [] }
    /// No append order.
    public func eventCursor() throws -> Int64? { nil }
}

/// A vector for one catalogue item in a named space (a text encoder's, say), with a
/// fingerprint of what it was computed from (the text and the model), so a later run
/// recomputes only items whose fingerprint changed.
public struct ItemVector: Sendable, Equatable, Codable {
    /// The item's external identifier.
    public var item: String
    /// A hash of the inputs the vector was computed from.
    public var fingerprint: UInt64
    /// The vector.
    public var values: [Float]

    /// A vector for `item`.
    public init(item: String, fingerprint: UInt64, values: [Float]) {
        self.item = item
        self.fingerprint = fingerprint
        self.values = values
    }
}

/// How a run gets its training data, as a value: the source (a log file and how to read it, or a
/// store), cleaning and event weights (stores), the confidence transform, and the held-out split
/// with its seed. `Codable`: it is part of a run file, recorded in every model's manifest, and
/// replayed by `tailor evaluate` to rebuild exactly the split the model was trained on.
///
/// The JSON form names only what differs from the defaults:
///
/// ```json
/// {"log": "ratings.csv", "columns": "user=userId,item=movieId,rating=rating,time=timestamp",
///  "confidence": "log", "holdout": {"method": "temporal", "testFraction": 0.2, "seed": 42}}
/// ```
public struct DatasetRecipe: Sendable, Equatable, Codable {
    /// Where the data comes from.
    public enum Source: Sendable, Equatable {
        /// An interaction log file.
        case log(String)
        /// A store (typed events, cleaned and weighted into interactions).
        case store(String)

        /// The path.
        public var path: String {
            switch self { case .log(let p), .store(let p): p }
        }
    }

    /// A held-out split.
    public struct Holdout: Sendable, Equatable, Codable {
        /// The method.
        public var method: SplitMethod
        /// Its seed (used by the random method).
        public var seed: UInt64

        /// A split.
        public init(method: SplitMethod, seed: UInt64 = 42) {
            self.method = method
            self.seed = seed
        }

        // The file form: {"method": "temporal", "testFraction": 0.2, "seed": 42}. Explicit names,
        // so renaming a Swift case never breaks a saved file.
        private enum CodingKeys: String, CodingKey { case method, testFraction, testCount, cutoff, seed, revealed }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? 42
            let name = try c.decode(String.self, forKey: .method)
            let fraction = try c.decodeIfPresent(Double.self, forKey: .testFraction)
            if let f = fraction, !(f > 0 && f < 1) {
                throw DataError(.invalidConfiguration, field: "holdout.testFraction", reason: "must be between 0 and 1 (exclusive), got \(f)")
            }
            switch name {
            case "random": method = .random(testFraction: fraction ?? 0.2)
            case "temporal":
                if let n = try c.decodeIfPresent(Int.self, forKey: .testCount) {
                    guard n >= 1 else { throw DataError(.invalidConfiguration, field: "holdout.testCount", reason: "must be at least 1, got \(n)") }
                    method = .temporalCount(count: n)
                } else {
                    method = .temporalFraction(testFraction: fraction ?? 0.2)
                }
            case "leave-last-out": method = .leaveLastOut
            case "cold-users":
                let revealed = try c.decodeIfPresent(Int.self, forKey: .revealed) ?? 0
                guard revealed >= 0 else { throw DataError(.invalidConfiguration, field: "holdout.revealed", reason: "must be 0 or more, got \(revealed)") }
                method = .coldUsers(testFraction: fraction ?? 0.2, revealed: revealed)
            case "cold-items": method = .coldItems(testFraction: fraction ?? 0.2)
            case "global-time":
                if let cut = try? c.decodeIfPresent(Int64.self, forKey: .cutoff) {
                    method = .globalTime(cutoff: cut)
                } else if let text = try c.decodeIfPresent(String.self, forKey: .cutoff) {
                    guard let t = Timestamp.parse(text) else {
                        throw DataError(.invalidConfiguration, field: "holdout.cutoff", reason: "'\(text)' is neither Unix seconds nor a date like 2024-06-01")
                    }
                    method = .globalTime(cutoff: t)
                } else {
                    method = .globalTimeFraction(testFraction: fraction ?? 0.2)
                }
            default:
                throw DataError(.invalidConfiguration, field: "holdout.method", reason: "unknown method '\(name)'",
                                hint: "use random, temporal, leave-last-out, global-time, cold-users or cold-items")
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(seed, forKey: .seed)
            switch method {
            case .random(let f): try c.encode("random", forKey: .method); try c.encode(f, forKey: .testFraction)
            case .temporalFraction(let f): try c.encode("temporal", forKey: .method); try c.encode(f, forKey: .testFraction)
            case .temporalCount(let n): try c.encode("temporal", forKey: .method); try c.encode(n, forKey: .testCount)
            case .leaveLastOut: try c.encode("leave-last-out", forKey: .method)
            case .globalTime(let t): try c.encode("global-time", forKey: .method); try c.encode(t, forKey: .cutoff)
            case .globalTimeFraction(let f): try c.encode("global-time", forKey: .method); try c.encode(f, forKey: .testFraction)
            case .coldUsers(let f, let n):
                try c.encode("cold-users", forKey: .method); try c.encode(f, forKey: .testFraction); try c.encode(n, forKey: .revealed)
            case .coldItems(let f): try c.encode("cold-items", forKey: .method); try c.encode(f, forKey: .testFraction)
            }
        }
    }

    /// Where the data comes from.
    public var source: Source
    /// How a log file is read (ignored for stores).
    public var reader: InteractionReader.Configuration
    /// Cleaning of a store's events (ignored for logs).
    public var cleaning: CleaningConfiguration
    /// Event weights of a store's events (ignored for logs).
    public var weights: EventWeights
    /// How strengths become training values.
    public var confidence: ConfidenceTransform
    /// The held-out split, if the run holds data out.
    public var holdout: Holdout?
    /// An item catalogue file (CSV/TSV with a header, or JSON Lines; see ``CatalogReader``), for
    /// models that use item content. A store's own catalogue is read without it; entries here
    /// replace the store's.
    public var items: String?
    /// A user profile file, likewise.
    public var users: String?
    /// An impressions file (user, item, clicked 1/0, optional time and impression id; see
    /// ``Impressions/read(path:strict:)``) for click-through rankers. A store's impressions
    /// (sessions with `skip` events) are read without it.
    public var impressions: String?
    /// A space of item vectors in the store (written by `tailor embed`, e.g. `text`) to use as
    /// the items' feature vectors: the content model and the two-tower item tower read them.
    public var itemVectors: String?

    /// A recipe with the documented defaults for everything but the source.
    public init(source: Source, reader: InteractionReader.Configuration = .init(), cleaning: CleaningConfiguration = .init(),
                weights: EventWeights = .init(), confidence: ConfidenceTransform = .standard, holdout: Holdout? = nil) {
        self.source = source
        self.reader = reader
        self.cleaning = cleaning
        self.weights = weights
        self.confidence = confidence
        self.holdout = holdout
    }

    // MARK: File form

    private enum CodingKeys: String, CodingKey {
        case log, store, columns, delimiter, header, strict, minRating, duplicates, cleaning, weights, confidence, holdout, items, users, impressions, itemVectors
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let log = try c.decodeIfPresent(String.self, forKey: .log), store = try c.decodeIfPresent(String.self, forKey: .store)
        switch (log, store) {
        case (let l?, nil): source = .log(l)
        case (nil, let s?): source = .store(s)
        case (nil, nil): throw DataError(.invalidConfiguration, field: "data", reason: "names no source", hint: "give \"log\": FILE or \"store\": FILE.db")
        default: throw DataError(.invalidConfiguration, field: "data", reason: "names both a log and a store", hint: "give one of them")
        }
        var r = InteractionReader.Configuration()
        if let columns = try c.decodeIfPresent(String.self, forKey: .columns) { r.columns = try ColumnSelection(parsing: columns) }
        if let delimiter = try c.decodeIfPresent(String.self, forKey: .delimiter) { r.format = try LogFormat(parsing: delimiter) }
        if let header = try c.decodeIfPresent(Bool.self, forKey: .header) { r.header = header ? .present : .absent }
        r.strict = try c.decodeIfPresent(Bool.self, forKey: .strict) ?? false
        r.minimumRating = try c.decodeIfPresent(Float.self, forKey: .minRating)
        if let d = try c.decodeIfPresent(String.self, forKey: .duplicates) {
            guard let rule = DuplicateRule(rawValue: d) else {
                throw DataError(.invalidConfiguration, field: "data.duplicates", reason: "unknown rule '\(d)'", hint: "use sum, last, first or max")
            }
            r.duplicates = rule
        }
        reader = r
        cleaning = try ConfigurationPatch.apply(try c.decodeIfPresent(JSONValue.self, forKey: .cleaning), to: CleaningConfiguration(), context: "data.cleaning")
        weights = try ConfigurationPatch.apply(try c.decodeIfPresent(JSONValue.self, forKey: .weights), to: EventWeights(), context: "data.weights")
        confidence = try c.decodeIfPresent(ConfidenceTransform.self, forKey: .confidence) ?? .standard
        holdout = try c.decodeIfPresent(Holdout.self, forKey: .holdout)
        items = try c.decodeIfPresent(String.self, forKey: .items)
        users = try c.decodeIfPresent(String.self, forKey: .users)
        impressions = try c.decodeIfPresent(String.self, forKey: .impressions)
        itemVectors = try c.decodeIfPresent(String.self, forKey: .itemVectors)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch source {
        case .log(let p):
            try c.encode(p, forKey: .log)
            let columns = reader.columns.textForm
            if !columns.isEmpty { try c.encode(columns, forKey: .columns) }
            if let d = reader.format.textForm { try c.encode(d, forKey: .delimiter) }
            if reader.header != .auto { try c.encode(reader.header == .present, forKey: .header) }
            if reader.strict { try c.encode(true, forKey: .strict) }
            try c.encodeIfPresent(reader.minimumRating, forKey: .minRating)
            try c.encode(reader.duplicates.rawValue, forKey: .duplicates)
        case .store(let p):
            try c.encode(p, forKey: .store)
            try c.encode(cleaning, forKey: .cleaning)
            try c.encode(weights, forKey: .weights)
        }
        try c.encode(confidence, forKey: .confidence)
        try c.encodeIfPresent(holdout, forKey: .holdout)
        try c.encodeIfPresent(items, forKey: .items)
        try c.encodeIfPresent(users, forKey: .users)
        try c.encodeIfPresent(impressions, forKey: .impressions)
        try c.encodeIfPresent(itemVectors, forKey: .itemVectors)
    }

    // MARK: Preparing the data

    /// The data a recipe produced: all interactions, the training part (confidence-transformed)
    /// and the held-out part, with what reading and cleaning reported.
    public struct Prepared: Sendable {
        /// Every interaction after reading (and, for stores, cleaning and weighting), raw strengths.
        public var all: Interactions
        /// What the model trains on: the training part of the split (or everything), with the
        /// confidence transform applied.
        public var train: Interactions
        /// The training part before the confidence transform.
        public var trainRaw: Interactions
        /// The held-out part (raw strengths), when the recipe has a holdout.
        public var test: Interactions?
        /// The reader's report, for logs.
        public var readReport: InteractionReader.ReadReport?
        /// The cleaning report, for stores.
        public var cleaningReport: CleaningReport?
        /// The split's report, when there is a holdout.
        public var splitReport: Split.Report?
        /// The item catalogue and user profiles (the store's, then the recipe's files).
        public var side = SideInformation()
        /// Impressions for training (all of them, or those before the held-out ones), if any.
        public var impressions: Impressions?
        /// Held-out impressions: the latest impressions by time, the holdout's test fraction
        /// of them (0.2 for methods without a fraction), whatever the holdout's method.
        public var testImpressions: Impressions?
        /// For a store: its event cursor read before its events were (every event at or
        /// before it is in the data; a server replays the ones after it).
        public var storeCursor: Int64?
    }

    /// A store source's events before and after cleaning, with the cleaning report (the first
    /// steps of ``prepare(openStore:)``, for commands that show or export events).
    public func cleanedEvents(openStore: ((String) throws -> any EventSource)?) throws -> (raw: EventLog, clean: EventLog, report: CleaningReport) {
        guard case .store(let path) = source else {
            throw DataError(.invalidConfiguration, field: "data", reason: "events come from a store, and this recipe reads a log file", hint: "give \"store\": FILE.db")
        }
        guard let openStore else {
            throw DataError(.invalidConfiguration, file: path, reason: "this build cannot open stores", hint: "use the tailor command, or pass openStore")
        }
        let events = try openStore(path).loadEvents()
        let (clean, report) = Cleaner.clean(events, configuration: cleaning, knownTypes: weights.knownTypes)
        return (events, clean, report)
    }

    /// Reads, cleans, weights, splits and transforms. `openStore` opens a store by path
    /// (TailorData knows no database; the caller passes e.g. `{ try SQLiteEventStore(path: $0, create: false) }`).
    ///
    /// - Throws: ``DataError`` naming the file or key for unreadable input, an empty result, or a
    ///   split the data cannot support.
    public func prepare(openStore: ((String) throws -> any EventSource)? = nil) throws -> Prepared {
        try confidence.validate()
        // A store is opened once, for its events and then its catalogue and profiles.
        var opened: (any EventSource)?
        if case .store(let path) = source, let openStore { opened = try openStore(path) }
        let cursor = try opened?.eventCursor()
        let reopen: ((String) throws -> any EventSource)? = opened.map { store in { _ in store } } ?? openStore
        var all: Interactions
        var readReport: InteractionReader.ReadReport?
        var cleaningReport: CleaningReport?
        var shown: Impressions?
        switch source {
        case .log(let path):
            (all, readReport) = try InteractionReader.read(path: path, configuration: reader)
        case .store(let path):
            let (_, clean, report) = try cleanedEvents(openStore: reopen)
            cleaningReport = report
            all = weights.interactions(from: clean)
            shown = Impressions.from(clean, weights: weights, passiveTypes: Set(cleaning.bots?.passiveTypes ?? ["skip"]))
            guard all.count > 0 else {
                throw DataError(.emptyData, file: path, reason: "no interactions left after cleaning and weighting (\(report.eventsBefore) events before cleaning)",
                                hint: "check the store with `tailor stats`, and the cleaning and weights")
            }
        }
        let side = try sideInformation(openStore: reopen)
        var train = all, test: Interactions?, splitReport: Split.Report?
        if let holdout {
            let split = try Split.make(all, method: holdout.method, seed: holdout.seed)
            (train, test, splitReport) = (split.train, split.test, split.report)
            // Held-out users or items must be unknown to the model, not rows it never trained.
            switch holdout.method {
            case .coldUsers, .coldItems: train = train.compacted()
            default: break
            }
        }
        let raw = train
        train = confidence.apply(to: train)
        if let impressions { shown = try Impressions.read(path: impressions).0 }
        var testShown: Impressions?
        if let all = shown, let holdout {
            (shown, testShown) = all.splitByTime(testFraction: holdout.method.testFraction ?? 0.2)
        }
        var prepared = Prepared(all: all, train: train, trainRaw: raw, test: test, readReport: readReport, cleaningReport: cleaningReport,
                                splitReport: splitReport, side: side, impressions: shown, testImpressions: testShown)
        prepared.storeCursor = cursor
        return prepared
    }

    /// The item catalogue and user profiles: a store's own, then the ``items`` and ``users``
    /// files (whose entries replace the store's). With ``itemVectors``, the store's vectors of
    /// that space become the items' feature vectors (items without one keep none).
    ///
    /// - Throws: ``DataError`` naming the file for an unreadable catalogue.
    public func sideInformation(openStore: ((String) throws -> any EventSource)? = nil) throws -> SideInformation {
        var side = SideInformation()
        if case .store(let path) = source, let openStore {
            let store = try openStore(path)
            side = SideInformation(items: try store.loadItems(), users: try store.loadUsers())
        }
        if let items { side.merge(SideInformation(items: try CatalogReader.readItems(path: items).0)) }
        if let users { side.merge(SideInformation(users: try CatalogReader.readUsers(path: users).0)) }
        if let space = itemVectors {
            guard case .store(let path) = source, let openStore else {
                throw DataError(.invalidConfiguration, field: "itemVectors", reason: "item vectors are read from a store, and this run reads a log file",
                                hint: "train from the store (--store) that `tailor embed` wrote the vectors into")
            }
            let vectors = try openStore(path).loadItemVectors(space: space)
            guard !vectors.isEmpty else {
                throw DataError(.emptyData, file: path, field: "itemVectors", reason: "the store has no item vectors named '\(space)'",
                                hint: "compute them first: tailor embed --store \(path) --encoder DIR --space \(space)")
            }
            for item in side.items.keys { side.items[item]?.features = nil }
            for v in vectors { side.items[v.item, default: CatalogItem(id: v.item)].features = v.values }
        }
        return side
    }
}

extension ColumnSelection {
    /// The `ROLE=COLUMN,…` form ``init(parsing:)`` reads; empty when every role is automatic.
    public var textForm: String {
        var parts: [String] = []
        func add(_ role: String, _ ref: ColumnReference?) {
            if let ref {
                switch ref { case .name(let n): parts.append("\(role)=\(n)"); case .position(let p): parts.append("\(role)=\(p)") }
            } else if ignored.contains(role) {
                parts.append("\(role)=none")
            }
        }
        add("user", user); add("item", item); add("rating", rating); add("time", time)
        return parts.joined(separator: ",")
    }
}

extension LogFormat {
    /// Parses `comma`, `tab`, `semicolon`, `pipe`, `double-colon`, `whitespace`, `json`,
    /// `sequences` (and the symbols themselves).
    public init(parsing text: String) throws {
        switch text.lowercased() {
        case "auto": self = .auto
        case "json", "jsonl", "jsonlines", "json-lines": self = .jsonLines
        case "sequences", "sequence", "seq": self = .sequences
        case ",", "comma", "csv": self = .delimited(.comma)
        case "\\t", "\t", "tab", "tsv": self = .delimited(.tab)
        case ";", "semicolon": self = .delimited(.semicolon)
        case "|", "pipe": self = .delimited(.pipe)
        case "::", "double-colon", "doublecolon": self = .delimited(.doubleColon)
        case " ", "space", "whitespace": self = .delimited(.whitespace)
        default:
            throw DataError(.invalidConfiguration, field: "delimiter", reason: "unknown delimiter '\(text)'",
                            hint: "use comma, tab, semicolon, pipe, double-colon, whitespace, json or sequences")
        }
    }

    /// The name ``init(parsing:)`` reads; `nil` for automatic detection.
    public var textForm: String? {
        switch self {
        case .auto: nil
        case .jsonLines: "json"
        case .sequences: "sequences"
        case .delimited(let d):
            switch d {
            case .comma: "comma"
            case .tab: "tab"
            case .semicolon: "semicolon"
            case .pipe: "pipe"
            case .doubleColon: "double-colon"
            case .whitespace: "whitespace"
            }
        }
    }
}
