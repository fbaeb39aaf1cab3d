/// Bad input to a model or a model file: what was wrong, where, and how to fix it.
public struct ModelError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of problem, for callers that react to it (the server maps these to HTTP
    /// problems: `.unknownUser` and `.unknownItem` to 404, configuration problems to 400).
    public enum Code: String, Sendable, Codable, CaseIterable {
        /// A user the model was not trained on.
        case unknownUser = "unknown-user"
        /// An item the model does not know.
        case unknownItem = "unknown-item"
        /// A model kind no registered model has.
        case unknownModelKind = "unknown-model-kind"
        /// A hyperparameter out of range or of the wrong type, or an unknown key.
        case invalidConfiguration = "invalid-configuration"
        /// Nothing to train on.
        case emptyData = "empty-data"
        /// The model cannot do what was asked (fold-in, similar items).
        case unsupported
        /// A model directory or file that is missing, damaged or not Tailor's.
        case invalidModelFile = "invalid-model-file"
        /// A model file from a newer Tailor.
        case newerFormat = "newer-format"
        /// Anything else.
        case other
    }

    /// What kind of problem.
    public var code: Code
    /// The file or directory involved, if any.
    public var path: String?
    /// What is wrong.
    public var reason: String
    /// How to fix it.
    public var hint: String?
    /// The underlying error, if this one wraps another.
    public var cause: (any Error & Sendable)?

    /// A new error.
    public init(_ code: Code = .other, path: String? = nil, reason: String, hint: String? = nil, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.path = path
        self.reason = reason
        self.hint = hint
        self.cause = cause
    }

    /// Equal when everything but the cause is equal (causes are compared by description).
    public static func == (a: ModelError, b: ModelError) -> Bool {
        a.code == b.code && a.path == b.path && a.reason == b.reason && a.hint == b.hint
            && a.cause.map { "\($0)" } == b.cause.map { "\($0)" }
    }

    /// `path: reason. hint`
    public var description: String {
        (path.map { "\($0): " } ?? "") + reason + (hint.map { ". " + $0 } ?? "")
    }
}
