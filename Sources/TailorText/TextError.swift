/// Bad input to TailorText (a checkpoint directory, a vocabulary, a text file): what was wrong,
/// where (file, tensor or field) and how to fix it. Programmer mistakes are preconditions
/// (habit 6).
public struct TextError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of problem.
    public enum Code: String, Sendable, Codable {
        /// A file the checkpoint needs is not there.
        case missingFile = "missing-file"
        /// A file exists but cannot be parsed.
        case malformedFile = "malformed-file"
        /// A tensor is missing or has the wrong shape.
        case tensorMismatch = "tensor-mismatch"
        /// The configuration asks for something this encoder does not implement.
        case unsupportedConfiguration = "unsupported-configuration"
        /// Anything else the input caused.
        case invalidInput = "invalid-input"
    }

    /// What kind of problem.
    public var code: Code
    /// The file involved, if any.
    public var file: String?
    /// The tensor, key or field involved, if any.
    public var field: String?
    /// What is wrong.
    public var reason: String
    /// How to fix it.
    public var hint: String?

    /// A new error.
    public init(_ code: Code, file: String? = nil, field: String? = nil, reason: String, hint: String? = nil) {
        self.code = code
        self.file = file
        self.field = field
        self.reason = reason
        self.hint = hint
    }

    /// `file: field: reason. hint`
    public var description: String {
        var text = file.map { $0 + ": " } ?? ""
        if let field { text += "\(field): " }
        text += reason
        if let hint { text += ". " + hint }
        return text
    }
}
