import Foundation
import TailorLinalg

/// A realistic synthetic event stream (views, clicks, dwell times, likes, shares, purchases with
/// device, platform and country), built on ``SyntheticLog``'s planted tastes, with the dirt real
/// platforms produce planted in known amounts: bots, exact duplicates, double clicks, events in
/// the future and impossible dwell times. For the demo, tests and ingest benchmarks.
public struct SyntheticEvents: Sendable {
    /// Sizes and dirt.
    public struct Configuration: Sendable, Codable, Equatable {
        /// The underlying (user, item, time) log.
        public var log = SyntheticLog.Configuration()
        /// Bot users added, each firing hundreds of views within minutes.
        public var bots = 5
        /// Fraction of events duplicated exactly.
        public var duplicateRate = 0.01
        /// Fraction of clicks repeated within a second (double clicks).
        public var doubleClickRate = 0.02
        /// Events dated in the future.
        public var futureEvents = 10
        /// Dwell events with negative duration.
        public var negativeDwells = 10
        /// Items shown and skipped beside each viewed item (0: no impressions). With more than 0,
        /// every view comes in an impression (a session `imp…`) with this many other items, each
        /// a `skip` event: what a click-through ranker learns from. Skipped items lean toward
        /// popular ones, as a feed's would.
        public var skippedPerImpression = 0
        /// The defaults.
        public init() {}
    }

    /// The events, in time order per user (dirt interleaved).
    public let events: [Event]
    /// The clean log and catalogue they were made from.
    public let base: SyntheticLog
    /// The planted bot user ids.
    public let botUsers: [String]

    /// Generates events. Deterministic for the configuration's seed.
    public static func generate(_ c: Configuration = .init()) -> SyntheticEvents {
        let base = SyntheticLog.generate(c.log)
        var rng = TailorRandom(seed: c.log.seed, stream: 99)
        var serial = 0
        var events: [Event] = []
        events.reserveCapacity(base.interactions.count * 3)
        emitInteractions(c, base.interactions, &rng, &serial) { events.append($0) }
        // Exact duplicates (same content, and no id: a logging pipeline that replayed rows).
        for index in duplicateIndices(c, count: events.count, &rng) {
            var e = events[index]
            e.id = nil
            events.append(e)
            events.append(e)
        }
        let bots = emitTail(c, base.interactions, &rng, &serial) { events.append($0) }
        return SyntheticEvents(events: events, base: base, botUsers: bots)
    }

    /// What ``stream(_:_:)`` wrote.
    public struct StreamSummary: Sendable {
        /// The clean log and catalogue the events were made from.
        public let base: SyntheticLog
        /// Events passed to the body.
        public let count: Int
        /// Whether any event has a session (an impression).
        public let hasSessions: Bool
        /// The planted bot user ids.
        public let botUsers: [String]
    }

    /// Passes the events ``generate(_:)`` returns, in the same order, to `body` one at a time,
    /// without holding them: for logs too large for memory (76M events would need ~27 GB as an
    /// array and its CSV). Generates the interaction events twice (once to count them, for the
    /// duplicates' positions) and keeps only the duplicated ones (1 %).
    @discardableResult
    public static func stream(_ c: Configuration = .init(), _ body: (Event) throws -> Void) rethrows -> StreamSummary {
        let base = SyntheticLog.generate(c.log)
        let log = base.interactions
        // Pass 1: count, and leave the generator where `generate` draws the duplicates.
        var rng = TailorRandom(seed: c.log.seed, stream: 99)
        var serial = 0, count = 0, sessions = false
        emitInteractions(c, log, &rng, &serial) { e in
            count += 1
            if e.context.session != nil { sessions = true }
        }
        let picks = duplicateIndices(c, count: count, &rng)
        var kept = [Int: Event](minimumCapacity: picks.count)
        let wanted = Set(picks)
        // Pass 2: the same events again, this time to the body.
        var replay = TailorRandom(seed: c.log.seed, stream: 99)
        var replaySerial = 0, index = 0
        try emitInteractions(c, log, &replay, &replaySerial) { e in
            if wanted.contains(index) { kept[index] = e }
            index += 1
            try body(e)
        }
        var written = count
        for index in picks {
            var e = kept[index]!
            e.id = nil
            try body(e)
            try body(e)
            written += 2
        }
        let bots = try emitTail(c, log, &rng, &serial) { e in
            try body(e)
            written += 1
        }
        return StreamSummary(base: base, count: written, hasSessions: sessions, botUsers: bots)
    }

    /// The events of the log's interactions (impressions with skips, views, clicks, dwell,
    /// purchases, likes, shares), user by user, in time order per user.
    private static func emitInteractions(_ c: Configuration, _ log: Interactions, _ rng: inout TailorRandom, _ serial: inout Int,
                                         _ emit: (Event) throws -> Void) rethrows {
        let devices = ["mobile", "mobile", "mobile", "desktop", "desktop", "tablet"]
        let platforms = ["ios", "android", "web"]
        let countries = ["US", "US", "GB", "DE", "FR", "IN", "BR", "JP", "NL", "SE"]
        func nextID(_ serial: inout Int) -> String { serial += 1; return "e\(serial)" }
        let (order, offsets) = log.rowsByUser()
        for u in 0..<log.userIDs.count {
            let user = log.userIDs[Int32(u)]
            let device = devices[rng.nextInt(below: devices.count)], platform = platforms[rng.nextInt(below: platforms.count)]
            let country = countries[rng.nextInt(below: countries.count)]
            let context = EventContext(device: device, platform: platform, country: country)
            let had = Set(order[offsets[u]..<offsets[u + 1]].map { log.items[$0] })
            for row in order[offsets[u]..<offsets[u + 1]] {
                let item = log.itemIDs[log.items[row]]
                var t = log.timestamps![row] * 1000
                var context = context
                // Never more skips than items the user has not had.
                let wanted = min(c.skippedPerImpression, log.itemIDs.count - had.count)
                if wanted > 0 {
                    context.session = "imp\(serial + 1)"
                    var skipped = Set<Int32>()
                    var attempts = 0
                    while skipped.count < wanted && attempts < 20 * wanted {
                        attempts += 1
                        // Half popular (a row of the log at random), half uniform.
                        let j = rng.nextDouble() < 0.5 ? log.items[rng.nextInt(below: log.count)] : Int32(rng.nextInt(below: log.itemIDs.count))
                        if !had.contains(j) { skipped.insert(j) }
                    }
                    for j in skipped.sorted() {
                        try emit(Event(id: nextID(&serial), user: user, item: log.itemIDs[j], type: .skip, timestampMilliseconds: t, context: context))
                    }
                }
                try emit(Event(id: nextID(&serial), user: user, item: item, type: .view, timestampMilliseconds: t, context: context))
                // Stronger engagement for stronger interactions (the log's view counts).
                let strength = Double(log.values[row])
                if rng.nextDouble() < 0.45 + 0.05 * strength {
                    t += 1_000 + Int64(rng.nextInt(below: 5_000))
                    try emit(Event(id: nextID(&serial), user: user, item: item, type: .click, timestampMilliseconds: t, context: context))
                    if rng.nextDouble() < c.doubleClickRate {
                        try emit(Event(id: nextID(&serial), user: user, item: item, type: .click, timestampMilliseconds: t + 300, context: context))
                    }
                    if rng.nextDouble() < 0.6 {
                        let seconds = (exp(3.2 + 1.0 * rng.nextGaussian()) * 10).rounded() / 10
                        t += Int64(seconds * 1000)
                        try emit(Event(id: nextID(&serial), user: user, item: item, type: .dwell, value: seconds, timestampMilliseconds: t, context: context))
                    }
                    let r = rng.nextDouble()
                    if r < 0.03 * strength {
                        try emit(Event(id: nextID(&serial), user: user, item: item, type: .purchase, value: Double(5 + rng.nextInt(below: 60)),
                                   timestampMilliseconds: t + 2_000, context: context))
                    } else if r < 0.1 * strength {
                        try emit(Event(id: nextID(&serial), user: user, item: item, type: .like, timestampMilliseconds: t + 1_000, context: context))
                    } else if r < 0.12 * strength {
                        try emit(Event(id: nextID(&serial), user: user, item: item, type: .share, timestampMilliseconds: t + 1_500, context: context))
                    }
                }
            }
        }
    }

    /// Positions (with repeats, in draw order) of the events replayed as exact duplicates.
    private static func duplicateIndices(_ c: Configuration, count: Int, _ rng: inout TailorRandom) -> [Int] {
        guard count > 0 else { return [] }
        let duplicates = Int(Double(count) * c.duplicateRate)
        return (0..<duplicates).map { _ in rng.nextInt(below: count) }
    }

    /// Bots (hundreds of views in a few minutes across many items), events in the far future and
    /// negative dwell times, after the users' events.
    private static func emitTail(_ c: Configuration, _ log: Interactions, _ rng: inout TailorRandom, _ serial: inout Int,
                                         _ emit: (Event) throws -> Void) rethrows -> [String] {
        var bots: [String] = []
        let start: Int64 = 1_704_067_200_000
        for b in 0..<c.bots {
            let bot = "bot\(b + 1)"
            bots.append(bot)
            var t = start + Int64(rng.nextInt(below: 200 * 86_400)) * 1000
            for _ in 0..<(400 + rng.nextInt(below: 400)) {
                t += Int64(100 + rng.nextInt(below: 400))
                serial += 1
                try emit(Event(id: "e\(serial)", user: bot, item: log.itemIDs[Int32(rng.nextInt(below: log.itemIDs.count))], type: .view,
                               timestampMilliseconds: t, context: EventContext(device: "desktop", platform: "web", country: "US")))
            }
        }
        let farFuture: Int64 = 4_102_444_800_000  // 2100-01-01
        for _ in 0..<c.futureEvents {
            serial += 1
            try emit(Event(id: "e\(serial)", user: log.userIDs[Int32(rng.nextInt(below: log.userIDs.count))],
                           item: log.itemIDs[Int32(rng.nextInt(below: log.itemIDs.count))], type: .click, timestampMilliseconds: farFuture))
        }
        for _ in 0..<c.negativeDwells {
            serial += 1
            try emit(Event(id: "e\(serial)", user: log.userIDs[Int32(rng.nextInt(below: log.userIDs.count))],
                           item: log.itemIDs[Int32(rng.nextInt(below: log.itemIDs.count))], type: .dwell, value: -5,
                           timestampMilliseconds: start + Int64(rng.nextInt(below: 1000)) * 1000))
        }
        return bots
    }

    /// The events as CSV: `event_id,user,item,type,value,timestamp,device,platform,country`
    /// (timestamps in Unix milliseconds), and `session` when there are impressions.
    public func csv() -> String {
        let sessions = events.contains { $0.context.session != nil }
        var out = Self.csvHeader(sessions: sessions)
        out.reserveCapacity(events.count * 72)
        for e in events { Self.appendCSVRow(e, sessions: sessions, to: &out) }
        return out
    }

    /// The header line of ``csv()``, with its line break.
    public static func csvHeader(sessions: Bool) -> String {
        "event_id,user,item,type,value,timestamp,device,platform,country" + (sessions ? ",session\n" : "\n")
    }

    /// Appends one event as a line of ``csv()`` (the generator's ids, types and contexts never
    /// need quoting).
    public static func appendCSVRow(_ e: Event, sessions: Bool, to out: inout String) {
        out += e.id ?? ""; out += ","; out += e.user; out += ","; out += e.item; out += ","; out += e.type.name; out += ","
        if let v = e.value { out += v == v.rounded() ? String(Int64(v)) : String(v) }
        out += ","; out += String(e.timestampMilliseconds); out += ","
        out += e.context.device ?? ""; out += ","; out += e.context.platform ?? ""; out += ","; out += e.context.country ?? ""
        if sessions { out += ","; out += e.context.session ?? "" }
        out += "\n"
    }

    /// Writes the events of `c` as ``csv()`` would, streaming them to `path` (atomically: a
    /// temporary file renamed at the end), in memory proportional to the users and items, not
    /// the events. Returns what was written.
    @discardableResult
    public static func writeCSV(_ c: Configuration, to path: String) throws -> StreamSummary {
        // `csv()` adds the session column only when some event has one; with impressions asked
        // for, some do unless every user has had every item.
        let sessions = c.skippedPerImpression > 0
        let writer = try TextFileWriter(path: path)
        try writer.append(csvHeader(sessions: sessions))
        var line = ""
        let summary = try stream(c) { e in
            line.removeAll(keepingCapacity: true)
            appendCSVRow(e, sessions: sessions, to: &line)
            try writer.append(line)
        }
        try writer.finish()
        return summary
    }

    /// The catalogue as CSV: `item_id,title,genre,year`.
    public func catalogCSV() -> String { Self.catalogCSV(base) }

    /// The catalogue of `base` as CSV: `item_id,title,genre,year`.
    public static func catalogCSV(_ base: SyntheticLog) -> String {
        var out = "item_id,title,genre,year\n"
        var rng = TailorRandom(seed: UInt64(base.titles.count))
        for i in 0..<base.titles.count {
            out += "\(base.interactions.itemIDs[Int32(i)]),\(InteractionWriter.quoted(base.titles[i])),\(base.genreNames[base.itemGenres[i]]),\(1980 + rng.nextInt(below: 45))\n"
        }
        return out
    }
}
