import ArgumentParser
import Foundation
import TailorData
import TailorExperiments
import TailorModels

struct Drift: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure drift: between two model versions, or between the latest window of a store's events and the one before.",
        discussion: """
        Two models (older first): the cosine shift of the vectors of the items and users both
        know, after the orthogonal map that best aligns them (Procrustes; factor models are
        unique only up to a rotation); the overlap of their top-k for a sample of shared users
        (Jaccard and rank-biased overlap); the PSI of their top-k scores; and the share of users
        and items that are new or gone.

        A store: the mix of event types in the latest --window against the window before (PSI),
        and the share of the latest window's users and items the earlier one never had.

        PSI below 0.1 is stable, 0.1 to 0.25 worth a look, above 0.25 a real change.

        Examples:
          tailor drift --model models/v1 --model models/v2
          tailor drift --model models/v1 --model models/v2 --k 20 --users 5000 --json drift.json
          tailor drift --store tailor.db --window 7d
        """
    )

    @Option(help: ArgumentHelp("A model directory; give two, the older first.", valueName: "DIR"))
    var model: [String] = []

    @Option(help: ArgumentHelp("Compare the latest window of this store's events with the one before.", valueName: "FILE.db|URL"))
    var store: String?

    @Option(help: ArgumentHelp("The window for --store (e.g. 12h, 7d).", valueName: "DURATION"))
    var window = "7d"

    @Option(help: "Length of the compared top-k lists.")
    var k = 10

    @Option(help: "Shared users sampled for the top-k comparison.")
    var users = 1_000

    @Option(help: "Seed of the sampling.")
    var seed: UInt64 = 1

    @Option(help: ArgumentHelp("Write the measures as JSON here.", valueName: "FILE.json"))
    var json: String?

    func validate() throws {
        guard (model.count == 2) != (store != nil) else {
            throw ValidationError("give two --model DIR (older first) to compare versions, or --store FILE.db for the data")
        }
        guard k >= 1 && k <= 10_000 else { throw ValidationError("--k must be 1 to 10000, got \(k)") }
        guard users >= 1 else { throw ValidationError("--users must be at least 1, got \(users)") }
        _ = try Serve.duration(window)
    }

    func run() throws {
        do {
            if let store {
                let duration = try Serve.duration(window)
                let ms = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
                let drift = try DataDrift.compare(StoreOptions.store(at: store, create: false).loadEvents(), window: ms)
                var text = String(format: "events: %d in the window before, %d in the latest %@%@\n", drift.eventsBefore, drift.eventsAfter, window,
                                  drift.futureEvents > 0 ? " (\(drift.futureEvents) dated in the future left out)" : "")
                for type in Set(drift.before.keys).union(drift.after.keys).sorted() {
                    text += "  " + Terminal.padded(type, 12) + String(format: " %5.1f%% → %5.1f%%\n", 100 * (drift.before[type] ?? 0), 100 * (drift.after[type] ?? 0))
                }
                text += String(format: "event mix PSI %.3f (%@)\nnew users %.1f%%, new items %.1f%% of the latest window's\n", drift.eventMixPSI,
                               Drift.verdict(drift.eventMixPSI), 100 * drift.newUserShare, 100 * drift.newItemShare)
                print(text, terminator: "")
                if let json { try Terminal.writeJSON(drift, to: json) }
                return
            }
            let old = try ModelBundle.load(from: URL(fileURLWithPath: model[0]))
            let new = try ModelBundle.load(from: URL(fileURLWithPath: model[1]))
            let drift = try ModelDrift.compare(old, new, k: k, users: users, seed: seed)
            var text = ""
            func shift(_ name: String, _ d: ModelDrift.Distribution?) {
                guard let d else { text += "\(name): no vectors to compare\n"; return }
                text += String(format: "%@ (%d shared): cosine shift after alignment mean %.3f, median %.3f, p90 %.3f\n", name, d.count, d.mean, d.median, d.p90)
            }
            shift("items", drift.itemShift)
            shift("users", drift.userShift)
            text += String(format: "top-%d of %d users: Jaccard %.3f, RBO %.3f; score PSI %.3f (%@)\n", drift.k, drift.usersCompared,
                           drift.topKJaccard, drift.topKRBO, drift.scorePSI, Drift.verdict(drift.scorePSI))
            text += String(format: "new users %.1f%%, new items %.1f%% of the newer model's; %.1f%% of the older's items are gone\n",
                           100 * drift.newUserShare, 100 * drift.newItemShare, 100 * drift.droppedItemShare)
            print(text, terminator: "")
            if let json { try Terminal.writeJSON(drift, to: json) }
        } catch let error as ExperimentError {
            throw ValidationError(error.description)
        }
    }

    static func verdict(_ psi: Double) -> String {
        psi < 0.1 ? "stable" : psi < 0.25 ? "a shift worth a look" : "a real change"
    }
}
