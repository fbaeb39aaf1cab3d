import Crypto
import Foundation
import Synchronization
import TailorStore

/// What a key may do.
public enum Scope: String, Sendable, Codable, CaseIterable {
    /// Read recommendations, similar items and users, embeddings, the catalogue.
    case read
    /// Send events; write the catalogue and profiles.
    case write
    /// Models, retraining and `/metrics`.
    case admin
}

/// The server's API keys: created by `tailor keys create`, stored in the store as SHA-256
/// hashes (the key itself is shown once), checked in constant time.
///
/// A key reads `tlr_<id>_<secret>`: the 12-character id is public (listings, logs), the
/// 43-character secret is 256 random bits. A request presents it as `Authorization: Bearer
/// KEY` or `X-API-Key: KEY`.
public final class KeyRing: Sendable {
    let store: any EventStore
    /// Keys are re-read from the store at most this often, so keys created or revoked by
    /// `tailor keys` while the server runs take effect within it.
    let refreshInterval: Duration
    struct Cache { var byID: [String: APIKeyRecord] = [:]; var loaded: ContinuousClock.Instant? }
    let cache = Mutex(Cache())

    /// Keys of `store`.
    public init(store: any EventStore, refreshInterval: Duration = .seconds(2)) {
        self.store = store
        self.refreshInterval = refreshInterval
    }

    /// A new key and its record (not stored yet).
    public static func generate(name: String, scopes: [Scope]) -> (key: String, record: APIKeyRecord) {
        var rng = SystemRandomNumberGenerator()
        let id = (0..<6).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &rng)) }.joined()
        let secret = Data((0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        let key = "tlr_\(id)_\(secret)"
        let stamp = ISO8601DateFormatter().string(from: Date())
        return (key, APIKeyRecord(id: id, name: name, hash: hash(key), scopes: scopes.map(\.rawValue), created: stamp))
    }

    /// Creates and stores a key; returns the key (shown once) and its record.
    public func create(name: String, scopes: [Scope]) throws -> (key: String, record: APIKeyRecord) {
        let made = KeyRing.generate(name: name, scopes: scopes)
        try store.saveAPIKey(made.record)
        cache.withLock { $0.loaded = nil }
        return made
    }

    /// Lower-case hex SHA-256 of `key`.
    public static func hash(_ key: String) -> String {
        SHA256.hash(data: Data(key.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// Whether two strings are equal, in time that depends only on their lengths.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for i in x.indices { difference |= x[i] ^ y[i] }
        return difference == 0
    }

    /// The active key record for a presented key, or `nil` for an unknown, malformed or
    /// revoked key.
    public func authenticate(_ presented: String) throws -> APIKeyRecord? {
        let parts = presented.split(separator: "_", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "tlr", parts[1].count == 12 else { return nil }
        let id = String(parts[1])
        let records = try current()
        guard let record = records[id], record.revoked == nil else { return nil }
        return KeyRing.constantTimeEqual(KeyRing.hash(presented), record.hash) ? record : nil
    }

    func current() throws -> [String: APIKeyRecord] {
        let now = ContinuousClock.now
        if let fresh = cache.withLock({ c -> [String: APIKeyRecord]? in
            guard let loaded = c.loaded, now - loaded < refreshInterval else { return nil }
            return c.byID
        }) { return fresh }
        let records = try store.apiKeys()
        let byID = Dictionary(records.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        cache.withLock { $0 = Cache(byID: byID, loaded: now) }
        return byID
    }

    /// Whether any active key exists (a server with none refuses every request but health).
    public func hasActiveKeys() throws -> Bool { try current().values.contains { $0.revoked == nil } }
}

/// Per-key token buckets: `rate` requests per second on average, bursts up to `burst`.
final class RateLimiter: Sendable {
    let rate: Double, burst: Double
    struct Bucket { var tokens: Double; var last: ContinuousClock.Instant }
    let buckets = Mutex([String: Bucket]())

    init(rate: Double, burst: Double) {
        self.rate = rate
        self.burst = max(1, burst)
    }

    /// Takes a token for `key`; returns the seconds to wait when there is none.
    func take(_ key: String) -> Double? {
        guard rate > 0 else { return nil }
        let now = ContinuousClock.now
        return buckets.withLock { b in
            var bucket = b[key] ?? Bucket(tokens: burst, last: now)
            let elapsed = now - bucket.last
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            bucket.tokens = min(burst, bucket.tokens + seconds * rate)
            bucket.last = now
            defer { b[key] = bucket }
            if bucket.tokens >= 1 { bucket.tokens -= 1; return nil }
            return (1 - bucket.tokens) / rate
        }
    }
}
