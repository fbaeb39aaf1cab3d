import TailorLinalg
import TailorModels

/// Users' item sequences cut into the fixed windows sequence models read: the latest
/// `length` items, left-padded with 0 (table rows are item position + 1, row 0 is padding).
struct SequenceWindows {
    /// Window length T.
    let length: Int

    /// `[count × T]` rows of the latest items of each sequence (oldest first, padding on the
    /// left), and how many real items each window holds.
    func inputs(_ sequences: [ArraySlice<Int32>]) -> (rows: [Int32], filled: [Int]) {
        var rows = [Int32](repeating: 0, count: sequences.count * length)
        var filled: [Int] = []
        filled.reserveCapacity(sequences.count)
        for (b, s) in sequences.enumerated() {
            let recent = s.suffix(length)
            let start = b * length + length - recent.count
            for (k, item) in recent.enumerated() { rows[start + k] = item + 1 }
            filled.append(recent.count)
        }
        return (rows, filled)
    }

    /// Training windows: inputs are the latest `T + 1` items but the last, targets the items one
    /// step later (item positions, −1 where the input is padding).
    func training(_ sequences: [ArraySlice<Int32>]) -> (rows: [Int32], targets: [Int32]) {
        var rows = [Int32](repeating: 0, count: sequences.count * length)
        var targets = [Int32](repeating: -1, count: sequences.count * length)
        for (b, s) in sequences.enumerated() {
            let recent = Array(s.suffix(length + 1))
            guard recent.count >= 2 else { continue }
            let n = recent.count - 1
            let start = b * length + length - n
            for k in 0..<n {
                rows[start + k] = recent[k] + 1
                targets[start + k] = recent[k + 1]
            }
        }
        return (rows, targets)
    }
}

/// Counted problems met while reading live sequences: never fatal, never silent.
public struct SequenceWarnings: Sendable, Codable, Equatable {
    /// Items in a live sequence that the model was not trained on (left out).
    public var unknownItems = 0
    /// Items dropped because a sequence was longer than the model's window (the latest kept).
    public var truncatedItems = 0
    /// Users whose sequence was empty after that (scored as a user with no history).
    public var emptySequences = 0

    /// Whether anything was counted.
    public var isEmpty: Bool { self == SequenceWarnings() }
}
