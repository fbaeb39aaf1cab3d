import Foundation

/// A directory of model versions the server can activate: each subdirectory written by
/// `tailor train --output DIR/NAME` is a version, and the file `ACTIVE` names the active one
/// (first line) and the one before it (second line, for rollback). Activation rewrites
/// `ACTIVE` atomically (a new file renamed over the old), so a crash never leaves it half
/// written, and a restarted server comes back on the same version.
public struct ModelVersions: Sendable {
    /// The directory.
    public let root: String

    /// One version, as listed by the admin API.
    public struct Version: Sendable, Codable, Equatable {
        /// Directory name.
        public var name: String
        /// Model family.
        public var kind: String
        /// When it was trained (ISO 8601).
        public var created: String
        /// Users and items it knows.
        public var users: Int
        public var items: Int
        /// Whether it is the active version.
        public var active: Bool
    }

    /// The registry at `root` (created if missing).
    public init(root: String) throws {
        self.root = root
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    /// The directory of version `name`.
    public func path(of name: String) -> String { (root as NSString).appendingPathComponent(name) }

    /// The names of the versions (subdirectories with a `manifest.json`), sorted; cheaper than
    /// ``list()`` (no manifest is read).
    public func names() -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return entries.filter { FileManager.default.fileExists(atPath: (path(of: $0) as NSString).appendingPathComponent("manifest.json")) }.sorted()
    }

    /// Every version (subdirectories with a `manifest.json`), oldest first.
    public func list() throws -> [Version] {
        let names = try FileManager.default.contentsOfDirectory(atPath: root).sorted()
        let active = self.active
        struct Head: Decodable {
            struct Data: Decodable { var users: Int; var items: Int }
            var kind: String
            var createdAt: String
            var data: Data
        }
        var out: [Version] = []
        for name in names {
            let manifest = (path(of: name) as NSString).appendingPathComponent("manifest.json")
            guard let bytes = FileManager.default.contents(atPath: manifest), let head = try? JSONDecoder().decode(Head.self, from: bytes) else { continue }
            out.append(Version(name: name, kind: head.kind, created: head.createdAt, users: head.data.users, items: head.data.items, active: name == active))
        }
        return out.sorted { ($0.created, $0.name) < ($1.created, $1.name) }
    }

    var activeFile: String { (root as NSString).appendingPathComponent("ACTIVE") }

    func lines() -> [String] {
        guard let text = try? String(contentsOfFile: activeFile, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// The active version's name, if one was activated.
    public var active: String? { lines().first }
    /// The version active before it, if any.
    public var previous: String? { lines().dropFirst().first }

    /// Records `name` as active (and the current one as previous).
    public func setActive(_ name: String) throws {
        let current = active
        let text = name + "\n" + (current.flatMap { $0 == name ? previous : $0 } ?? "") + "\n"
        try text.write(toFile: activeFile, atomically: true, encoding: .utf8)
    }

    /// The newest version, for a registry without an `ACTIVE` file.
    public func newest() throws -> String? { try list().last?.name }
}
