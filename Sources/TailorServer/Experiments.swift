import Foundation
import Synchronization
import TailorExperiments
import TailorLinalg
import TailorStore

/// The experiments of the store, re-read at most every `refreshInterval` (so `tailor experiment
/// create` and `stop` reach a running server within it), and the model versions their variants
/// serve, loaded once each.
public final class ExperimentBook: Sendable {
    let store: any EventStore
    let refreshInterval: Duration
    struct Cache { var running: Experiment?; var loaded: ContinuousClock.Instant? }
    let cache = Mutex(Cache())
    let models = Mutex([String: ServingModel]())

    init(store: any EventStore, refreshInterval: Duration = .seconds(2)) {
        self.store = store
        self.refreshInterval = refreshInterval
    }

    /// The running experiment (the earliest started, if several run), or nil.
    public func running() throws -> Experiment? {
        let now = ContinuousClock.now
        if let cached = cache.withLock({ c -> Experiment?? in
            guard let loaded = c.loaded, now - loaded < refreshInterval else { return nil }
            return .some(c.running)
        }) { return cached }
        let running = try Experiment.all(in: store).filter { $0.status == .running }.min { $0.started < $1.started }
        cache.withLock { $0 = Cache(running: running, loaded: now) }
        return running
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

extension RecommendationRequest {
    /// Applies a variant's request options (checked when the experiment was made).
    mutating func apply(_ options: [String: String]) {
        if let d = options["diversity"].flatMap(Double.init) { diversity = d }
        if let r = options["rerank"] { rerank = r == "true" }
        if let e = options["exclude_seen"] { excludeSeen = e == "true" }
    }
}

extension TailorServer {
    /// Recommendations for `request` under the running experiment, if the user is in one: the
    /// variant's options and model version, its exposures written to the store tagged with the
    /// experiment and variant (for the report's attribution).
    func recommendInExperiment(_ request: RecommendationRequest) throws -> RecommendationResult {
        guard let user = request.user, let experiment = try experiments.running() else { return try service.recommend(request) }
        let variant = experiment.variant(for: user)
        var r = request
        r.apply(variant.options)
        var override: ServingModel?
        if let version = variant.model, version != service.model?.version {
            guard let versions else {
                throw RequestError(.unavailable, "experiment '\(experiment.name)' serves model '\(version)' but the server serves a single model directory; start it with --models DIR")
            }
            do {
                override = try experiments.model(version, versions: versions, ann: configuration.service.ann)
            } catch {
                logger.error("experiment model refused", metadata: ["experiment": "\(experiment.name)", "version": "\(version)", "reason": "\(error)"])
                throw RequestError(.unavailable, "experiment '\(experiment.name)' serves model version '\(version)', which does not load: \(error)")
            }
        }
        var result = try service.recommend(r, model: override)
        result.experiment = experiment.name
        result.variant = variant.name
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        _ = try service.store.append(result.items.map { experiment.exposure(user: user, item: $0.item, variant: variant.name, at: now) })
        return result
    }
}
