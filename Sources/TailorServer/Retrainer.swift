import Foundation
import TailorExperiments
import Logging
import Synchronization
import TailorData
import TailorEval
import TailorLinalg
import TailorModels
import TailorStore

/// Retraining in the background: the active model's recipe and configuration, re-run on the
/// store's events now, gated by an offline comparison with the active model, then written to the
/// registry as a new version and activated (or kept aside with the reason).
///
/// The gate: the recipe's holdout (the latest 10 % of each user's interactions by time when the
/// recipe has none) is held out; the candidate is fitted on the rest, and it and the active model
/// both rank for the held-out interactions whose user and item both know, each excluding that
/// user's training interactions of the new split. The candidate passes if its NDCG@10 is at least
/// `(1 − tolerance)` times the active model's. (The active model may have trained on some of
/// the held-out interactions, which favours it: the gate errs towards keeping the old model.)
/// A passing candidate is fitted again on every interaction and that model is activated.
public final class Retrainer: Sendable {
    /// When to retrain and how strict the gate is.
    public struct Policy: Sendable {
        /// Retrain this often (nil: not on a schedule).
        public var every: Duration?
        /// Retrain once this many events arrived since the last run (nil: not by count).
        public var afterEvents: Int?
        /// Relative NDCG@10 drop allowed (0.01: the candidate may be 1 % worse).
        public var tolerance = 0.01
        /// Worker threads for fitting (the rest of the machine keeps serving).
        public var threads = 1
        /// Raise a drift alert (and retrain, with a registry) when the latest `driftWindow`
        /// crosses any of these against the window before (none set: no drift checks).
        public var drift = DriftThresholds()
        public var driftWindow: Duration = .seconds(86_400)
        /// How often drift is measured (it reads the store's events).
        public var driftEvery: Duration = .seconds(600)
        /// The defaults: only on request (`POST /v1/admin/retrain`).
        public init() {}
    }

    /// A run's state, as `GET /v1/admin/retrain` reports it.
    public struct Status: Sendable, Codable, Equatable {
        /// `idle`, `running`, `activated`, `rejected`, `skipped` (another server on the shared
        /// store was retraining) or `failed`.
        public var state: String
        /// What started it: `request`, `schedule`, `events` or `drift`.
        public var trigger: String?
        public var started: String?
        public var finished: String?
        /// What it is doing or what happened.
        public var message: String?
        /// The version written (activated or not).
        public var version: String?
        /// NDCG@10 of the candidate and the active model on the same held-out interactions.
        public var candidateNDCG: Double?
        public var activeNDCG: Double?
    }

    let policy: Policy
    let status = Mutex(Status(state: "idle"))
    let eventsSince = Mutex(0)
    let lastRun = Mutex(ContinuousClock.now)
    /// The latest drift measure, whether it crossed the threshold, and when it was taken.
    public struct DriftCheck: Sendable, Codable {
        public var drift: DataDrift?
        /// The active model on the latest window (rolling NDCG@10) and its user vectors' clustering.
        public var quality: EmbeddingQuality?
        public var thresholds: DriftThresholds
        /// The active model's first rolling NDCG@10 (what `ndcgDrop` compares with).
        public var baselineNDCG: Double?
        public var alert: Bool
        /// The thresholds crossed.
        public var reasons: [String] = []
        public var measured: String?
        public var message: String?
    }
    let driftCheck: Mutex<DriftCheck>
    /// The active version and its first rolling NDCG@10.
    let ndcgBaseline = Mutex<(version: String, ndcg: Double)?>(nil)
    let lastDriftCheck = Mutex<ContinuousClock.Instant?>(nil)

    init(policy: Policy) {
        self.policy = policy
        driftCheck = Mutex(DriftCheck(drift: nil, quality: nil, thresholds: policy.drift, alert: false))
    }

    /// The current or last run.
    public var current: Status { status.withLock { $0 } }

    /// Restarts the schedule and event count: a version was just activated (here, or by
    /// another server on a shared store), so the next scheduled run is a full interval away.
    func modelActivated() {
        eventsSince.withLock { $0 = 0 }
        lastRun.withLock { $0 = .now }
    }

    /// Counts events towards the `afterEvents` trigger.
    func eventsRecorded(_ n: Int) { eventsSince.withLock { $0 += n } }

    /// Starts a run on a background thread unless one is running; returns whether it started.
    @discardableResult
    public func start(trigger: String, server: TailorServer) -> Bool {
        let started = status.withLock { s -> Bool in
            if s.state == "running" { return false }
            s = Status(state: "running", trigger: trigger, started: ISO8601DateFormatter().string(from: Date()), message: "preparing the data")
            return true
        }
        guard started else { return false }
        eventsSince.withLock { $0 = 0 }
        lastRun.withLock { $0 = .now }
        Thread.detachNewThread { [self] in
            do {
                try run(server)
            } catch {
                finish(state: "failed", message: "\(error)")
                server.logger.error("retraining failed", metadata: ["reason": "\(error)"])
            }
        }
        return true
    }

    /// Whether a trigger is due (called by the server's timer). A drift alert retrains at
    /// most once per drift window.
    func due() -> String? {
        if let n = policy.afterEvents, eventsSince.withLock({ $0 }) >= n { return "events" }
        if let every = policy.every, ContinuousClock.now - lastRun.withLock({ $0 }) >= every { return "schedule" }
        if !policy.drift.isEmpty, driftCheck.withLock({ $0.alert }), ContinuousClock.now - lastRun.withLock({ $0 }) >= policy.driftWindow { return "drift" }
        return nil
    }

    /// The latest drift check.
    public var latestDrift: DriftCheck { driftCheck.withLock { $0 } }

    /// Measures drift if it is time (or `force`): the latest window against the one before,
    /// and the active model on the latest window; records them in the metrics and raises the
    /// alert when a threshold is crossed.
    func checkDrift(_ server: TailorServer, force: Bool = false) {
        let thresholds = policy.drift
        guard !thresholds.isEmpty || force else { return }
        let now = ContinuousClock.now
        let due = lastDriftCheck.withLock { last -> Bool in
            if !force, let last, now - last < policy.driftEvery { return false }
            last = now
            return true
        }
        guard due else { return }
        let window = policy.driftWindow.components
        let ms = window.seconds * 1000 + window.attoseconds / 1_000_000_000_000_000
        let stamp = ISO8601DateFormatter().string(from: Date())
        do {
            let log = try server.service.store.loadEvents()
            let drift = try DataDrift.compare(log, window: ms)
            let since = (drift.windowEnd ?? 0) - ms + 1
            let active = server.service.model
            let quality = try active.map { try EmbeddingQuality.measure($0.bundle, log: log, since: since) }
            var baseline: Double?
            if let active, let ndcg = quality?.rollingNDCG {
                baseline = ndcgBaseline.withLock { b in
                    if b?.version != active.version { b = (active.version, ndcg) }
                    return b!.ndcg
                }
            }
            let reasons = thresholds.crossed(drift, ndcg: quality?.rollingNDCG, baseline: baseline)
            let alert = !reasons.isEmpty
            driftCheck.withLock {
                $0 = DriftCheck(drift: drift, quality: quality, thresholds: thresholds, baselineNDCG: baseline, alert: alert, reasons: reasons, measured: stamp)
            }
            server.metrics.driftMeasured(drift, alert: alert, quality: quality)
            if alert { server.logger.warning("drift alert", metadata: ["reasons": "\(reasons.joined(separator: "; "))"]) }
        } catch {
            driftCheck.withLock { $0 = DriftCheck(drift: nil, quality: nil, thresholds: thresholds, alert: false, measured: stamp, message: "\(error)") }
        }
    }

    func finish(state: String, message: String, version: String? = nil, candidate: Double? = nil, active: Double? = nil) {
        status.withLock { s in
            s.state = state
            s.message = message
            s.finished = ISO8601DateFormatter().string(from: Date())
            if let version { s.version = version }
            if let candidate { s.candidateNDCG = candidate }
            if let active { s.activeNDCG = active }
        }
    }

    func note(_ message: String) { status.withLock { $0.message = message } }

    func run(_ server: TailorServer) throws {
        guard let versions = server.versions else {
            throw RequestError(.unsupported, "retraining writes a new version: start the server with --models DIR")
        }
        guard let active = server.service.model else { throw RequestError(.unavailable, "no model is active to retrain") }
        let store = server.service.store
        // On a store several servers share, one retrains at a time; the others get its model
        // when it is activated (their followers serve the store's active version).
        var lease: (any StoreLease)?
        if let shared = store as? any ChangeNotifyingStore {
            lease = try shared.tryLease("retrain")
            guard lease != nil else {
                finish(state: "skipped", message: "another server on this store is retraining; its model reaches this one when it is activated")
                server.logger.info("retraining skipped: another server on the store is retraining")
                return
            }
        }
        defer { lease?.release() }
        let manifest = active.bundle.manifest
        var recipe = manifest.data.recipe ?? DatasetRecipe(source: .store(store.location))
        recipe.source = .store(store.location)
        if recipe.holdout == nil { recipe.holdout = .init(method: .temporalFraction(testFraction: 0.1)) }
        // Every model archives its hyperparameters under "configuration".
        guard case .object(let archived) = manifest.model, case .object(var fields)? = archived["configuration"] else {
            throw RequestError(.unsupported, "the \(manifest.kind) model's manifest has no configuration to retrain with")
        }
        if fields["threads"] != nil { fields["threads"] = .number(Double(policy.threads)) }
        let configuration = JSONValue.object(fields)
        let openStore: (String) throws -> any EventSource = { _ in store }
        // 1. The candidate on the split, and the gate.
        note("fitting the candidate on the training part of the split")
        let gated = try TrainingRun(data: recipe, model: manifest.kind, configuration: configuration, threads: policy.threads).train(openStore: openStore)
        guard let test = gated.data.test else { throw RequestError(.invalid, "the recipe's holdout left nothing to test on") }
        note("comparing with the active model")
        let (candidateNDCG, activeNDCG) = Retrainer.compare(candidate: gated.bundle, active: active.bundle, trainRaw: gated.data.trainRaw, test: test)
        let passes = candidateNDCG >= activeNDCG * (1 - policy.tolerance)
        // 2. A passing candidate is fitted on everything and activated.
        let name = "r-" + Retrainer.stamp()
        guard passes else {
            finish(state: "rejected", message: String(format: "candidate NDCG@10 %.4f is below the active model's %.4f (tolerance %.0f%%); the active model keeps serving",
                                                      candidateNDCG, activeNDCG, policy.tolerance * 100),
                   candidate: candidateNDCG, active: activeNDCG)
            server.logger.notice("retrained model rejected", metadata: ["candidate": "\(candidateNDCG)", "active": "\(activeNDCG)"])
            return
        }
        note("fitting on every interaction")
        var full = recipe
        full.holdout = nil
        let final = try TrainingRun(data: full, model: manifest.kind, configuration: configuration, threads: policy.threads).train(openStore: openStore)
        try final.bundle.save(to: URL(fileURLWithPath: versions.path(of: name)))
        let metrics = ["candidate_ndcg_at_10": candidateNDCG, "active_ndcg_at_10": activeNDCG]
        try JSONEncoder.sorted.encode(metrics).write(to: URL(fileURLWithPath: (versions.path(of: name) as NSString).appendingPathComponent("gate.json")))
        _ = try server.activate(version: name)
        finish(state: "activated", message: String(format: "NDCG@10 %.4f vs the previous model's %.4f", candidateNDCG, activeNDCG),
               version: name, candidate: candidateNDCG, active: activeNDCG)
    }

    /// NDCG@10 of both models on the held-out interactions whose user and item both know, each
    /// excluding the user's training interactions of this split.
    static func compare(candidate: ModelBundle, active: ModelBundle, trainRaw: Interactions, test: Interactions) -> (Double, Double) {
        let common = test.filter { row in
            let u = test.userIDs[test.users[row]], i = test.itemIDs[test.items[row]]
            return candidate.userIDs.position(of: u) != nil && candidate.itemIDs.position(of: i) != nil
                && active.userIDs.position(of: u) != nil && active.itemIDs.position(of: i) != nil
        }
        func ndcg(_ bundle: ModelBundle) -> Double {
            let report = Evaluator.evaluate(bundle.model, train: AlignedInteractions(trainRaw, to: bundle).matrix,
                                            test: AlignedInteractions(common, to: bundle).matrix,
                                            configuration: .init(ks: [10], computeAUC: false, threads: 1))
            return report.atK.first { $0.k == 10 }?.metrics["ndcg"] ?? 0
        }
        return (ndcg(candidate), ndcg(active))
    }

    static func stamp() -> String {
        let f = DateFormatter()
        f.dateFormat = "yyyyMMdd-HHmmss"
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: Date())
    }
}

import ServiceLifecycle

/// Checks the retraining triggers every few seconds while the server runs.
struct RetrainTrigger: Service {
    let server: TailorServer

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while true {
                try await Task.sleep(for: .seconds(5))
                server.retrainer.checkDrift(server)
                // Retraining needs a registry to write versions to; without one, drift only alerts.
                if let trigger = server.retrainer.due(), trigger != "drift" || server.versions != nil {
                    server.retrainer.start(trigger: trigger, server: server)
                }
            }
        }
    }
}
