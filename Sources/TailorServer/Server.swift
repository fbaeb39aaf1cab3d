import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import TailorDashboard
import TailorData
import TailorModels
import TailorStore

/// How the server listens and what it accepts.
public struct ServerConfiguration: Sendable {
    /// Address to bind (loopback by default: put a TLS reverse proxy in front for a network).
    public var host = "127.0.0.1"
    /// Port (0: any free port).
    public var port = 8080
    /// Largest request body.
    public var maxBodyBytes = 8 << 20
    /// Most events in one `POST /v1/events`.
    public var maxEventsPerRequest = 10_000
    /// Requests per second per key on average (0: unlimited), and the burst allowed.
    public var rateLimit: Double = 0
    public var rateBurst: Double = 100
    /// Seconds a connection may stay idle before it is closed.
    public var idleTimeoutSeconds: Int64 = 60
    /// Seconds a request may take, from its head to its response (0: no limit). Past it the
    /// work is cancelled at its next cancellation point (reading the body, between the
    /// pipeline's stages) and the reply is 503 `timeout`; work that finishes anyway (a store
    /// write under way) is answered normally.
    public var requestTimeoutSeconds: Double = 10
    /// Seconds a rendered dashboard is served again before it is rendered anew (it reads the
    /// whole store and ranks for every model version); a model activation or `?refresh=true`
    /// renders at once. 0: render on every request.
    public var dashboardMaxAgeSeconds: Double = 60
    /// On a store shared by several servers (PostgreSQL): how often new events are read even
    /// without a notification.
    public var followInterval: Duration = .seconds(1)
    /// The serving engine's limits.
    public var service = RecommendationService.Options()
    /// When to retrain in the background (default: only on `POST /v1/admin/retrain`).
    public var retrain = Retrainer.Policy()

    /// The defaults.
    public init() {}
}

/// Tailor's HTTP server: the `/v1` API over a ``RecommendationService``, API keys, Prometheus
/// metrics, health and readiness, and model versions with hot swap.
public final class TailorServer: Sendable {
    /// The serving engine.
    public let service: RecommendationService
    /// API keys.
    public let keys: KeyRing
    /// The model registry directory (nil when serving a single model directory).
    public let versions: ModelVersions?
    /// Request counts and latencies.
    public let metrics: ServerMetrics
    /// Background retraining.
    public let retrainer: Retrainer
    /// Online experiments (A/B tests) from the store.
    public let experiments: ExperimentBook
    /// Exposures served under experiments, written to the store in batches.
    public let exposureLog: ExposureLog
    /// Follows the other servers on a shared store (started with the application when the
    /// store announces changes).
    public let follower: StoreFollower
    /// This process among the servers of a shared store (host, process id, a random part).
    public let replicaID: String = {
        var name = [CChar](repeating: 0, count: 256)
        let host = gethostname(&name, name.count) == 0 ? String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "host"
        return "\(host)-\(getpid())-\(UUID().uuidString.prefix(8).lowercased())"
    }()
    public let configuration: ServerConfiguration
    let logger: Logger
    let limiter: RateLimiter
    /// Serializes activations (loading a model takes a while; two at once would race).
    let activation = Mutex(false)
    /// The last dashboard page, when it was rendered, and the model versions it showed.
    let dashboardPage = Mutex<(html: String, rendered: ContinuousClock.Instant, models: String)?>(nil)

    /// A server over `store`, serving the model directory `model`, or the active (else newest)
    /// version of the registry `versions`.
    ///
    /// - Throws: ``StoreError`` for the store, ``ModelError`` for a model that does not load.
    public init(store: any EventStore, model: String? = nil, versions: ModelVersions? = nil,
                configuration: ServerConfiguration = .init(), logger: Logger = Logger(label: "tailor.server")) throws {
        var serving: ServingModel?
        if let model {
            serving = try ServingModel(path: model, version: URL(fileURLWithPath: model).lastPathComponent, ann: configuration.service.ann)
        } else if let versions, let name = try TailorServer.startingVersion(versions, store: store, logger: logger) {
            serving = try ServingModel(path: versions.path(of: name), version: name, ann: configuration.service.ann)
            if versions.active != name { try versions.setActive(name) }
        }
        self.service = try RecommendationService(store: store, model: serving, options: configuration.service)
        self.keys = KeyRing(store: store)
        self.versions = versions
        self.metrics = ServerMetrics()
        self.retrainer = Retrainer(policy: configuration.retrain)
        self.experiments = ExperimentBook(store: store)
        self.exposureLog = ExposureLog(store: store, logger: logger)
        self.follower = StoreFollower(interval: configuration.followInterval)
        self.configuration = configuration
        self.logger = logger
        self.limiter = RateLimiter(rate: configuration.rateLimit, burst: configuration.rateBurst)
        if let serving {
            logger.info("serving model", metadata: ["version": "\(serving.version)", "kind": "\(serving.kind)",
                                                    "users": "\(serving.bundle.userIDs.count)", "items": "\(serving.bundle.itemIDs.count)"])
            metrics.modelActivated(serving.version)
        }
        if let ranker = configuration.service.ranker {
            logger.info("re-ranking with", metadata: ["ranker": "\(ranker.name)", "kind": "\(ranker.bundle.manifest.kind)", "shortlist": "\(ranker.shortlist)"])
        }
    }

    /// The router with every endpoint and the metrics middleware.
    public func makeRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: MetricsMiddleware(metrics: metrics))
        for endpoint in TailorServer.endpoints {
            router.on(RouterPath(endpoint.path), method: endpoint.method) { [self] request, context -> Response in
                if let scope = endpoint.scope { try self.authorize(request, scope: scope) }
                do {
                    // Requests with a body race a timer (a stalled upload is cut off); the others
                    // only carry the deadline, which the ranking checks between its stages.
                    let race = endpoint.method == .post || endpoint.method == .put
                    return try await Deadline.run(seconds: self.configuration.requestTimeoutSeconds, race: race) {
                        try await endpoint.handle(self, request, context)
                    }
                } catch is Deadline.Expired {
                    self.metrics.timedOut()
                    throw Problem(.serviceUnavailable, code: "timeout",
                                  detail: "the request took longer than the server's limit of \(self.configuration.requestTimeoutSeconds) s and was stopped; retry, or ask for less (a smaller k or batch)",
                                  retryAfter: 1)
                } catch let error as RequestError {
                    throw Problem(error)
                } catch let error as StoreError {
                    self.logger.error("store error", metadata: ["reason": "\(error.reason)"])
                    throw Problem(.serviceUnavailable, code: "store", detail: "the store failed: \(error.reason)")
                }
            }
        }
        return router
    }

    /// The application, bound as configured.
    public func makeApplication(onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }) -> some ApplicationProtocol {
        let triggers = configuration.retrain.every != nil || configuration.retrain.afterEvents != nil || !configuration.retrain.drift.isEmpty
        return Application(router: makeRouter(),
                           server: .http1(configuration: .init(idleTimeout: .seconds(configuration.idleTimeoutSeconds))),
                           configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "tailor"),
                           services: [ExposureWriter(log: exposureLog, interval: .milliseconds(250))]
                               + (triggers ? [RetrainTrigger(server: self)] : [])
                               + (service.store is any ChangeNotifyingStore ? [FollowerService(server: self)] : []),
                           onServerRunning: onServerRunning, logger: logger)
    }

    /// Runs until SIGTERM or SIGINT, then stops accepting connections and lets in-flight
    /// requests finish (ServiceLifecycle's graceful shutdown).
    public func run(onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }) async throws {
        try await makeApplication(onServerRunning: onServerRunning).runService()
    }

    // MARK: Dashboard

    /// The dashboard page: the store's data, the model versions, segments, drift, experiments,
    /// and this server's request latencies.
    ///
    /// A page rendered less than `dashboardMaxAgeSeconds` ago for the same model versions (and
    /// the same active one) is served again, unless `refresh`.
    func dashboard(refresh: Bool = false) throws -> String {
        var models: [(name: String, path: String)] = []
        if let versions {
            models = try versions.list().sorted { ($0.created, $0.name) < ($1.created, $1.name) }.map { ($0.name, versions.path(of: $0.name)) }
        } else if let model = service.model, !model.path.isEmpty {
            models = [(model.version, model.path)]
        }
        let key = models.map(\.name).joined(separator: ",") + "|" + (service.model?.version ?? "")
        let maxAge = Duration.milliseconds(Int64(configuration.dashboardMaxAgeSeconds * 1000))
        if !refresh, let page = dashboardPage.withLock({ $0 }), page.models == key, ContinuousClock.now - page.rendered < maxAge {
            return page.html
        }
        do { try exposureLog.flush() } catch { logger.error("cannot write exposures before the dashboard", metadata: ["reason": "\(error)"]) }
        let serving = metrics.latencies().map { Dashboard.RouteLatency(route: $0.route, requests: $0.requests, p50Milliseconds: $0.p50, p99Milliseconds: $0.p99) }
        let html = try Dashboard.render(Dashboard.Input(store: service.store, models: models, active: service.model?.version, serving: serving))
        dashboardPage.withLock { $0 = (html, .now, key) }
        return html
    }

    // MARK: Keys

    /// Checks the request's key has `scope` (admin keys may do everything), and its rate.
    func authorize(_ request: Request, scope: Scope) throws {
        var presented = request.headers[.authorization].flatMap { value -> String? in
            let parts = value.split(separator: " ", maxSplits: 1)
            return parts.count == 2 && parts[0].lowercased() == "bearer" ? String(parts[1]).trimmingCharacters(in: .whitespaces) : nil
        }
        if presented == nil { presented = request.headers.first { $0.name.canonicalName == "x-api-key" }?.value }
        // HTTP Basic with the key as the password (any user name), so a browser can open the
        // dashboard: it asks for them when the 401 carries `WWW-Authenticate: Basic`.
        if presented == nil, let value = request.headers[.authorization], value.lowercased().hasPrefix("basic "),
           let decoded = Data(base64Encoded: String(value.dropFirst(6)).trimmingCharacters(in: .whitespaces)).map({ String(decoding: $0, as: UTF8.self) }),
           let colon = decoded.firstIndex(of: ":") {
            presented = String(decoded[decoded.index(after: colon)...])
        }
        guard let presented, !presented.isEmpty else {
            throw Problem(.unauthorized, code: "missing-key", detail: "this endpoint needs an API key: send 'Authorization: Bearer KEY' (create one with `tailor keys create --scopes \(scope.rawValue)`)")
        }
        guard let record = try keys.authenticate(presented) else {
            logger.notice("refused an unknown or revoked API key")
            throw Problem(.unauthorized, code: "invalid-key", detail: "the API key is unknown or revoked")
        }
        guard record.scopes.contains(scope.rawValue) || record.scopes.contains(Scope.admin.rawValue) else {
            throw Problem(.forbidden, code: "missing-scope", detail: "the key '\(record.id)' lacks the '\(scope.rawValue)' scope (it has: \(record.scopes.joined(separator: ", ")))")
        }
        if let wait = limiter.take(record.id) {
            throw Problem(.tooManyRequests, code: "rate-limited", detail: "the key '\(record.id)' is over its rate of \(configuration.rateLimit) requests per second",
                          retryAfter: max(1, Int(wait.rounded(.up))))
        }
    }

    // MARK: Models

    /// The version to serve at start: on a shared store the one it records as active (what the
    /// other servers serve) when this registry has it, else the registry's `ACTIVE`, else its
    /// newest.
    static func startingVersion(_ versions: ModelVersions, store: any EventStore, logger: Logger) throws -> String? {
        if let shared = store as? any ChangeNotifyingStore {
            do {
                if let name = try shared.activeModel() {
                    if FileManager.default.fileExists(atPath: (versions.path(of: name) as NSString).appendingPathComponent("manifest.json")) { return name }
                    logger.error("the other servers serve a version this registry lacks; serving this registry's instead",
                                 metadata: ["version": "\(name)", "registry": "\(versions.root)"])
                }
            } catch {
                logger.warning("cannot read the store's active model", metadata: ["reason": "\(error)"])
            }
        }
        return try versions.active ?? versions.newest()
    }

    /// Loads version `name` of the registry and serves it; the old model keeps serving if it
    /// fails to load.
    ///
    /// - Throws: ``RequestError`` for an unknown version, ``Problem`` for one that fails to load.
    ///
    /// On a store shared by several servers the activation is recorded in the store and
    /// announced (`announce`), and each of the others activates the same version from its own
    /// registry directory: at once on the notification, or at its next follower pass (within
    /// its follow interval) if it missed it or started later.
    public func activate(version name: String, announce: Bool = true) throws -> ServingModel {
        guard let versions else { throw RequestError(.unsupported, "the server serves a single model directory; start it with --models DIR to switch versions") }
        let path = versions.path(of: name)
        guard name != "ACTIVE", !name.contains("/"), FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("manifest.json")) else {
            throw RequestError(.notFound, field: "version", "no model version '\(name)' in \(versions.root)")
        }
        let busy = activation.withLock { b -> Bool in if b { return true }; b = true; return false }
        guard !busy else { throw RequestError(.conflict, "another activation is in progress; try again when it finishes") }
        defer { activation.withLock { $0 = false } }
        let model: ServingModel
        do {
            model = try ServingModel(path: path, version: name, ann: configuration.service.ann)
        } catch {
            logger.error("refused model version", metadata: ["version": "\(name)", "reason": "\(error)"])
            throw Problem(.unprocessableContent, code: "model-refused", detail: "version '\(name)' was refused, the current model keeps serving: \(error)")
        }
        // A shared store records the version first: if it cannot, nothing changes anywhere
        // (rather than this server alone serving a version the others never hear of). Every
        // live server must hold the version, or none switches.
        if announce, let shared = service.store as? any ChangeNotifyingStore {
            let recent = max(5, 3 * follower.seconds)
            let lacking: [ReplicaState]
            do {
                lacking = try shared.replicas(seenWithin: recent).filter { $0.id != replicaID && !$0.versions.contains(name) }
            } catch {
                throw Problem(.serviceUnavailable, code: "store", detail: "the other servers' registries could not be read, the current model keeps serving: \(error)")
            }
            guard lacking.isEmpty else {
                throw Problem(.conflict, code: "replicas-lack-version",
                              detail: "version '\(name)' is missing from the registry of \(lacking.count) of the servers on this store (\(lacking.map(\.id).joined(separator: ", "))); nothing was switched. Copy it to their --models directories (or share one) and activate again")
            }
            do { try shared.recordActiveModel(name) } catch {
                logger.error("cannot record the activation in the shared store", metadata: ["version": "\(name)", "reason": "\(error)"])
                throw Problem(.serviceUnavailable, code: "store", detail: "version '\(name)' could not be recorded in the shared store, the current model keeps serving: \(error)")
            }
        }
        do {
            try service.activate(model)
        } catch let error as StoreError {
            throw Problem(.serviceUnavailable, code: "store", detail: "version '\(name)' could not read the store's recent events: \(error.reason)")
        }
        try versions.setActive(name)
        metrics.modelActivated(name)
        retrainer.modelActivated()
        logger.info("activated model", metadata: ["version": "\(name)", "kind": "\(model.kind)"])
        return model
    }
}

/// One endpoint: method, OpenAPI-style path, the scope it needs (`nil`: open), its handler.
struct Endpoint: Sendable {
    let method: HTTPRequest.Method
    let path: String
    let scope: Scope?
    let handle: @Sendable (TailorServer, Request, BasicRequestContext) async throws -> Response
}

/// A time limit on a request's work.
///
/// The deadline is a task-local value that synchronous work checks at its stage boundaries
/// (``check()``: one clock read). Work that awaits (reading a body) also races a timer in a task
/// group (`race`): when the timer wins, the work is cancelled and awaited (it stops at its next
/// cancellation point). Work that completes anyway, or fails for its own reasons (a
/// ``RequestError`` or ``Problem``), keeps its outcome; otherwise ``Expired`` is thrown. The
/// race costs a task group per request (measured: a quarter of the throughput of cache hits),
/// so only requests with a body run it.
enum Deadline {
    /// The limit passed before the work finished.
    struct Expired: Error {}

    /// When the current request's time runs out (nil: no limit).
    @TaskLocal static var current: ContinuousClock.Instant?

    /// Throws ``Expired`` once the current request's deadline has passed, and
    /// `CancellationError` once its task is cancelled (the race's timer won).
    static func check() throws {
        if Task.isCancelled { throw CancellationError() }
        if let deadline = current, ContinuousClock.now >= deadline { throw Expired() }
    }

    static func run<T: Sendable>(seconds: Double, race: Bool = true, _ work: @escaping @Sendable () async throws -> T) async throws -> T {
        guard seconds > 0 && seconds.isFinite else { return try await work() }
        let deadline = ContinuousClock.now + .seconds(seconds)
        guard race else { return try await $current.withValue(deadline) { try await work() } }
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await $current.withValue(deadline) { try await work() } }
            group.addTask {
                try await Task.sleep(for: .seconds(seconds))
                return nil
            }
            if let value = try await group.next()! {
                group.cancelAll()
                return value
            }
            group.cancelAll()
            do {
                if let value = try await group.next()! { return value }
            } catch let error as RequestError {
                throw error
            } catch let error as Problem {
                throw error
            } catch {}
            throw Expired()
        }
    }
}
