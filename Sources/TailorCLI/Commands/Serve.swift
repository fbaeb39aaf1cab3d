import ArgumentParser
import Foundation
import Logging
import TailorExperiments
import TailorServer
import TailorData
import TailorLinalg
import TailorModels
import TailorStore

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve recommendations over HTTP, updated live from new events.",
        discussion: """
        Starts the HTTP API (see /openapi.json) on 127.0.0.1:8080 with the store and a model:
          tailor keys create --store tailor.db --name app --scopes read,write
          tailor serve --store tailor.db --model model
          tailor serve --demo tailor-demo     # synthetic data, a model, a key and curl lines
          curl -H "Authorization: Bearer KEY" localhost:8080/v1/users/42/recommendations?k=10

        --models DIR serves a registry of versions (each subdirectory a model written by
        `tailor train --output DIR/NAME`); the file DIR/ACTIVE names the active one (the
        newest if absent), and POST /v1/admin/models/NAME/activate or .../rollback swaps it
        without a restart: requests in flight finish on the old model, and a version that fails
        to load is refused while the old one keeps serving.

        Events sent to POST /v1/events are stored before the reply and change that user's
        recommendations at once (fold-in against the model's item vectors; no retraining).

        --ranker DIR adds a second stage: a click model (`tailor train --model ranker`)
        re-orders the model's top --ranker-shortlist items for each request by predicted click
        probability, before the filters, diversity and fallbacks (rerank=false opts out).

        Retraining (needs --models): POST /v1/admin/retrain, or --retrain-every 6h and
        --retrain-after-events 100000, re-runs the active model's recipe on the store in the
        background; the new version is activated only if its NDCG@10 on held-out events is not
        worse than the active model's (--retrain-tolerance), and GET /v1/admin/retrain reports.

        A request may take --request-timeout seconds (10); past it the work is stopped and
        the reply is 503 with the problem code `timeout`.

        Every endpoint but /healthz, /readyz and /openapi.json needs an API key (`tailor keys`).
        The server binds to 127.0.0.1; to serve a network, put a TLS reverse proxy (nginx,
        Caddy) in front and keep it on loopback. SIGTERM or Ctrl-C stops it gracefully.
        """
    )

    @Option(help: ArgumentHelp("The store events are written to and profiles read from (created if missing).", valueName: "FILE.db|URL"))
    var store: String?

    @Option(help: ArgumentHelp("Try it: fill DIR with synthetic events (a store), train ALS from them as version v1, create a key, print curl commands with it, and serve (a second run reuses DIR).", valueName: "DIR"))
    var demo: String?

    @Option(help: ArgumentHelp("Serve this model directory (written by `tailor train`).", valueName: "DIR"))
    var model: String?

    @Option(help: ArgumentHelp("Serve the active version of this registry of model directories.", valueName: "DIR"))
    var models: String?

    @Option(help: "Address to bind.")
    var host = "127.0.0.1"

    @Option(help: "Port (0: any free port).")
    var port = 8080

    @Option(name: .customLong("rate-limit"), help: "Requests per second per API key on average (0: unlimited).")
    var rateLimit: Double = 0

    @Option(name: .customLong("cache"), help: "Rankings kept in the cache (0: no cache).")
    var cache = 100_000

    @Option(help: "Ranking: exact (every item scored) or hnsw (an HNSW index over a factor model's item vectors, for large catalogues).")
    var ann = "exact"

    @Option(name: .customLong("ann-ef"), help: "HNSW: candidates explored per query (larger: better recall, slower).")
    var annEF = 100

    @Flag(name: .customLong("ann-int8"), help: "HNSW: walk the graph over int8 codes of the item vectors (a quarter of the memory traffic), re-scoring the result exactly.")
    var annInt8 = false

    @Option(name: .customLong("retrain-every"), help: ArgumentHelp("Retrain in the background this often (e.g. 30m, 6h, 1d; needs --models).", valueName: "DURATION"))
    var retrainEvery: String?

    @Option(name: .customLong("retrain-after-events"), help: ArgumentHelp("Retrain in the background once this many new events arrived (needs --models).", valueName: "N"))
    var retrainAfterEvents: Int?

    @Option(name: .customLong("retrain-tolerance"), help: "A retrained model is activated only if its NDCG@10 is at least (1 - this) times the active model's on the same held-out events.")
    var retrainTolerance = 0.01

    @Option(name: .customLong("drift-psi"), help: ArgumentHelp("Alert (tailor_drift_alert in /metrics) and, with --models, retrain when the event-type mix of the latest --drift-window differs from the window before by more than this PSI (e.g. 0.25).", valueName: "PSI"))
    var driftPSI: Double?

    @Option(name: .customLong("drift-new-items"), help: ArgumentHelp("Alert and retrain, like --drift-psi, when more than this share of the latest window's items were absent from the window before (e.g. 0.3).", valueName: "SHARE"))
    var driftNewItems: Double?

    @Option(name: .customLong("drift-new-users"), help: ArgumentHelp("Alert and retrain when more than this share of the latest window's users were absent from the window before.", valueName: "SHARE"))
    var driftNewUsers: Double?

    @Option(name: .customLong("drift-ndcg-drop"), help: ArgumentHelp("Alert and retrain when the active model's NDCG@10 on the latest window falls this share below its first measurement (e.g. 0.2).", valueName: "SHARE"))
    var driftNDCGDrop: Double?

    @Option(name: .customLong("drift-window"), help: ArgumentHelp("The window drift compares (e.g. 1d).", valueName: "DURATION"))
    var driftWindow = "1d"

    @Option(name: .customLong("drift-every"), help: ArgumentHelp("How often drift is measured (e.g. 10m; it reads the store's events).", valueName: "DURATION"))
    var driftEvery = "10m"

    @Option(name: .customLong("dashboard-max-age"), help: ArgumentHelp("Seconds a rendered /dashboard is served again before it is rendered anew (0: every request; ?refresh=true renders at once).", valueName: "SECONDS"))
    var dashboardMaxAge = 60.0

    @Option(name: .customLong("segment-by"), help: ArgumentHelp("User attributes (comma-separated, e.g. country,age) whose segments' popular items fill a list the model leaves short, after trending items and before overall popular ones.", valueName: "ATTRIBUTES"))
    var segmentBy: String?

    @Option(help: ArgumentHelp("A click model (`tailor train --model ranker`) that re-orders the model's shortlist for each request by predicted click probability (a request opts out with rerank=false).", valueName: "DIR"))
    var ranker: String?

    @Option(name: .customLong("ranker-shortlist"), help: "Items of the model's ranking the ranker re-orders (at least the offset + k asked for).")
    var rankerShortlist = 100

    @Option(name: .customLong("request-timeout"), help: ArgumentHelp("Seconds a request may take before it is stopped and answered 503 (0: no limit).", valueName: "SECONDS"))
    var requestTimeout = 10.0

    @Option(name: .customLong("max-events"), help: "Most events in one POST /v1/events.")
    var maxEvents = 10_000

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    func validate() throws {
        if demo != nil {
            guard model == nil && models == nil && store == nil else { throw ValidationError("--demo DIR makes its own store and model: leave out --store, --model and --models") }
        } else {
            guard store != nil else { throw ValidationError("give --store FILE.db (or try --demo DIR)") }
            guard (model == nil) != (models == nil) else { throw ValidationError("give exactly one of --model DIR or --models DIR") }
        }
        guard (0...65_535).contains(port) else { throw ValidationError("--port must be 0 to 65535, got \(port)") }
        guard rateLimit >= 0 && rateLimit.isFinite else { throw ValidationError("--rate-limit must be 0 or more") }
        guard cache >= 0 else { throw ValidationError("--cache must be 0 or more") }
        guard ann == "exact" || ann == "hnsw" else { throw ValidationError("--ann must be exact or hnsw, got '\(ann)'") }
        guard annEF >= 1 && annEF <= 100_000 else { throw ValidationError("--ann-ef must be 1 to 100000, got \(annEF)") }
        if annInt8 && ann != "hnsw" { throw ValidationError("--ann-int8 needs --ann hnsw") }
        if retrainEvery != nil || retrainAfterEvents != nil {
            guard models != nil || demo != nil else { throw ValidationError("--retrain-every and --retrain-after-events write new versions: serve --models DIR") }
        }
        if let retrainEvery { _ = try Serve.duration(retrainEvery) }
        _ = try Serve.duration(driftWindow); _ = try Serve.duration(driftEvery)
        if !(dashboardMaxAge >= 0 && dashboardMaxAge.isFinite) { throw ValidationError("--dashboard-max-age must be 0 or more seconds, got \(dashboardMaxAge)") }
        do {
            try DriftThresholds(eventMixPSI: driftPSI, newItemShare: driftNewItems, newUserShare: driftNewUsers, ndcgDrop: driftNDCGDrop).validate()
        } catch let error as ExperimentError {
            let flags = ["eventMixPSI": "--drift-psi", "newItemShare": "--drift-new-items", "newUserShare": "--drift-new-users", "ndcgDrop": "--drift-ndcg-drop"]
            throw ValidationError("\(error.field.flatMap { flags[$0] } ?? "drift"): \(error.reason)")
        }
        if let n = retrainAfterEvents, n < 1 { throw ValidationError("--retrain-after-events must be at least 1") }
        guard retrainTolerance >= 0 && retrainTolerance < 1 else { throw ValidationError("--retrain-tolerance must be at least 0 and below 1, got \(retrainTolerance)") }
        guard rankerShortlist >= 1 && rankerShortlist <= 10_000 else { throw ValidationError("--ranker-shortlist must be 1 to 10000, got \(rankerShortlist)") }
        guard requestTimeout >= 0 && requestTimeout.isFinite else { throw ValidationError("--request-timeout must be 0 (no limit) or more seconds, got \(requestTimeout)") }
        if let ranker, !FileManager.default.fileExists(atPath: (ranker as NSString).appendingPathComponent("manifest.json")) {
            throw ValidationError("--ranker \(ranker): no model there (no manifest.json); train one with `tailor train … --model ranker --output \(ranker)`")
        }
        guard maxEvents >= 1 else { throw ValidationError("--max-events must be at least 1") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical") }
        if let model, !FileManager.default.fileExists(atPath: (model as NSString).appendingPathComponent("manifest.json")) {
            throw ValidationError("--model \(model): no model there (no manifest.json); train one with `tailor train … --output \(model)`")
        }
    }

    func run() throws {
        _ = neuralModelsRegistered
        var configuration = ServerConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.rateLimit = rateLimit
        configuration.service.cacheCapacity = cache
        configuration.maxEventsPerRequest = maxEvents
        configuration.requestTimeoutSeconds = requestTimeout
        if let ranker {
            let bundle = try ModelBundle.load(from: URL(fileURLWithPath: ranker))
            configuration.service.ranker = try RankerStage(bundle: bundle, name: URL(fileURLWithPath: ranker).lastPathComponent, shortlist: rankerShortlist)
        }
        if ann == "hnsw" { configuration.service.ann = HNSWIndex.Configuration(quantized: annInt8) }
        configuration.service.annEF = annEF
        configuration.service.segmentBy = segmentBy.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } } ?? []
        configuration.retrain.every = try retrainEvery.map(Serve.duration)
        configuration.retrain.afterEvents = retrainAfterEvents
        configuration.retrain.tolerance = retrainTolerance
        configuration.dashboardMaxAgeSeconds = dashboardMaxAge
        configuration.retrain.drift = DriftThresholds(eventMixPSI: driftPSI, newItemShare: driftNewItems, newUserShare: driftNewUsers, ndcgDrop: driftNDCGDrop)
        configuration.retrain.driftWindow = try Serve.duration(driftWindow)
        configuration.retrain.driftEvery = try Serve.duration(driftEvery)
        var logger = Logger(label: "tailor.server")
        logger.logLevel = Logger.Level(rawValue: logLevel)!
        var storePath = store ?? "", modelsPath = models
        var demoKey: String?
        if let demo {
            (storePath, modelsPath, demoKey) = try Serve.prepareDemo(in: demo)
        }
        let eventStore = try StoreOptions.store(at: storePath, create: true)
        let server = try TailorServer(store: eventStore, model: model, versions: try modelsPath.map { try ModelVersions(root: $0) },
                                      configuration: configuration, logger: logger)
        if let demoKey { Serve.printDemoCommands(key: demoKey, port: port, model: server.service.model) }
        if server.service.model == nil { Terminal.note("no model in \(models ?? "") yet: /readyz answers 503 until one is activated") }
        if try !server.keys.hasActiveKeys() {
            Terminal.note("the store has no API keys: every request but /healthz will be refused; create one with `tailor keys create --store \(storePath) --scopes read,write`")
        }
        let failure = ServeOutcome()
        let done = DispatchSemaphore(value: 0)
        Task {
            do {
                try await server.run { channel in
                    Terminal.note("serving on http://\(host):\(channel.localAddress?.port ?? port)")
                }
            } catch {
                failure.set(error)
            }
            done.signal()
        }
        done.wait()
        if let error = failure.error { throw error }
    }
}

extension Serve {
    /// Fills `directory` with a synthetic store and an ALS model trained from it (once), and
    /// makes a key for this run. Returns the store, the registry and the key.
    static func prepareDemo(in directory: String, users: Int = 6_000, items: Int = 3_000, interactions: Int = 200_000) throws -> (String, String, String) {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let storePath = (directory as NSString).appendingPathComponent("tailor.db")
        let modelsPath = (directory as NSString).appendingPathComponent("models")
        let store = try StoreOptions.store(at: storePath, create: true)
        if try store.counts().events == 0 {
            Terminal.note("generating synthetic events (\(users) users, \(items) items) into \(storePath)")
            var c = SyntheticEvents.Configuration()
            c.log.users = users; c.log.items = items; c.log.interactions = interactions; c.log.seed = 7
            let generated = SyntheticEvents.generate(c)
            var counts = IngestCounts()
            try store.append(generated.events, batchSize: 50_000, into: &counts)
            try store.upsert(items: (0..<generated.base.interactions.itemIDs.count).map { i in
                CatalogItem(id: generated.base.interactions.itemIDs[Int32(i)], title: generated.base.titles[i],
                            categories: [generated.base.genreNames[generated.base.itemGenres[i]]])
            })
        }
        let versions = try ModelVersions(root: modelsPath)
        if try versions.list().isEmpty {
            Terminal.note("training ALS from the store as version v1")
            var recipe = DatasetRecipe(source: .store(storePath))
            recipe.cleaning.referenceTime = 1_800_000_000  // the synthetic year is 2024
            let outcome = try TrainingRun(data: recipe, model: "als", configuration: .object(["factors": .number(64)]))
                .train(openStore: { _ in store })
            try outcome.bundle.save(to: URL(fileURLWithPath: versions.path(of: "v1")))
            try versions.setActive("v1")
        }
        let key = try KeyRing(store: store).create(name: "demo", scopes: [.read, .write, .admin]).key
        return (storePath, modelsPath, key)
    }

    /// curl commands for the demo, with its key, a real user and a real item.
    static func printDemoCommands(key: String, port: Int, model: ServingModel?) {
        let user = model?.bundle.userIDs.ids.first ?? "u1", item = model?.bundle.itemIDs.ids.first ?? "i1"
        let base = "http://127.0.0.1:\(port)"
        FileHandle.standardOutput.write(Data("""
            Try it (the key has every scope; it is stored hashed and shown only now):
              K=\(key)
              curl -s -H "Authorization: Bearer $K" '\(base)/v1/users/\(user)/recommendations?k=5'
              curl -s -H "Authorization: Bearer $K" -X POST \(base)/v1/events -d '{"events":[{"user":"\(user)","item":"\(item)","type":"purchase"}]}'
              curl -s -H "Authorization: Bearer $K" '\(base)/v1/users/\(user)/recommendations?k=5'
              curl -s -H "Authorization: Bearer $K" '\(base)/v1/items/\(item)/similar?k=5'
              curl -s -H "Authorization: Bearer $K" -X POST \(base)/v1/recommendations -d '{"items":["\(item)"],"k":5}'
              curl -s -H "Authorization: Bearer $K" \(base)/metrics

            """.utf8))
    }

    /// `90s`, `30m`, `6h`, `1d` (or plain seconds) as a duration.
    static func duration(_ text: String) throws -> Duration {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
        var number = Substring(text), scale = 1.0
        if let last = text.last, let unit = units[last] { number = text.dropLast(); scale = unit }
        guard let value = Double(number), value > 0, value.isFinite else {
            throw ValidationError("'\(text)' is not a duration such as 90s, 30m, 6h or 1d")
        }
        return .milliseconds(Int64(value * scale * 1000))
    }
}

/// The error the server stopped with, handed from its task to the command.
final class ServeOutcome: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: (any Error)?
    func set(_ e: any Error) { lock.lock(); stored = e; lock.unlock() }
    var error: (any Error)? { lock.lock(); defer { lock.unlock() }; return stored }
}

struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, list and revoke the server's API keys.",
        discussion: """
        Keys are stored in the store as SHA-256 hashes; a new key is printed once and cannot be
        shown again. Scopes: read (recommendations, similar, embeddings, catalogue reads), write
        (events, catalogue and profile writes), admin (models, /metrics; may do everything).
        A running server sees new and revoked keys within two seconds.
          tailor keys create --store tailor.db --name web --scopes read,write
          tailor keys list --store tailor.db
          tailor keys revoke --store tailor.db 3f9a1c0b2d4e
        """,
        subcommands: [Create.self, List.self, Revoke.self]
    )

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a key and print it (once).")
        @Option(help: ArgumentHelp("The store.", valueName: "FILE.db|URL")) var store: String
        @Option(help: "What the key is for.") var name = "default"
        @Option(help: "Comma-separated scopes: read, write, admin.") var scopes = "read"

        func parsedScopes() throws -> [Scope] {
            let parts = scopes.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard !parts.isEmpty else { throw ValidationError("--scopes needs at least one of read, write, admin") }
            return try parts.map { p in
                guard let s = Scope(rawValue: p) else { throw ValidationError("--scopes: unknown scope '\(p)' (read, write or admin)") }
                return s
            }
        }

        func validate() throws { _ = try parsedScopes() }

        func run() throws {
            let ring = KeyRing(store: try StoreOptions.store(at: store, create: true))
            let (key, record) = try ring.create(name: name, scopes: try parsedScopes())
            print(key)
            Terminal.note("key \(record.id) ('\(name)', scopes \(record.scopes.joined(separator: ","))) stored in \(store); keep it secret, it is not shown again")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys (ids, names, scopes; never the keys).")
        @Option(help: ArgumentHelp("The store.", valueName: "FILE.db|URL")) var store: String

        func run() throws {
            print("id,name,scopes,created,revoked")
            for k in try StoreOptions.store(at: store, create: false).apiKeys() {
                print("\(k.id),\(k.name),\(k.scopes.joined(separator: " ")),\(k.created),\(k.revoked ?? "")")
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key by id.")
        @Option(help: ArgumentHelp("The store.", valueName: "FILE.db|URL")) var store: String
        @Argument(help: "The key's id (the 12 characters after tlr_).") var id: String

        func run() throws {
            guard try StoreOptions.store(at: store, create: false).revokeAPIKey(id: id) else {
                throw ValidationError("no active key '\(id)' in \(store) (see `tailor keys list --store \(store)`)")
            }
            Terminal.note("revoked \(id)")
        }
    }
}
