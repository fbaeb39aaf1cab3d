import Foundation

/// A problem with the input of an experiment, segmentation or drift computation: what is wrong,
/// where (`field`: an option or a file's field), and how to fix it.
public struct ExperimentError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The option, file or field at fault (`k`, `search-space.json: factors.low`, …), if any.
    public var field: String?
    /// What is wrong.
    public var reason: String
    /// How to fix it, if there is a way.
    public var hint: String?

    public init(field: String? = nil, _ reason: String, hint: String? = nil) {
        self.field = field
        self.reason = reason
        self.hint = hint
    }

    public var description: String {
        (field.map { "\($0): " } ?? "") + reason + (hint.map { " (\($0))" } ?? "")
    }
}
