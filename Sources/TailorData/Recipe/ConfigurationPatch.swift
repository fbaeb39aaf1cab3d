import Foundation

/// Configurations from JSON that name only what they change: a patch is merged over a type's
/// defaults (recursively for nested objects), keys the type does not have are refused by name,
/// and the result is decoded. This is how run files, `--config`, the tuner and the server build
/// configurations, so a file never has to spell out every field and a typo never passes silently.
public enum ConfigurationPatch {
    /// `defaults` with `patch` applied. `context` names the patched value in errors
    /// (`configuration`, `data.cleaning`).
    ///
    /// - Throws: ``DataError`` with code `.unknownConfigurationKey` naming the key and listing the
    ///   valid ones, or `.invalidConfiguration` when a value has the wrong type.
    public static func apply<C: Codable>(_ patch: JSONValue?, to defaults: C, context: String) throws -> C {
        guard let patch, patch != .null else { return defaults }
        guard case .object(let fields) = patch else {
            throw DataError(.invalidConfiguration, field: context, reason: "must be a JSON object of keys to change")
        }
        var base = try JSONValue(encoding: defaults)
        try merge(fields, into: &base, keys: knownKeys(defaults), context: context, defaults: defaults)
        do {
            return try base.decode(C.self)
        } catch let error as DecodingError {
            throw DataError(.invalidConfiguration, field: context + Self.path(of: error), reason: Self.describe(error),
                            hint: "see the documented keys and their types", cause: error)
        }
    }

    /// A configuration as JSON with every key present: optional keys that are `nil` appear as
    /// `null` (plain encoding leaves them out, and a reader would then take the default, so
    /// `"patience": null` would come back as the default patience).
    public static func encode<C: Encodable>(_ configuration: C) throws -> JSONValue {
        func complete(_ json: JSONValue, _ value: Any) -> JSONValue {
            guard case .object(var object) = json else { return json }
            for child in Mirror(reflecting: unwrapped(value)).children {
                guard let label = child.label.map({ $0.hasPrefix("_") ? String($0.dropFirst()) : $0 }) else { continue }
                if let present = object[label] {
                    if isStruct(child.value) { object[label] = complete(present, unwrapped(child.value)) }
                } else {
                    object[label] = .null
                }
            }
            return .object(object)
        }
        return complete(try JSONValue(encoding: configuration), configuration)
    }

    /// Keys a value of this type may have: its stored properties (optional ones included, which
    /// encode to nothing while `nil`).
    public static func knownKeys(_ value: Any) -> Set<String> {
        Set(Mirror(reflecting: unwrapped(value)).children.compactMap(\.label).map { $0.hasPrefix("_") ? String($0.dropFirst()) : $0 })
    }

    /// The value inside an optional (a `nil` one stays as it is).
    static func unwrapped(_ value: Any) -> Any {
        let mirror = Mirror(reflecting: value)
        if mirror.displayStyle == .optional, let inner = mirror.children.first?.value { return unwrapped(inner) }
        return value
    }

    private static func merge(_ fields: [String: JSONValue], into base: inout JSONValue, keys: Set<String>, context: String, defaults: Any) throws {
        guard case .object(var object) = base else { base = .object(fields); return }
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) {
            guard keys.contains(key) else {
                throw DataError(.unknownConfigurationKey, field: "\(context).\(key)",
                                reason: "unknown key '\(key)'; the keys are \(keys.sorted().joined(separator: ", "))")
            }
            // Nested structs merge key by key; anything else (numbers, enums, arrays) is replaced.
            if case .object(let nested) = value, case .object? = object[key],
               let child = Mirror(reflecting: unwrapped(defaults)).children.first(where: { $0.label == key || $0.label == "_" + key }).map({ unwrapped($0.value) }),
               isStruct(child) {
                var inner = object[key]!
                try merge(nested, into: &inner, keys: knownKeys(child), context: "\(context).\(key)", defaults: child)
                object[key] = inner
            } else {
                object[key] = value
            }
        }
        base = .object(object)
    }

    private static func isStruct(_ value: Any) -> Bool {
        let mirror = Mirror(reflecting: value)
        if mirror.displayStyle == .optional { return mirror.children.first.map { isStruct($0.value) } ?? false }
        return mirror.displayStyle == .struct
    }

    /// `.a.b[2]`: where in the JSON a decoding error happened.
    public static func path(of error: DecodingError) -> String {
        let path: [any CodingKey]
        switch error {
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c): path = c.codingPath
        case .keyNotFound(let key, let c): path = c.codingPath + [key]
        @unknown default: path = []
        }
        return path.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
    }

    /// What a decoding error says, in words.
    public static func describe(_ error: DecodingError) -> String {
        switch error {
        case .typeMismatch(let type, _): "expected \(type)"
        case .valueNotFound(let type, _): "expected \(type), found null"
        case .keyNotFound(let key, _): "missing key '\(key.stringValue)'"
        case .dataCorrupted(let c): c.debugDescription
        @unknown default: "\(error)"
        }
    }
}
