/// Bad input to a model or a model file: what was wrong, where, and how to fix it.
public struct ModelError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file or directory involved, if any.
    public var path: String?
    /// What is wrong.
    public var reason: String
    /// How to fix it.
    public var hint: String?

    /// A new error.
    public init(path: String? = nil, reason: String, hint: String? = nil) {
        self.path = path
        self.reason = reason
        self.hint = hint
    }

    /// `path: reason. hint`
    public var description: String {
        (path.map { "\($0): " } ?? "") + reason + (hint.map { ". " + $0 } ?? "")
    }
}
