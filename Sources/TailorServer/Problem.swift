import Foundation
import Hummingbird
import NIOCore

/// An error response in the `application/problem+json` format (RFC 9457): a status, a short
/// title, what went wrong in `detail`, and the request `field` at fault when there is one.
public struct Problem: HTTPResponseError, Sendable, Codable, Equatable {
    /// A stable code a client can switch on (`invalid-parameter`, `unknown-user`, …).
    public var code: String
    /// The HTTP status.
    public var statusCode: Int
    /// What went wrong and how to fix it.
    public var detail: String
    /// The query parameter, path segment or JSON key at fault.
    public var field: String?
    /// Seconds to wait before retrying (rate limits).
    public var retryAfter: Int?
    /// The status's reason phrase.
    public var title: String

    public init(_ status: HTTPResponse.Status, code: String, detail: String, field: String? = nil, retryAfter: Int? = nil) {
        self.statusCode = status.code
        self.code = code
        self.detail = detail
        self.field = field
        self.retryAfter = retryAfter
        self.title = status.reasonPhrase
    }

    public var status: HTTPResponse.Status { HTTPResponse.Status(code: statusCode) }

    struct Body: Encodable {
        var type: String
        var title: String
        var status: Int
        var detail: String
        var code: String
        var field: String?
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = Body(type: "about:blank", title: title, status: statusCode, detail: detail, code: code, field: field)
        var headers: HTTPFields = [.contentType: "application/problem+json"]
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        // A browser opening the dashboard asks for a user name and password (the key) on Basic.
        if statusCode == 401 { headers[.wwwAuthenticate] = request.uri.path == "/dashboard" ? "Basic realm=\"tailor\", charset=\"UTF-8\"" : "Bearer" }
        let data = try JSONEncoder.sorted.encode(body)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// A problem for a ``RequestError``.
    init(_ error: RequestError) {
        switch error.kind {
        case .invalid: self.init(.badRequest, code: "invalid-parameter", detail: error.detail, field: error.field)
        case .notFound: self.init(.notFound, code: "not-found", detail: error.detail, field: error.field)
        case .unsupported: self.init(.unprocessableContent, code: "unsupported", detail: error.detail, field: error.field)
        case .unavailable: self.init(.serviceUnavailable, code: "no-model", detail: error.detail, field: error.field)
        case .conflict: self.init(.conflict, code: "conflict", detail: error.detail, field: error.field)
        }
    }

    static func invalid(_ field: String, _ detail: String) -> Problem {
        Problem(.badRequest, code: "invalid-parameter", detail: detail, field: field)
    }
}

extension JSONEncoder {
    /// Sorted keys: stable output for clients, tests and caches.
    static let sorted: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()
}
