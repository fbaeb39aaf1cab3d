import ArgumentParser
import Foundation
import TailorData
import TailorStore

/// Options for commands that read their data from a store instead of a log file.
struct StoreOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Read events from this store (written by `tailor ingest`) instead of a log file.", valueName: "FILE.db"))
    var store: String?

    @Option(help: ArgumentHelp("Cleaning configuration (JSON; see `tailor help stats`). Default: every step with its default thresholds.", valueName: "FILE.json"))
    var cleaning: String?

    @Option(help: ArgumentHelp("Event weights (JSON; see `tailor help stats`). Default: view 0.5, click 1, dwell by log-seconds, like 3, share 4, purchase 5…", valueName: "FILE.json"))
    var weights: String?

    func cleaningConfiguration() throws -> CleaningConfiguration {
        try cleaning.map { try ModelCatalog.load(CleaningConfiguration(), from: $0) } ?? CleaningConfiguration()
    }

    func eventWeights() throws -> EventWeights {
        try weights.map { try ModelCatalog.load(EventWeights(), from: $0) } ?? EventWeights()
    }

    /// The store's events, cleaned and weighted into interactions; prints the cleaning summary.
    func interactions(quiet: Bool = false) throws -> Interactions {
        let store = try EventStore(path: self.store!, create: false)
        let (log, report) = try Ingest.trainingData(from: store, cleaning: cleaningConfiguration(), weights: eventWeights())
        if !quiet { Terminal.note(report.summary) }
        guard log.count > 0 else {
            throw ValidationError("\(self.store!): no interactions left after cleaning and weighting (\(report.eventsBefore) events before cleaning)")
        }
        if !quiet { Terminal.note("\(log.count) (user, item) interactions, \(log.userIDs.count) users, \(log.itemIDs.count) items") }
        return log
    }
}
