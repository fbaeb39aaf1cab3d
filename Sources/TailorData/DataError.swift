/// Bad input to TailorData: what was wrong, where (file, line, field) and how to fix it.
///
/// Programmer mistakes are preconditions; everything a user's file or flag can cause is a
/// `DataError` (habit 6).
public struct DataError: Error, CustomStringConvertible, Sendable, Equatable {
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
    public init(file: String? = nil, line: Int? = nil, field: String? = nil, reason: String, hint: String? = nil) {
        self.file = file
        self.line = line
        self.field = field
        self.reason = reason
        self.hint = hint
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
