/// Bad input to TailorData: what was wrong, where (file, line, field) and how to fix it.
///
/// Programmer mistakes are preconditions; everything a user's file or flag can cause is a
/// `DataError` (habit 6).
public struct DataError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of problem, for callers that react to it (the server maps these to HTTP problems).
    public enum Code: String, Sendable, Codable, CaseIterable {
        /// A row or value could not be parsed.
        case malformedInput = "malformed-input"
        /// A file is missing.
        case missingFile = "missing-file"
        /// A file exists but cannot be read or is of the wrong kind.
        case unreadableFile = "unreadable-file"
        /// A configuration value is out of range or of the wrong type.
        case invalidConfiguration = "invalid-configuration"
        /// A configuration names a key the type does not have.
        case unknownConfigurationKey = "unknown-configuration-key"
        /// Nothing usable was left to work on.
        case emptyData = "empty-data"
        /// Anything else a user's input caused.
        case invalidInput = "invalid-input"
    }

    /// What kind of problem.
    public var code: Code
    /// The underlying error, when this one wraps another (a decoding or file-system error).
    public var cause: (any Error & Sendable)?
    /// The file involved, if any.
    public var file: String?
    /// The 1-based line the problem starts on, if it concerns one row.
    public var line: Int?
    /// The column or option involved, if any.
    public var field: String?
    /// What is wrong.
    public var reason: String
    /// How to fix it.
    public var hint: String?

    /// A new error.
    public init(_ code: Code = .invalidInput, file: String? = nil, line: Int? = nil, field: String? = nil, reason: String, hint: String? = nil,
                cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.cause = cause
        self.file = file
        self.line = line
        self.field = field
        self.reason = reason
        self.hint = hint
    }

    /// Equal when everything but the cause is equal (causes are compared by description).
    public static func == (a: DataError, b: DataError) -> Bool {
        a.code == b.code && a.file == b.file && a.line == b.line && a.field == b.field && a.reason == b.reason && a.hint == b.hint
            && a.cause.map { "\($0)" } == b.cause.map { "\($0)" }
    }

    /// `file:line: field: reason. hint`
    public var description: String {
        var place = ""
        if let file { place = file }
        if let line { place += place.isEmpty ? "line \(line)" : ":\(line)" }
        var text = place.isEmpty ? "" : place + ": "
        if let field { text += "\(field): " }
        text += reason
        if let hint { text += ". " + hint }
        return text
    }
}
