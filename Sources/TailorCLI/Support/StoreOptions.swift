import ArgumentParser
import Foundation
import TailorData
import TailorStore
import TailorSQLite
import TailorPostgres

/// Options for commands that read their data from a store instead of a log file.
struct StoreOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Read events from this store (written by `tailor ingest`) instead of a log file: an SQLite file, or postgres://USER@HOST:PORT/DB (password in PGPASSWORD; TLS with ?sslmode=verify-full&sslrootcert=CA.pem).", valueName: "FILE.db|URL"))
    var store: String?

    @Option(help: ArgumentHelp("Cleaning configuration (JSON; see `tailor help stats`). Default: every step with its default thresholds.", valueName: "FILE.json"))
    var cleaning: String?

    @Option(help: ArgumentHelp("Event weights (JSON; see `tailor help stats`). Default: view 0.5, click 1, dwell by log-seconds, like 3, share 4, purchase 5…", valueName: "FILE.json"))
    var weights: String?

    func cleaningConfiguration() throws -> CleaningConfiguration {
        try ConfigurationFile.load(CleaningConfiguration(), from: cleaning)
    }

    func eventWeights() throws -> EventWeights {
        try ConfigurationFile.load(EventWeights(), from: weights)
    }

    /// The store's events, cleaned and weighted into interactions (raw strengths); prints the
    /// cleaning summary.
    func interactions(quiet: Bool = false) throws -> Interactions {
        let recipe = DatasetRecipe(source: .store(store!), cleaning: try cleaningConfiguration(), weights: try eventWeights())
        let prepared = try recipe.prepare(openStore: StoreOptions.open)
        if !quiet, let report = prepared.cleaningReport { Terminal.note(report.summary) }
        let log = prepared.all
        if !quiet { Terminal.note("\(log.count) (user, item) interactions, \(log.userIDs.count) users, \(log.itemIDs.count) items") }
        return log
    }

    /// Opens an existing store for a recipe.
    static let open: @Sendable (String) throws -> any EventSource = { try StoreOptions.store(at: $0, create: false) }

    /// The store at `location`: a PostgreSQL URL (`postgres://USER@HOST:PORT/DB`, the password
    /// in `PGPASSWORD`), or an SQLite file (the embedded default).
    static func store(at location: String, create: Bool) throws -> any EventStore {
        if PostgresEventStore.handles(location) { return try PostgresEventStore(url: location, create: create) }
        return try SQLiteEventStore(path: location, create: create)
    }

    /// The recipe these options describe, for a store.
    func recipe() throws -> DatasetRecipe {
        DatasetRecipe(source: .store(store!), cleaning: try cleaningConfiguration(), weights: try eventWeights())
    }
}
