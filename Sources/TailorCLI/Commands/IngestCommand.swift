import ArgumentParser
import Foundation
import TailorData
import TailorStore
import TailorSQLite

struct IngestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Load events, items or users into the embedded store (one SQLite file).",
        discussion: """
        Events: CSV/TSV with a header, or JSON Lines, with columns found by name: user, item,
        type (view, click, dwell, like, favorite, share, add_to_cart, purchase, rating, review,
        skip, dislike, or any custom name), value (dwell seconds, rating, amount), timestamp
        (Unix seconds or milliseconds, or a date), event_id, device, platform, country, session,
        referrer; any other column is kept as a context key-value.

        Items: item_id, title, text/description, categories/genres, tags, published, features
        (a vector), and numeric columns. Users: user_id, signup, and any attributes.

        Events go in transactions of --batch-size. Importing the same file again adds nothing
        (events are keyed by event_id, or by their content); an import that was killed midway
        leaves the store consistent, and running it again completes it.

        Examples:
          tailor ingest events.csv --store tailor.db
          tailor ingest items.csv --kind items --store tailor.db
          tailor ingest users.jsonl --kind users --store tailor.db
          tailor ingest --preset movielens-100k ml-100k/ --store ml.db
          tailor ingest --preset movielens-latest-small ml-latest-small/ --store ml.db
          tailor ingest --preset mind MINDsmall_train/ --store mind.db
        """
    )

    @Argument(help: "Files to load (or, with --preset, the dataset directory).")
    var files: [String] = []

    @Option(help: "The store file (created if missing).")
    var store: String

    @Option(help: "What the files hold: events, items or users.")
    var kind: ImportKind = .events

    @Option(help: "Load a public dataset by its layout: movielens-100k, movielens-latest-small or mind.")
    var preset: DatasetPreset?

    @Option(name: .customLong("batch-size"), help: "Events per transaction.")
    var batchSize = 50_000

    @Option(name: .customLong("default-type"), help: "Event type for files without a type column.")
    var defaultType = "click"

    @Flag(help: "Stop at the first malformed row, naming file:line.")
    var strict = false

    @Option(help: ArgumentHelp("Write the counts as JSON.", valueName: "FILE.json"))
    var report: String?

    @Option(name: .customLong("pause-between-batches"), help: .hidden)
    var pauseBetweenBatches: Double = 0

    func validate() throws {
        if preset == nil && files.isEmpty { throw ValidationError("give files to load, or --preset NAME DIR") }
        if preset != nil && files.count != 1 { throw ValidationError("--preset takes one dataset directory") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
    }

    struct Report: Codable {
        var store: String
        var sources: [String: IngestCounts]
        var seconds: Double
        var eventsPerSecond: Double
        var totals: [String: Int]
    }

    func run() throws {
        let db = try StoreOptions.store(at: store, create: true)
        var c = ImportConfiguration()
        c.batchSize = batchSize
        c.strict = strict
        c.defaultType = EventType(defaultType)
        c.pauseBetweenBatches = pauseBetweenBatches
        if Terminal.standardErrorIsTerminal {
            c.progress = { counts in
                FileHandle.standardError.write(Data("\r  \(counts.inserted + counts.alreadyPresent + counts.duplicates) events …".utf8))
            }
        }
        var sources: [String: IngestCounts] = [:]
        let t0 = now()
        if let preset {
            sources[files[0]] = try db.importPreset(preset, directory: files[0], configuration: c)
        } else {
            for file in files { sources[file] = try db.importFile(file, kind: kind, configuration: c) }
        }
        let seconds = now() - t0
        if Terminal.standardErrorIsTerminal { FileHandle.standardError.write(Data("\r".utf8)) }
        var events = 0
        for (source, counts) in sources.sorted(by: { $0.key < $1.key }) {
            events += counts.inserted + counts.alreadyPresent + counts.duplicates
            var line = "\(source): \(counts.rowsRead) rows"
            if counts.inserted + counts.alreadyPresent + counts.duplicates > 0 {
                line += "; \(counts.inserted) events stored, \(counts.alreadyPresent) already in the store, \(counts.duplicates) repeated within the file"
            }
            if counts.itemsWritten > 0 { line += "; \(counts.itemsWritten) items" }
            if counts.usersWritten > 0 { line += "; \(counts.usersWritten) users" }
            if counts.skipped > 0 { line += "; \(counts.skipped) malformed rows skipped, first:\n" + counts.problems.map { "  \($0)" }.joined(separator: "\n") }
            Terminal.note(line)
        }
        let totals = try db.counts()
        Terminal.note(String(format: "%@ now holds %d events, %d users, %d items (%.2fs, %.0f events/s)", store, totals.events, totals.users,
                             totals.items, seconds, Double(events) / max(seconds, 1e-9)))
        if let report {
            try Terminal.writeJSON(Report(store: store, sources: sources, seconds: seconds, eventsPerSecond: Double(events) / max(seconds, 1e-9),
                                          totals: ["events": totals.events, "users": totals.users, "items": totals.items]), to: report)
        }
    }
}

extension ImportKind: ExpressibleByArgument {}
extension DatasetPreset: ExpressibleByArgument {}
