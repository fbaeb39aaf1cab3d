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
            if case .dataCorrupted(let c) = error, let current = value(in: defaults, at: c.codingPath), let allowed = allowedValues(of: current) {
                let given = switch given(in: base, at: c.codingPath) {
                case .string(let text)?: "'\(text)'"
                case .number(let n)?: n == n.rounded() && abs(n) < 1e15 ? String(Int(n)) : String(n)
                default: "the value"
                }
                throw DataError(.invalidConfiguration, field: context + Self.path(of: error), reason: "\(given) is not one of \(allowed.joined(separator: ", "))",
                                hint: "use one of the listed values (spelled as shown)", cause: error)
            }
            throw DataError(.invalidConfiguration, field: context + Self.path(of: error), reason: Self.describe(error),
                            hint: "see the documented keys and their types", cause: error)
        }
    }

    /// The value at `path` inside `root` (a configuration), found by reflection; nil where the
    /// path leaves it (a nil optional, an index past an array's end).
    static func value(in root: Any, at path: [any CodingKey]) -> Any? {
        var current = unwrapped(root)
        for key in path {
            let children = Array(Mirror(reflecting: current).children)
            if let index = key.intValue {
                guard index < children.count else { return nil }
                current = unwrapped(children[index].value)
            } else {
                guard let child = children.first(where: { $0.label == key.stringValue || $0.label == "_" + key.stringValue }) else { return nil }
                current = unwrapped(child.value)
            }
            if Mirror(reflecting: current).displayStyle == .optional { return nil }
        }
        return current
    }

    /// The JSON at `path` in a patched configuration.
    private static func given(in json: JSONValue, at path: [any CodingKey]) -> JSONValue? {
        var current = json
        for key in path {
            switch current {
            case .object(let fields): guard let next = fields[key.stringValue] else { return nil }; current = next
            case .array(let items): guard let i = key.intValue, i < items.count else { return nil }; current = items[i]
            default: return nil
            }
        }
        return current
    }

    /// The spellings an enum setting accepts (its raw values), or nil for other values.
    static func allowedValues(of value: Any) -> [String]? {
        guard let type = type(of: value) as? any CaseIterable.Type else { return nil }
        func cases<T: CaseIterable>(_: T.Type) -> [String] {
            T.allCases.map { c in (c as? any RawRepresentable).map { "\($0.rawValue)" } ?? "\(c)" }
        }
        return cases(type)
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
