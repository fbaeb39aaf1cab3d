import ArgumentParser
import Foundation
import TailorData

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a realistic synthetic interaction log (and its item catalogue) for trying Tailor or benchmarking it.",
        discussion: """
        Users have hidden tastes over genres; items have power-law popularity; every user's rows
        have increasing timestamps. The log is CSV with the header user,item,rating,timestamp
        (the rating is a view count); --catalog writes item,title,genre.

        Examples:
          tailor generate --output log.csv
          tailor generate --users 100000 --items 20000 --interactions 3000000 --seed 1 --output big.csv
          tailor generate --events --output events.csv --catalog items.csv      # typed events for `tailor ingest`, with impressions (4 skips per view)
          tailor generate --play-counts --output plays.csv                       # heavy-tailed play counts
        """
    )

    @Option var users = 2_000
    @Option var items = 1_000
    @Option(help: "Target number of interactions (the result is within a few percent).")
    var interactions = 60_000
    @Option var genres = 16
    @Option var seed: UInt64 = 1
    @Option(name: .shortAndLong, help: "Where to write the log.")
    var output: String
    @Option(help: "Where to write the item catalogue (item,title,genre).")
    var catalog: String?

    @Flag(help: "Write typed events (views, clicks, dwell, likes, shares, purchases, with context, bots and dirt) instead of interactions.")
    var events = false

    @Option(help: "Bot users to plant (with --events).")
    var bots = 5

    @Option(help: "With --events: items shown and skipped beside each viewed item, in one impression (a session with skip events) for rankers; 0 for none.")
    var skipped = 4

    @Flag(name: .customLong("play-counts"), help: "Make the strengths heavy-tailed play counts (1 to 100,000, like a music log) instead of view counts of 1–10.")
    var playCounts = false

    func validate() throws {
        if skipped < 0 || skipped > 1_000 { throw ValidationError("--skipped must be between 0 and 1000, got \(skipped)") }
        guard users > 0, items > 0, interactions > 0, genres > 0 else {
            throw ValidationError("--users, --items, --interactions and --genres must be positive")
        }
        guard bots >= 0 else { throw ValidationError("--bots must be 0 or more (got \(bots))") }
        guard users <= 100_000_000, items <= 100_000_000, interactions <= 2_000_000_000 else {
            throw ValidationError("--users and --items take at most 100,000,000, --interactions at most 2,000,000,000")
        }
    }

    func run() throws {
        var c = SyntheticLog.Configuration()
        c.users = users; c.items = items; c.interactions = interactions; c.genres = genres; c.seed = seed
        c.playCounts = playCounts
        let t0 = now()
        if events {
            var e = SyntheticEvents.Configuration()
            e.log = c
            e.bots = bots
            e.skippedPerImpression = skipped
            // Streamed: 76M events would not fit in memory as an array and its text.
            let written = try SyntheticEvents.writeCSV(e, to: output)
            if let catalog { try Terminal.write(SyntheticEvents.catalogCSV(written.base), to: catalog) }
            Terminal.note(String(format: "wrote %d events (%d users + %d bots, %d items) to %@ in %.2fs", written.count, users, bots, items, output, now() - t0))
            return
        }
        let log = SyntheticLog.generate(c)
        try InteractionWriter.write(log.interactions, to: output)
        if let catalog {
            var text = "item,title,genre\n"
            for i in 0..<log.titles.count {
                text += "\(log.interactions.itemIDs[Int32(i)]),\(InteractionWriter.quoted(log.titles[i])),\(log.genreNames[log.itemGenres[i]])\n"
            }
            try Terminal.write(text, to: catalog)
        }
        Terminal.note(String(format: "wrote %d interactions (%d users, %d items) to %@ in %.2fs",
                             log.interactions.count, users, items, output, now() - t0))
    }
}
