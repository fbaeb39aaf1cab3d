import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import TailorData
import TailorExperiments
import TailorLinalg
import TailorStore

/// The experiments of the store, re-read at most every `refreshInterval` (so `tailor experiment
/// create` and `stop` reach a running server within it), and the model versions their variants
/// serve, loaded once each.
public final class ExperimentBook: Sendable {
    let store: any EventStore
    let refreshInterval: Duration
    struct Cache { var running: [Experiment] = []; var loaded: ContinuousClock.Instant? }
    let cache = Mutex(Cache())
    let models = Mutex([String: ServingModel]())

    init(store: any EventStore, refreshInterval: Duration = .seconds(2)) {
        self.store = store
        self.refreshInterval = refreshInterval
    }

    /// The running experiments, earliest started first.
    public func running() throws -> [Experiment] {
        let now = ContinuousClock.now
        if let cached = cache.withLock({ c -> [Experiment]? in
            guard let loaded = c.loaded, now - loaded < refreshInterval else { return nil }
            return c.running
        }) { return cached }
        let running = try Experiment.all(in: store).filter { $0.status == .running }.sorted { ($0.started, $0.name) < ($1.started, $1.name) }
        cache.withLock { $0 = Cache(running: running, loaded: now) }
        return running
    }

    /// The running experiments `user` is in (at most one per layer) and their variants.
    public func assignments(of user: String) throws -> [(experiment: Experiment, variant: Experiment.Variant)] {
        let running = try running()
        return running.isEmpty ? [] : Experiment.assignments(of: user, among: running)
    }

    /// Forgets the cached experiments (after a change made through this process).
    func invalidate() { cache.withLock { $0.loaded = nil } }

    /// The loaded model of `version` from `versions`, loading it the first time.
    func model(_ version: String, versions: ModelVersions, ann: HNSWIndex.Configuration?) throws -> ServingModel {
        if let loaded = models.withLock({ $0[version] }) { return loaded }
        let model = try ServingModel(path: versions.path(of: version), version: version, ann: ann)
        models.withLock { $0[version] = model }
        return model
    }
}

/// Exposures waiting to be written: the request that served them only queues them (a store
/// write per request would put a transaction on every response's path), and the server writes
/// them in batches (``ExposureWriter``: every `interval`, and at shutdown), before each report
/// it serves, and whenever `flush()` is called.
///
/// Nothing is dropped silently: a failed write keeps the batch for the next try, and only past
/// `capacity` waiting exposures are the oldest dropped, counted in `dropped` and logged.
public final class ExposureLog: Sendable {
    let write: @Sendable ([Event]) throws -> Void
    let capacity: Int
    let logger: Logger
    struct State { var pending: [Event] = []; var dropped = 0; var written = 0 }
    let state = Mutex(State())
    /// Serializes writers, so batches reach the store in the order they were queued.
    let writing = Mutex(())

    /// A log writing to `store`.
    convenience init(store: any EventStore, capacity: Int = 200_000, logger: Logger) {
        self.init(capacity: capacity, logger: logger) { _ = try store.append($0) }
    }

    /// A log writing batches with `write`.
    init(capacity: Int, logger: Logger, write: @escaping @Sendable ([Event]) throws -> Void) {
        self.write = write
        self.capacity = capacity
        self.logger = logger
    }

    /// Queues `events`.
    func add(_ events: [Event]) {
        guard !events.isEmpty else { return }
        let dropped = state.withLock { s -> Int in
            s.pending += events
            let over = s.pending.count - capacity
            guard over > 0 else { return 0 }
            s.pending.removeFirst(over)
            s.dropped += over
            return over
        }
        if dropped > 0 {
            logger.error("exposure queue full: the store is not taking writes; dropped the oldest", metadata: ["dropped": "\(dropped)", "capacity": "\(capacity)"])
        }
    }

    /// Exposures queued and not yet written, dropped (queue full) and written so far.
    public var counts: (pending: Int, dropped: Int, written: Int) { state.withLock { ($0.pending.count, $0.dropped, $0.written) } }

    /// Writes every queued exposure; returns how many.
    ///
    /// - Throws: the store's error if it refuses them; they stay queued (ahead of newer ones).
    @discardableResult
    public func flush() throws -> Int {
        try writing.withLock { _ in
            let batch = state.withLock { s -> [Event] in defer { s.pending = [] }; return s.pending }
            guard !batch.isEmpty else { return 0 }
            do {
                try write(batch)
            } catch {
                state.withLock { s in
                    s.pending = batch + s.pending
                    let over = s.pending.count - capacity
                    if over > 0 { s.pending.removeFirst(over); s.dropped += over }
                }
                throw error
            }
            state.withLock { $0.written += batch.count }
            return batch.count
        }
    }
}

/// Writes the queued exposures every `interval`, and once more at shutdown.
struct ExposureWriter: Service {
    let log: ExposureLog
    let interval: Duration

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while true {
                try await Task.sleep(for: interval)
                do { try log.flush() } catch {
                    log.logger.error("cannot write exposures; kept for the next try", metadata: ["reason": "\(error)", "pending": "\(log.counts.pending)"])
                }
            }
        }
        do { try log.flush() } catch {
            log.logger.error("exposures not written at shutdown", metadata: ["reason": "\(error)", "lost": "\(log.counts.pending)"])
        }
    }
}

extension RecommendationRequest {
    /// Applies a variant's request options (checked when the experiment was made).
    mutating func apply(_ options: [String: String]) {
        if let d = options["diversity"].flatMap(Double.init) { diversity = d }
        if let r = options["rerank"] { rerank = r == "true" }
        if let e = options["exclude_seen"] { excludeSeen = e == "true" }
    }
}

extension TailorServer {
    /// Recommendations for `request` under the running experiments the user is in (one per
    /// layer): each variant's options and model version; an interleaving experiment merges its
    /// two variants' lists by team draft. What was shown is queued as exposures tagged with the
    /// experiment and variant (the drafting team, and the list, when interleaved).
    func recommendInExperiment(_ request: RecommendationRequest) throws -> RecommendationResult {
        guard let user = request.user else { return try service.recommend(request) }
        let active = try experiments.assignments(of: user)
        guard !active.isEmpty else { return try service.recommend(request) }
        var r = request
        var override: ServingModel?
        var interleaved: Experiment?
        for (experiment, variant) in active {
            if experiment.kind == .interleave {
                if interleaved == nil { interleaved = experiment }
                continue
            }
            r.apply(variant.options)
            if let version = variant.model, override == nil { override = try experimentModel(version, of: experiment) }
        }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var result: RecommendationResult
        var exposures: [Event] = []
        if let experiment = interleaved {
            let (merged, teams) = try interleave(experiment, user: user, request: r, base: override)
            result = merged
            let list = "\(user)-\(now)-\(UInt32.random(in: 0...UInt32.max))"
            exposures += zip(result.items, teams).map { experiment.exposure(user: user, item: $0.item, variant: $1, at: now, list: list) }
        } else {
            result = try service.recommend(r, model: override)
        }
        for (experiment, variant) in active where experiment.kind != .interleave {
            exposures += result.items.map { experiment.exposure(user: user, item: $0.item, variant: variant.name, at: now) }
        }
        var names: [String: String] = [:]
        for (experiment, variant) in active { names[experiment.name] = experiment.kind == .interleave ? "interleaved" : variant.name }
        result.experiment = active[0].experiment.name
        result.variant = names[active[0].experiment.name]
        result.experiments = active.count > 1 ? names : nil
        exposureLog.add(exposures)
        return result
    }

    /// The loaded model `version` an experiment's variant serves.
    func experimentModel(_ version: String, of experiment: Experiment) throws -> ServingModel? {
        if version == service.model?.version { return nil }
        guard let versions else {
            throw RequestError(.unavailable, "experiment '\(experiment.name)' serves model '\(version)' but the server serves a single model directory; start it with --models DIR")
        }
        do {
            return try experiments.model(version, versions: versions, ann: configuration.service.ann)
        } catch {
            logger.error("experiment model refused", metadata: ["experiment": "\(experiment.name)", "version": "\(version)", "reason": "\(error)"])
            throw RequestError(.unavailable, "experiment '\(experiment.name)' serves model version '\(version)', which does not load: \(error)")
        }
    }

    /// Team-draft interleaving of `experiment`'s two variants for `user`: both lists ranked to
    /// `offset + k`, merged, and the requested page cut from the merge. The draft's coins come
    /// from a hash of the salt and the user, so a user's pages agree with each other.
    func interleave(_ experiment: Experiment, user: String, request: RecommendationRequest, base: ServingModel?) throws -> (RecommendationResult, [String]) {
        var lists: [RecommendationResult] = []
        for variant in experiment.variants {
            var r = request
            r.apply(variant.options)
            r.k = request.offset + request.k
            r.offset = 0
            let model = try variant.model.flatMap { try experimentModel($0, of: experiment) } ?? base
            lists.append(try service.recommend(r, model: model))
        }
        var rng = TailorRandom(seed: UInt64(Experiment.unitHash(experiment.salt + "\u{1F}draft\u{1F}" + user) * 0x1p53))
        let merged = TeamDraft.interleave(lists[0].items.map(\.item), lists[1].items.map(\.item), k: request.offset + request.k, rng: &rng)
        let page = merged.dropFirst(request.offset)
        var ranked: [String: RankedItem] = [:]
        for list in lists.reversed() { for item in list.items { ranked[item.item] = item } }
        var result = lists[0]
        result.items = page.map { ranked[$0.item]! }
        result.cached = lists.allSatisfy(\.cached)
        if lists[1].model != lists[0].model { result.model = lists[0].model + "+" + lists[1].model }
        return (result, page.map { $0.team == .a ? experiment.variants[0].name : experiment.variants[1].name })
    }
}
