import Foundation
import TailorData
import TailorModels
import TailorSQLite
import TailorServer

/// A small store and ALS model versions for the server tests: synthetic tastes over 8 genres,
/// the genres as item categories.
struct Fixture {
    let directory: String
    let store: SQLiteEventStore
    let bundle: ModelBundle
    let versions: ModelVersions
    let log: SyntheticLog

    init(versionsToWrite: [String] = ["v1"]) throws {
        directory = NSTemporaryDirectory() + "tailor-server-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var c = SyntheticLog.Configuration()
        c.users = 300; c.items = 120; c.interactions = 6_000; c.genres = 8; c.seed = 7
        let log = SyntheticLog.generate(c)
        self.log = log
        store = try SQLiteEventStore(path: directory + "/t.db")
        let items = (0..<log.interactions.itemIDs.count).map { i in
            CatalogItem(id: log.interactions.itemIDs[Int32(i)], title: log.titles[i], categories: [log.genreNames[log.itemGenres[i]]])
        }
        try store.upsert(items: items)
        versions = try ModelVersions(root: directory + "/models")
        var first: ModelBundle?
        for (n, name) in versionsToWrite.enumerated() {
            let matrix = InteractionMatrix(log.interactions)
            let als = try ALS.fit(matrix, configuration: .init(factors: 8, iterations: 6, seed: UInt64(n + 1), threads: 1))
            let bundle = try ModelBundle(model: als, training: log.interactions)
            try bundle.save(to: URL(fileURLWithPath: versions.path(of: name)))
            if first == nil { first = bundle }
        }
        bundle = first!
    }

    func service(_ options: RecommendationService.Options = .init()) throws -> RecommendationService {
        try RecommendationService(store: store, model: ServingModel(path: versions.path(of: "v1"), version: "v1", ann: options.ann), options: options)
    }

    /// Users the model knows, in id order.
    var users: [String] { bundle.userIDs.ids }

    /// The categories of an item, from the catalogue.
    func category(of item: String) -> String {
        log.genreNames[log.itemGenres[Int(log.interactions.itemIDs.position(of: item)!)]]
    }
}
