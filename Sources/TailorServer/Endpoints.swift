import Foundation
import Hummingbird
import NIOCore
import TailorData
import TailorExperiments
import TailorModels
import TailorStore

extension TailorServer {
    /// Every endpoint, in the order of the OpenAPI document (`/openapi.json`), which a test
    /// keeps in step with this table.
    static let endpoints: [Endpoint] = [
        Endpoint(method: .get, path: "/healthz", scope: nil) { _, _, _ in try json(["status": "ok"]) },
        Endpoint(method: .get, path: "/readyz", scope: nil) { server, _, _ in
            guard let model = server.service.model else {
                throw Problem(.serviceUnavailable, code: "no-model", detail: "no model is loaded yet")
            }
            return try json(["status": "ready", "model": model.version])
        },
        Endpoint(method: .get, path: "/openapi.json", scope: nil) { _, _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.json)))
        },
        Endpoint(method: .get, path: "/dashboard", scope: .admin) { server, request, _ in
            let html = try server.dashboard(refresh: try Query(request).bool("refresh") ?? false)
            return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                            body: .init(byteBuffer: ByteBuffer(string: html)))
        },
        Endpoint(method: .get, path: "/metrics", scope: .admin) { server, _, _ in
            server.metrics.update(from: server.service, exposures: server.exposureLog)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                            body: .init(byteBuffer: ByteBuffer(bytes: server.metrics.registry.emitToBuffer())))
        },
        Endpoint(method: .get, path: "/v1/users/{id}/recommendations", scope: .read) { server, request, context in
            let query = Query(request)
            var r = RecommendationRequest(user: try context.parameters.require("id"), k: try query.int("k") ?? 10)
            r.offset = try query.int("offset") ?? 0
            r.excludeSeen = try query.bool("exclude_seen") ?? true
            r.categories = query.all("category")
            r.candidates = query.list("candidates")
            r.exclude = query.list("exclude") ?? []
            r.diversity = try query.double("diversity") ?? 0
            r.context = try query.context("context")
            r.rerank = try query.bool("rerank") ?? true
            let result = try server.recommendInExperiment(r)
            if try query.bool("write_exposures") == true, let user = r.user {
                try server.service.recordExposures(user: user, items: result.items.map(\.item))
            }
            return try json(result)
        },
        Endpoint(method: .post, path: "/v1/recommendations", scope: .read) { server, request, context in
            let body = try await decode(AnonymousRequest.self, request, server)
            var r = RecommendationRequest(user: body.user, k: body.k ?? 10)
            r.offset = body.offset ?? 0
            r.excludeSeen = body.excludeSeen ?? true
            r.categories = body.category ?? []
            r.candidates = body.candidates
            r.exclude = body.exclude ?? []
            r.diversity = body.diversity ?? 0
            r.context = body.context ?? [:]
            r.recentItems = body.items ?? []
            r.attributes = body.attributes
            r.rerank = body.rerank ?? true
            return try json(try server.recommendInExperiment(r))
        },
        Endpoint(method: .get, path: "/v1/items/{id}/similar", scope: .read) { server, request, context in
            let query = Query(request)
            let (model, items) = try server.service.similarItems(to: try context.parameters.require("id"), k: try query.int("k") ?? 10,
                                                                 categories: query.all("category"), candidates: query.list("candidates"),
                                                                 exclude: query.list("exclude") ?? [])
            return try json(SimilarResponse(model: model, items: items))
        },
        Endpoint(method: .get, path: "/v1/users/{id}/similar", scope: .read) { server, request, context in
            let (model, users) = try server.service.similarUsers(to: try context.parameters.require("id"), k: try Query(request).int("k") ?? 10)
            return try json(SimilarUsersResponse(model: model, users: users.map { SimilarUsersResponse.Entry(user: $0.item, score: $0.score) }))
        },
        Endpoint(method: .get, path: "/v1/users/{id}/embedding", scope: .read) { server, _, context in
            let user = try context.parameters.require("id")
            let (vector, folded, updated) = try server.service.embedding(of: user)
            return try json(EmbeddingResponse(user: user, model: server.service.model?.version ?? "", foldedIn: folded, vector: vector,
                                              updated: updated.map { ISO8601DateFormatter().string(from: $0) },
                                              staleSeconds: updated.map { max(0, Date().timeIntervalSince($0)) }))
        },
        Endpoint(method: .post, path: "/v1/events", scope: .write) { server, request, _ in
            let body = try await decode(EventBatch.self, request, server)
            guard !body.events.isEmpty else { throw Problem.invalid("events", "the batch is empty: send {\"events\": [{\"user\": …, \"item\": …, \"type\": …}]}") }
            guard body.events.count <= server.configuration.maxEventsPerRequest else {
                throw Problem.invalid("events", "\(body.events.count) events in one request; at most \(server.configuration.maxEventsPerRequest) (split the batch)")
            }
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let events = try body.events.enumerated().map { try $0.element.event(index: $0.offset, now: now) }
            let recorded = try server.service.record(events)
            server.metrics.eventsRecorded(recorded.inserted)
            server.retrainer.eventsRecorded(recorded.inserted)
            return try json(recorded, status: .accepted)
        },
        Endpoint(method: .put, path: "/v1/items/{id}", scope: .write) { server, request, context in
            let id = try context.parameters.require("id")
            let body = try await decode(ItemBody.self, request, server)
            let item = try body.item(id: id)
            try server.service.putItem(item)
            return try json(ItemBody(item))
        },
        Endpoint(method: .get, path: "/v1/items/{id}", scope: .read) { server, _, context in
            let id = try context.parameters.require("id")
            guard let item = try server.service.store.item(id) else { throw Problem(.notFound, code: "not-found", detail: "no item '\(id)' in the store", field: "id") }
            var body = ItemBody(item)
            body.available = !(try server.service.store.unavailableItems().contains(id))
            return try json(body)
        },
        Endpoint(method: .delete, path: "/v1/items/{id}", scope: .write) { server, _, context in
            let id = try context.parameters.require("id")
            guard try server.service.removeItem(id) else { throw Problem(.notFound, code: "not-found", detail: "no item '\(id)' in the store or the model", field: "id") }
            return Response(status: .noContent)
        },
        Endpoint(method: .put, path: "/v1/users/{id}", scope: .write) { server, request, context in
            let id = try context.parameters.require("id")
            let body = try await decode(UserBody.self, request, server)
            let profile = UserProfile(id: id, attributes: body.attributes ?? [:], signupMilliseconds: body.signup.map { Int64($0 * 1000) })
            try server.service.putUser(profile)
            return try json(UserBody(profile))
        },
        Endpoint(method: .get, path: "/v1/users/{id}", scope: .read) { server, _, context in
            let id = try context.parameters.require("id")
            guard let user = try server.service.store.user(id) else { throw Problem(.notFound, code: "not-found", detail: "no user '\(id)' in the store", field: "id") }
            return try json(UserBody(user))
        },
        Endpoint(method: .delete, path: "/v1/users/{id}", scope: .write) { server, _, context in
            let id = try context.parameters.require("id")
            guard try server.service.deleteUser(id) else { throw Problem(.notFound, code: "not-found", detail: "no user '\(id)' in the store or the model", field: "id") }
            return Response(status: .noContent)
        },
        Endpoint(method: .get, path: "/v1/admin/models", scope: .admin) { server, _, _ in
            guard let versions = server.versions else {
                let model = server.service.model
                return try json(ModelsResponse(active: model?.version, versions: model.map { m in
                    [ModelVersions.Version(name: m.version, kind: m.kind, created: m.bundle.manifest.createdAt, users: m.bundle.userIDs.count,
                                           items: m.bundle.itemIDs.count, active: true)] } ?? []))
            }
            return try json(ModelsResponse(active: server.service.model?.version, versions: try versions.list()))
        },
        Endpoint(method: .post, path: "/v1/admin/models/{version}/activate", scope: .admin) { server, _, context in
            let model = try server.activate(version: try context.parameters.require("version"))
            return try json(["active": model.version])
        },
        Endpoint(method: .post, path: "/v1/admin/models/rollback", scope: .admin) { server, _, _ in
            guard let previous = server.versions?.previous else {
                throw Problem(.conflict, code: "no-previous", detail: "there is no previous version to roll back to")
            }
            let model = try server.activate(version: previous)
            return try json(["active": model.version])
        },
        Endpoint(method: .post, path: "/v1/admin/retrain", scope: .admin) { server, _, _ in
            guard server.versions != nil else {
                throw Problem(.unprocessableContent, code: "unsupported", detail: "retraining writes a new version: start the server with --models DIR")
            }
            guard server.retrainer.start(trigger: "request", server: server) else {
                throw Problem(.conflict, code: "running", detail: "a retraining run is in progress; follow it at GET /v1/admin/retrain")
            }
            return try json(server.retrainer.current, status: .accepted)
        },
        Endpoint(method: .get, path: "/v1/admin/retrain", scope: .admin) { server, _, _ in
            try json(server.retrainer.current)
        },
        Endpoint(method: .get, path: "/v1/admin/drift", scope: .admin) { server, request, _ in
            if try Query(request).bool("measure") == true { server.retrainer.checkDrift(server, force: true) }
            return try json(server.retrainer.latestDrift)
        },
        Endpoint(method: .get, path: "/v1/admin/experiments", scope: .admin) { server, _, _ in
            try json(Experiment.all(in: server.service.store))
        },
        Endpoint(method: .get, path: "/v1/admin/experiments/{name}/report", scope: .admin) { server, _, context in
            let name = try context.parameters.require("name")
            guard let experiment = try Experiment.all(in: server.service.store).first(where: { $0.name == name }) else {
                throw RequestError(.notFound, field: "name", "no experiment '\(name)' (create one with `tailor experiment create`)")
            }
            try server.exposureLog.flush()
            return try json(ExperimentReport.make(experiment, events: ExperimentReport.events(in: server.service.store)))
        },
    ]
}

// MARK: JSON bodies

/// `POST /v1/recommendations`.
struct AnonymousRequest: Decodable {
    var user: String?
    var items: [String]?
    var attributes: [String: String]?
    var context: [String: String]?
    var k: Int?
    var offset: Int?
    var excludeSeen: Bool?
    var category: [String]?
    var candidates: [String]?
    var exclude: [String]?
    var diversity: Double?
    var rerank: Bool?

    enum CodingKeys: String, CodingKey {
        case user, items, attributes, context, k, offset, category, candidates, exclude, diversity, rerank
        case excludeSeen = "exclude_seen"
    }
}

/// `POST /v1/events`.
struct EventBatch: Decodable {
    var events: [EventBody]
}

/// One event as sent: `timestamp` in Unix seconds (a number) or ISO 8601 (a string); now if
/// absent.
struct EventBody: Decodable {
    var id: String?
    var user: String
    var item: String
    var type: String?
    var value: Double?
    var timestamp: Timestamp?
    var context: EventContextBody?

    struct EventContextBody: Decodable {
        var device: String?
        var platform: String?
        var country: String?
        var session: String?
        var referrer: String?
    }

    enum Timestamp: Decodable {
        case seconds(Double)
        case text(String)
        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let s = try? c.decode(Double.self) { self = .seconds(s) } else { self = .text(try c.decode(String.self)) }
        }
    }

    func event(index: Int, now: Int64) throws -> Event {
        let at = "events[\(index)]"
        guard !user.isEmpty, user.count <= 256 else { throw Problem.invalid("\(at).user", "user must be 1 to 256 characters") }
        guard !item.isEmpty, item.count <= 256 else { throw Problem.invalid("\(at).item", "item must be 1 to 256 characters") }
        if let value, !value.isFinite { throw Problem.invalid("\(at).value", "value must be a finite number") }
        var ms = now
        switch timestamp {
        case .seconds(let s)?:
            guard s.isFinite, s >= 0, s < 1e11 else { throw Problem.invalid("\(at).timestamp", "timestamp \(s) is not Unix seconds") }
            ms = Int64(s * 1000)
        case .text(let t)?:
            let f = ISO8601DateFormatter()
            f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            guard let date = f.date(from: t) ?? ISO8601DateFormatter().date(from: t) else {
                throw Problem.invalid("\(at).timestamp", "'\(t)' is neither Unix seconds nor an ISO 8601 time such as 2026-12-05T10:00:00Z")
            }
            ms = Int64(date.timeIntervalSince1970 * 1000)
        case nil: break
        }
        let type = EventType(self.type ?? "click")
        guard !type.name.isEmpty else { throw Problem.invalid("\(at).type", "type must not be empty (click, view, rating, …)") }
        let c = context
        return Event(id: id, user: user, item: item, type: type, value: value, timestampMilliseconds: ms,
                     context: EventContext(device: c?.device, platform: c?.platform, country: c?.country, session: c?.session, referrer: c?.referrer))
    }
}

/// A catalogue item as sent and returned.
struct ItemBody: Codable {
    var id: String?
    var title: String?
    var text: String?
    var categories: [String]?
    var tags: [String]?
    var published: Double?
    var numeric: [String: Double]?
    var features: [Float]?
    var available: Bool?

    init(_ item: CatalogItem) {
        id = item.id; title = item.title; text = item.text; categories = item.categories; tags = item.tags
        published = item.publishedMilliseconds.map { Double($0) / 1000 }
        numeric = item.numeric; features = item.features; available = true
    }

    func item(id: String) throws -> CatalogItem {
        if let given = self.id, given != id { throw Problem.invalid("id", "the body's id '\(given)' differs from the path's '\(id)'") }
        if let features, features.contains(where: { !$0.isFinite }) { throw Problem.invalid("features", "features must be finite numbers") }
        return CatalogItem(id: id, title: title, text: text, categories: categories ?? [], tags: tags ?? [],
                           publishedMilliseconds: published.map { Int64($0 * 1000) }, numeric: numeric ?? [:], features: features)
    }
}

/// A user profile as sent and returned.
struct UserBody: Codable {
    var id: String?
    var attributes: [String: String]?
    var signup: Double?

    init(_ p: UserProfile) {
        id = p.id; attributes = p.attributes; signup = p.signupMilliseconds.map { Double($0) / 1000 }
    }
}

struct SimilarResponse: Encodable {
    var model: String
    var items: [RankedItem]
}

struct SimilarUsersResponse: Encodable {
    struct Entry: Encodable { var user: String; var score: Float }
    var model: String
    var users: [Entry]
}

struct EmbeddingResponse: Encodable {
    var user: String
    var model: String
    var foldedIn: Bool
    var vector: [Float]
    /// When the vector last changed (ISO 8601), and the seconds since: its staleness.
    var updated: String?
    var staleSeconds: Double?
    enum CodingKeys: String, CodingKey { case user, model, vector, updated, foldedIn = "folded_in", staleSeconds = "stale_seconds" }
}

struct ModelsResponse: Encodable {
    var active: String?
    var versions: [ModelVersions.Version]
}

// MARK: Helpers

func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
    Response(status: status, headers: [.contentType: "application/json"],
             body: .init(byteBuffer: ByteBuffer(bytes: try JSONEncoder.sorted.encode(value))))
}

/// Reads and decodes a JSON body, naming the field at fault when it does not decode.
func decode<T: Decodable>(_ type: T.Type, _ request: Request, _ server: TailorServer) async throws -> T {
    var request = request
    let buffer: ByteBuffer
    do {
        buffer = try await request.collectBody(upTo: server.configuration.maxBodyBytes)
    } catch is NIOTooManyBytesError {
        throw Problem(.contentTooLarge, code: "too-large", detail: "the body is over \(server.configuration.maxBodyBytes) bytes")
    }  // Others (the connection closed, the request's time ran out) pass through.
    do {
        return try JSONDecoder().decode(T.self, from: Data(buffer: buffer))
    } catch let error as DecodingError {
        let field = ConfigurationPatch.path(of: error)
        throw Problem.invalid(field.isEmpty ? "body" : field, "the body is not valid: \(ConfigurationPatch.describe(error))")
    } catch {
        throw Problem.invalid("body", "the body is not valid JSON")
    }
}

/// Query parameters with typed reads whose errors name the parameter.
struct Query {
    let parameters: [(key: String, value: String)]

    init(_ request: Request) {
        parameters = request.uri.queryParameters.map { (String($0.key), String($0.value)) }
    }

    func first(_ name: String) -> String? { parameters.first { $0.key == name }?.value }
    func all(_ name: String) -> [String] { parameters.filter { $0.key == name }.map(\.value).filter { !$0.isEmpty } }

    /// A comma-separated list (repeating the parameter also works).
    func list(_ name: String) -> [String]? {
        let values = all(name).flatMap { $0.split(separator: ",").map { String($0) } }
        return parameters.contains { $0.key == name } ? values : nil
    }

    func int(_ name: String) throws -> Int? {
        guard let text = first(name) else { return nil }
        guard let v = Int(text) else { throw Problem.invalid(name, "\(name) must be a whole number, got '\(text)'") }
        return v
    }

    func double(_ name: String) throws -> Double? {
        guard let text = first(name) else { return nil }
        guard let v = Double(text), v.isFinite else { throw Problem.invalid(name, "\(name) must be a number, got '\(text)'") }
        return v
    }

    func bool(_ name: String) throws -> Bool? {
        guard let text = first(name) else { return nil }
        switch text.lowercased() {
        case "true", "1", "yes": return true
        case "false", "0", "no": return false
        default: throw Problem.invalid(name, "\(name) must be true or false, got '\(text)'")
        }
    }

    /// `KEY=VALUE,KEY=VALUE` (device, platform, country, hour, weekday, time).
    func context(_ name: String) throws -> [String: String] {
        guard let text = first(name), !text.isEmpty else { return [:] }
        var out: [String: String] = [:]
        for part in text.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2, !pair[0].isEmpty, !pair[1].isEmpty else {
                throw Problem.invalid(name, "'\(part)' is not KEY=VALUE (for example context=device=mobile,hour=20)")
            }
            out[pair[0]] = pair[1]
        }
        return out
    }
}
