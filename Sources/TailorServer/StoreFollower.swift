import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import TailorStore

/// Keeps one server in step with the others on a shared store (several `tailor serve`
/// replicas on one PostgreSQL database): events any replica appended become live here (so an
/// event posted to one changes what the others serve), catalogue writes and erasures are
/// applied, and a model version activated on one is activated here.
///
/// Changes arrive as the store's notifications (``ChangeNotifyingStore``; PostgreSQL's
/// LISTEN/NOTIFY) and wake the follower at once; it also reads new events every
/// `interval`, so a lost notification or connection only delays a change. Notifications are
/// handled on the follower's own thread (never the database driver's event loop).
public final class StoreFollower: Sendable {
    let interval: Duration
    let condition = NSCondition()
    let pending = Mutex<[StoreChange]>([])
    let running = Atomic<Bool>(false)
    let stopRequested = Atomic<Bool>(false)
    /// Catch-up passes done (for tests and metrics).
    let passes = Atomic<Int>(0)
    /// The last version that failed to activate here, and when.
    let failedActivation = Mutex<(version: String, at: Date)?>(nil)

    init(interval: Duration) { self.interval = interval }

    /// The interval in seconds.
    var seconds: Double { Double(interval.components.seconds) + Double(interval.components.attoseconds) / 1e18 }

    /// Starts following on a thread of its own (once).
    func start(_ server: TailorServer) {
        guard !running.exchange(true, ordering: .relaxed) else { return }
        let thread = Thread { [self] in loop(server) }
        thread.name = "tailor-follower"
        thread.start()
    }

    /// Stops after the pass in progress.
    func stop() {
        stopRequested.store(true, ordering: .relaxed)
        signal()
    }

    func signal() {
        condition.lock()
        condition.signal()
        condition.unlock()
    }

    func enqueue(_ change: StoreChange) {
        pending.withLock { $0.append(change) }
        signal()
    }

    func loop(_ server: TailorServer) {
        var subscription: (any StoreSubscription)?
        defer { subscription?.cancel(); running.store(false, ordering: .relaxed) }
        while !stopRequested.load(ordering: .relaxed) {
            if subscription?.isActive != true, let store = server.service.store as? any ChangeNotifyingStore {
                do {
                    subscription = try store.subscribe { [weak self] change in self?.enqueue(change) }
                } catch {
                    server.logger.warning("cannot subscribe to the store's changes; polling", metadata: ["reason": "\(error)"])
                }
            }
            for change in pending.withLock({ p -> [StoreChange] in defer { p = [] }; return p }) { apply(change, server) }
            followActiveModel(server)
            heartbeat(server)
            do {
                try server.service.catchUp()
            } catch {
                server.logger.warning("cannot read the store's new events", metadata: ["reason": "\(error)"])
            }
            passes.add(1, ordering: .relaxed)
            condition.lock()
            if pending.withLock({ $0.isEmpty }) && !stopRequested.load(ordering: .relaxed) {
                _ = condition.wait(until: Date().addingTimeInterval(seconds))
            }
            condition.unlock()
        }
    }

    func apply(_ change: StoreChange, _ server: TailorServer) {
        do {
            switch change {
            case .events: break  // the catch-up after the changes reads them
            case .item(let id): try server.service.reloadItem(id)
            case .catalogue: try server.service.reloadCatalogue()
            case .erased(let id): server.service.forgetUser(id)
            case .activated(let version): activate(version, server)
            }
        } catch {
            server.logger.error("cannot follow a change of the shared store", metadata: ["change": "\(change.payload)", "reason": "\(error)"])
        }
    }
}

extension StoreFollower {
    /// Serves the version the store records as active, when it is not the one served: what a
    /// replica that missed the notification (or started later, or whose registry says
    /// otherwise) does at each pass.
    func followActiveModel(_ server: TailorServer) {
        guard server.versions != nil, let store = server.service.store as? any ChangeNotifyingStore else { return }
        do {
            if let version = try store.activeModel() { activate(version, server) }
        } catch {
            server.logger.warning("cannot read the store's active model", metadata: ["reason": "\(error)"])
        }
    }

    /// Tells the other servers what this one serves and can serve (they refuse to activate a
    /// version one of them lacks).
    func heartbeat(_ server: TailorServer) {
        guard let store = server.service.store as? any ChangeNotifyingStore else { return }
        do {
            try store.heartbeat(ReplicaState(id: server.replicaID, serving: server.service.model?.version, versions: server.versions?.names() ?? []))
        } catch {
            server.logger.warning("cannot record this server's heartbeat", metadata: ["reason": "\(error)"])
        }
    }

    /// Activates `version` unless it is served already, or failed here less than a minute ago
    /// (a version missing from this replica's registry is logged once a minute, not every pass).
    func activate(_ version: String, _ server: TailorServer) {
        guard server.service.model?.version != version, server.versions != nil else { return }
        let now = Date()
        let recent = failedActivation.withLock { f in f.map { $0.version == version && now.timeIntervalSince($0.at) < 60 } ?? false }
        guard !recent else { return }
        do {
            _ = try server.activate(version: version, announce: false)
            failedActivation.withLock { $0 = nil }
        } catch let error as RequestError where error.kind == .conflict {
            _ = error  // an activation in progress here (this server's own, announced to itself): the next pass looks again
        } catch {
            failedActivation.withLock { $0 = (version, now) }
            server.logger.error("cannot serve the model version the other servers serve", metadata: ["version": "\(version)", "reason": "\(error)"])
        }
    }
}

/// Runs the follower for the server's lifetime.
struct FollowerService: Service {
    let server: TailorServer

    func run() async throws {
        server.follower.start(server)
        try? await gracefulShutdown()
        server.follower.stop()
    }
}
