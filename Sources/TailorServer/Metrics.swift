import CoreMetrics
import Foundation
import Hummingbird
import Metrics
import Prometheus
import Synchronization
import TailorExperiments

/// The server's metrics: swift-metrics objects made by a Prometheus factory over this server's
/// own registry (no process-wide bootstrap, so several servers, or tests, each count alone),
/// exported at `/metrics` in the Prometheus text format.
public final class ServerMetrics: Sendable {
    /// The registry `/metrics` prints.
    public let registry = PrometheusCollectorRegistry()
    let factory: PrometheusMetricsFactory
    let events: CoreMetrics.Counter
    let activations: CoreMetrics.Counter
    let cacheEntries: CoreMetrics.Gauge
    let cacheHits: CoreMetrics.Gauge
    let cacheMisses: CoreMetrics.Gauge
    let liveUsers: CoreMetrics.Gauge
    let timeouts: CoreMetrics.Counter
    let eventMixPSI: CoreMetrics.Gauge
    let newUserShare: CoreMetrics.Gauge
    let newItemShare: CoreMetrics.Gauge
    let driftAlert: CoreMetrics.Gauge
    let modelAge: CoreMetrics.Gauge
    let rollingNDCG: CoreMetrics.Gauge
    let silhouette: CoreMetrics.Gauge
    let exposuresPending: CoreMetrics.Gauge
    let exposuresDropped: CoreMetrics.Gauge
    struct RouteKey: Hashable { var route: String; var method: String; var status: Int }
    let routes = Mutex([RouteKey: (CoreMetrics.Counter, CoreMetrics.Timer)]())
    /// The latest durations per route (a ring of 2,048), for the dashboard's percentiles.
    struct Recent { var durations: [Int64] = []; var next = 0; var count = 0 }
    let recent = Mutex([String: Recent]())

    init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [.microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
                                                   .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
                                                   .milliseconds(500), .seconds(1), .seconds(5)]
        self.factory = factory
        events = Counter(label: "tailor_events_recorded_total", factory: factory)
        activations = Counter(label: "tailor_model_activations_total", factory: factory)
        cacheEntries = Gauge(label: "tailor_cache_entries", factory: factory)
        cacheHits = Gauge(label: "tailor_cache_hits", factory: factory)
        cacheMisses = Gauge(label: "tailor_cache_misses", factory: factory)
        liveUsers = Gauge(label: "tailor_live_users", factory: factory)
        timeouts = Counter(label: "tailor_request_timeouts_total", factory: factory)
        eventMixPSI = Gauge(label: "tailor_drift_event_mix_psi", factory: factory)
        newUserShare = Gauge(label: "tailor_drift_new_user_share", factory: factory)
        newItemShare = Gauge(label: "tailor_drift_new_item_share", factory: factory)
        driftAlert = Gauge(label: "tailor_drift_alert", factory: factory)
        modelAge = Gauge(label: "tailor_model_age_seconds", factory: factory)
        rollingNDCG = Gauge(label: "tailor_rolling_ndcg_at_10", factory: factory)
        silhouette = Gauge(label: "tailor_embedding_silhouette", factory: factory)
        exposuresPending = Gauge(label: "tailor_experiment_exposures_pending", factory: factory)
        exposuresDropped = Gauge(label: "tailor_experiment_exposures_dropped", factory: factory)
    }

    func eventsRecorded(_ n: Int) { if n > 0 { events.increment(by: n) } }
    func modelActivated(_ version: String) { activations.increment() }
    func timedOut() { timeouts.increment() }
    func driftMeasured(_ d: DataDrift, alert: Bool, quality: EmbeddingQuality? = nil) {
        eventMixPSI.record(d.eventMixPSI); newUserShare.record(d.newUserShare); newItemShare.record(d.newItemShare)
        driftAlert.record(alert ? 1 : 0)
        if let ndcg = quality?.rollingNDCG { rollingNDCG.record(ndcg) }
        if let s = quality?.silhouette { silhouette.record(s) }
    }

    func update(from service: RecommendationService, exposures: ExposureLog? = nil) {
        if let counts = exposures?.counts { exposuresPending.record(counts.pending); exposuresDropped.record(counts.dropped) }
        let s = service.cache.statistics
        cacheEntries.record(s.entries); cacheHits.record(s.hits); cacheMisses.record(s.misses)
        liveUsers.record(service.liveUsers)
        if let model = service.model { modelAge.record(Date().timeIntervalSince(model.activated)) }
    }

    /// Counts a request and records its duration under its route (the path pattern, never the
    /// ids in it, so users do not become label values).
    func request(route: String, method: String, status: Int, nanoseconds: Int64) {
        let key = RouteKey(route: route, method: method, status: status)
        let (counter, timer) = routes.withLock { r in
            if let pair = r[key] { return pair }
            let dimensions = [("route", route), ("method", method), ("status", String(status))]
            let pair = (Counter(label: "tailor_http_requests_total", dimensions: dimensions, factory: factory),
                        Timer(label: "tailor_http_request_duration_seconds", dimensions: dimensions, preferredDisplayUnit: .seconds, factory: factory))
            r[key] = pair
            return pair
        }
        counter.increment()
        timer.recordNanoseconds(nanoseconds)
        recent.withLock { all in
            var r = all[route] ?? Recent()
            if r.durations.count < 2_048 { r.durations.append(nanoseconds) } else { r.durations[r.next] = nanoseconds }
            r.next = (r.next + 1) % 2_048
            r.count += 1
            all[route] = r
        }
    }

    /// Requests per route since the start, with the p50 and p99 of the latest 2,048.
    public func latencies() -> [(route: String, requests: Int, p50: Double, p99: Double)] {
        recent.withLock { $0 }.map { route, r in
            let sorted = r.durations.sorted()
            func q(_ p: Double) -> Double { sorted.isEmpty ? 0 : Double(sorted[min(sorted.count - 1, Int(p * Double(sorted.count)))]) / 1e6 }
            return (route, r.count, q(0.5), q(0.99))
        }.sorted { $0.requests > $1.requests }
    }
}

/// Times every request and counts it by route, method and status.
struct MetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        func nanos() -> Int64 {
            let d = ContinuousClock.now - start
            return d.components.seconds * 1_000_000_000 + d.components.attoseconds / 1_000_000_000
        }
        do {
            let response = try await next(request, context)
            metrics.request(route: context.endpointPath ?? "unmatched", method: request.method.rawValue, status: response.status.code, nanoseconds: nanos())
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            metrics.request(route: context.endpointPath ?? "unmatched", method: request.method.rawValue, status: status, nanoseconds: nanos())
            throw error
        }
    }
}
