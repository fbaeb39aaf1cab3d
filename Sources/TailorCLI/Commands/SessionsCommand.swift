import ArgumentParser
import Foundation
import TailorData
import TailorStore
import TailorSQLite

struct SessionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sessions",
        abstract: "Export per-user or per-session item sequences in time order, for sequence models.",
        discussion: """
        Sessions end after --session-gap minutes without events, or where the source's session id
        changes. Formats: lines ("USER ITEM ITEM …", one line per session or per user, the
        S3-Rec/SASRec text layout) or jsonl ({"user": …, "start": …, "end": …, "items": […]}).

        Examples:
          tailor sessions --store tailor.db --output sessions.jsonl --format jsonl
          tailor sessions --store tailor.db --per user --output sequences.txt
        """
    )

    enum Unit: String, ExpressibleByArgument { case session, user }
    enum Format: String, ExpressibleByArgument { case lines, jsonl }

    @OptionGroup var data: StoreOptions

    @Option(name: .customLong("session-gap"), help: "Minutes of inactivity that end a session.")
    var sessionGap: Double = 30

    @Option(help: "One sequence per session or per user.")
    var per: Unit = .session

    @Option(help: "lines or jsonl.")
    var format: Format = .lines

    @Flag(inversion: .prefixedNo, help: "Clean the events first (default on; see `tailor help stats`).")
    var clean = true

    @Option(name: .shortAndLong, help: "Output file, or - for standard output.")
    var output = "-"

    func validate() throws {
        guard data.store != nil else { throw ValidationError("give --store FILE.db") }
    }

    func run() throws {
        var log: EventLog
        if clean {
            let (_, cleaned, report) = try data.recipe().cleanedEvents(openStore: StoreOptions.open)
            log = cleaned
            Terminal.note(report.summary)
        } else {
            log = try StoreOptions.store(at: data.store!, create: false).loadEvents()
        }
        var sessions = Sessionizer(gapSeconds: sessionGap * 60).sessions(log)
        if per == .user {
            var merged: [Int32: Session] = [:]
            for s in sessions {
                if var m = merged[s.user] { m.items += s.items; m.end = s.end; merged[s.user] = m } else { merged[s.user] = s }
            }
            sessions = merged.values.sorted { $0.user < $1.user }
        }
        var text = ""
        for s in sessions {
            let user = log.userIDs[s.user], items = s.items.map { log.itemIDs[$0] }
            switch format {
            case .lines:
                text += ([user] + items).joined(separator: " ") + "\n"
            case .jsonl:
                let object: [String: Any] = ["user": user, "start": s.start / 1000, "end": s.end / 1000, "items": items]
                text += String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self) + "\n"
            }
        }
        try Terminal.write(text, to: output)
        if output != "-" { Terminal.note("wrote \(sessions.count) \(per == .user ? "user sequences" : "sessions") to \(output)") }
    }
}
