import Foundation
import TailorData
import TailorLinalg

/// A trained model together with everything needed to serve it: the maps to external
/// identifiers, the training interactions (to exclude what users already have) and the manifest.
///
/// This is what `tailor train` writes and `tailor recommend`, `similar` and `evaluate` read.
///
/// ```swift
/// let bundle = try ModelBundle.load(from: URL(fileURLWithPath: "model"))
/// let recs = try bundle.recommend(userIDs: ["42"], k: 10)
/// ```
public struct ModelBundle: Sendable {
    /// The model.
    public let model: any Recommender
    /// External user identifiers.
    public let userIDs: IDMap
    /// External item identifiers.
    public let itemIDs: IDMap
    /// The training interactions, users × items.
    public let seen: CSRMatrix
    /// The manifest (written on save, read on load).
    public let manifest: ModelManifest
    /// Distinct users per item in the training data: the fallback ranking for unknown users.
    public let popularity: Popularity

    /// Bundles a freshly trained model with its training data.
    public init(model: any Recommender, training: Interactions, matrix: InteractionMatrix? = nil, source: String? = nil,
                holdout: ModelManifest.DataSummary.Holdout? = nil, recipe: DatasetRecipe? = nil, fingerprint: String? = nil,
                storeCursor: Int64? = nil) throws {
        let m = matrix ?? InteractionMatrix(training)
        precondition(model.userCount == m.userCount && model.itemCount == m.itemCount,
                     "model shape \(model.userCount)×\(model.itemCount) differs from its data \(m.userCount)×\(m.itemCount)")
        let stamp = ISO8601DateFormatter().string(from: Date())
        let manifest = ModelManifest(
            format: ModelManifest.formatName, formatVersion: ModelManifest.currentVersion,
            kind: type(of: model).kind, createdAt: stamp, tailorVersion: tailorVersion,
            model: try model.archiveConfiguration(),
            data: .init(users: m.userCount, items: m.itemCount, interactions: m.nonZeroCount,
                        fingerprint: fingerprint ?? training.fingerprint(), source: source, holdout: holdout, recipe: recipe,
                        storeCursor: storeCursor),
            users: training.userIDs.ids, items: training.itemIDs.ids, tensorFile: "embeddings.safetensors")
        try self.init(model: model, userIDs: training.userIDs, itemIDs: training.itemIDs, seen: m.userItems, manifest: manifest)
    }

    init(model: any Recommender, userIDs: IDMap, itemIDs: IDMap, seen: CSRMatrix, manifest: ModelManifest) throws {
        self.model = model
        self.userIDs = userIDs
        self.itemIDs = itemIDs
        self.seen = seen
        self.manifest = manifest
        popularity = Popularity(counting: seen)
    }

    // MARK: Files

    /// Writes `manifest.json` and the tensor file into `directory` (created if needed).
    public func save(to directory: URL) throws {
        let fm = FileManager.default
        do {
            try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw ModelError(.invalidModelFile, path: directory.path, reason: "cannot create the model directory (\(error.localizedDescription))")
        }
        var tensors = model.archiveTensors()
        tensors["seen_indptr"] = .init(seen.rowPointers.map(Int64.init), shape: [seen.rows + 1])
        tensors["seen_indices"] = .init(seen.columnIndices, shape: [seen.nonZeroCount])
        tensors["seen_values"] = .init(seen.values, shape: [seen.nonZeroCount])
        tensors["seen_shape"] = .init([Int64(seen.rows), Int64(seen.columns)], shape: [2])
        try SafeTensors.write(tensors, metadata: ["format": ModelManifest.formatName, "kind": manifest.kind],
                              to: directory.appendingPathComponent(manifest.tensorFile))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(manifest).write(to: directory.appendingPathComponent("manifest.json"), options: .atomic)
    }

    /// Reads a model directory written by ``save(to:)``.
    ///
    /// - Throws: ``ModelError`` naming the file for a missing directory, a foreign, corrupt,
    ///   truncated or too-new manifest or tensor file, or an unknown model kind.
    public static func load(from directory: URL, registry: ModelRegistry = .shared) throws -> ModelBundle {
        let path = directory.path
        let manifestURL = directory.appendingPathComponent("manifest.json")
        guard FileManager.default.fileExists(atPath: manifestURL.path) else {
            let isFile = FileManager.default.fileExists(atPath: path) && !((try? directory.resourceValues(forKeys: [.isDirectoryKey]))?.isDirectory ?? false)
            throw ModelError(.invalidModelFile, path: path, reason: isFile ? "is a file, not a model directory" : "is not a Tailor model directory (no manifest.json)",
                             hint: "train one with `tailor train LOG --output \(directory.lastPathComponent)`")
        }
        let manifest: ModelManifest
        do {
            manifest = try JSONDecoder().decode(ModelManifest.self, from: Data(contentsOf: manifestURL))
        } catch {
            throw ModelError(.invalidModelFile, path: manifestURL.path, reason: "is not a valid Tailor manifest (\(describe(error)))",
                             hint: "the file is corrupt or was not written by Tailor; retrain the model")
        }
        guard manifest.format == ModelManifest.formatName else {
            throw ModelError(.invalidModelFile, path: manifestURL.path, reason: "has format '\(manifest.format)', not '\(ModelManifest.formatName)'")
        }
        guard manifest.formatVersion <= ModelManifest.currentVersion else {
            throw ModelError(.newerFormat, path: manifestURL.path, reason: "uses model format \(manifest.formatVersion), newer than this Tailor (\(tailorVersion)) reads (\(ModelManifest.currentVersion))",
                             hint: "upgrade Tailor")
        }
        guard let type = registry.modelType(manifest.kind) else {
            throw ModelError(.unknownModelKind, path: manifestURL.path, reason: "holds an unknown model kind '\(manifest.kind)'",
                             hint: "this Tailor knows \(registry.kinds.joined(separator: ", "))")
        }
        let tensorURL = directory.appendingPathComponent(manifest.tensorFile)
        let tensors: [String: SafeTensors.Tensor]
        do {
            tensors = try SafeTensors.read(from: tensorURL).tensors
        } catch {
            throw ModelError(.invalidModelFile, path: tensorURL.path, reason: "\(error)")
        }
        let model: any Recommender
        do {
            model = try type.init(archiveTensors: tensors, configuration: manifest.model)
        } catch {
            throw ModelError(.invalidModelFile, path: tensorURL.path, reason: "\(error)")
        }
        guard let seen = seenMatrix(in: tensors, columns: manifest.items.count), seen.rows == manifest.users.count, seen.columns == manifest.items.count else {
            throw ModelError(.invalidModelFile, path: tensorURL.path, reason: "the training interactions (seen_*) are missing or inconsistent with the manifest",
                             hint: "the model directory is corrupt; retrain the model")
        }
        guard model.userCount == manifest.users.count, model.itemCount == manifest.items.count else {
            throw ModelError(.invalidModelFile, path: path, reason: "the tensors are for \(model.userCount) users × \(model.itemCount) items but the manifest lists \(manifest.users.count) × \(manifest.items.count)")
        }
        return try ModelBundle(model: model, userIDs: IDMap(manifest.users), itemIDs: IDMap(manifest.items), seen: seen, manifest: manifest)
    }

    /// The training interactions stored in a model file (`seen_indptr`, `seen_indices`,
    /// `seen_values`), checked for consistency; `nil` if absent or inconsistent. The column
    /// count is one more than the largest index unless `columns` says otherwise.
    public static func seenMatrix(in tensors: [String: SafeTensors.Tensor], columns: Int? = nil) -> CSRMatrix? {
        guard let indptr = tensors["seen_indptr"]?.int64s(), let indices = tensors["seen_indices"]?.int32s(),
              let values = tensors["seen_values"]?.floats(), indptr.count >= 1, indices.count == values.count,
              indptr.first == 0, indptr.last == Int64(indices.count),
              zip(indptr, indptr.dropFirst()).allSatisfy({ $0 <= $1 }), indices.allSatisfy({ $0 >= 0 }) else { return nil }
        let width = columns ?? tensors["seen_shape"]?.int64s().last.map(Int.init) ?? (Int(indices.max() ?? -1) + 1)
        guard indices.allSatisfy({ Int($0) < width }) else { return nil }
        return CSRMatrix(rows: indptr.count - 1, columns: width, rowPointers: indptr.map { Int($0) }, columnIndices: indices, values: values)
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let c): return "corrupt JSON" + (c.codingPath.isEmpty ? "" : " at \(c.codingPath.map(\.stringValue).joined(separator: "."))")
        case DecodingError.keyNotFound(let key, _): return "missing field '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let c): return "wrong type at \(c.codingPath.map(\.stringValue).joined(separator: "."))"
        default: return "\(error)"
        }
    }
}
