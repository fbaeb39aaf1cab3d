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

/// Session-parallel mini-batches (Hidasi et al. 2016): whole sequences laid end to end in
/// `lanes` parallel lanes, cut into chunks of `steps`; a recurrent network carries each lane's
/// state from one chunk to the next and resets it where a new sequence starts. Nothing is
/// truncated (a sequence longer than a window is read in full) and there is no padding but at
/// the lanes' ends.
struct SessionLanes {
    let lanes: Int
    let steps: Int
    /// Per lane: table rows (item position + 1), next items, whether a sequence starts there, and which sequence.
    let inputs: [[Int32]]
    let targets: [[Int32]]
    let starts: [[Bool]]
    let owners: [[Int32]]

    /// Lays `sequences` (those with two or more items, in `order`) into `lanes` lanes, each
    /// next to the lane that is shortest so far, so the lanes end within one sequence of each other.
    init(_ sequences: [ArraySlice<Int32>], order: [Int], lanes: Int, steps: Int) {
        precondition(lanes >= 1 && steps >= 1, "session lanes need at least one lane and one step")
        self.lanes = lanes
        self.steps = steps
        var inputs = [[Int32]](repeating: [], count: lanes), targets = [[Int32]](repeating: [], count: lanes)
        var starts = [[Bool]](repeating: [], count: lanes), owners = [[Int32]](repeating: [], count: lanes)
        for s in order where sequences[s].count >= 2 {
            let lane = inputs.indices.min { inputs[$0].count < inputs[$1].count }!
            let items = Array(sequences[s])
            for k in 0..<(items.count - 1) {
                inputs[lane].append(items[k] + 1)
                targets[lane].append(items[k + 1])
                starts[lane].append(k == 0)
                owners[lane].append(Int32(s))
            }
        }
        (self.inputs, self.targets, self.starts, self.owners) = (inputs, targets, starts, owners)
    }

    /// Chunks per pass.
    var chunks: Int { ((inputs.map(\.count).max() ?? 0) + steps - 1) / steps }

    /// Chunk `c` as `[lanes × steps]` rows, targets (−1 past a lane's end, where rows are 0),
    /// resets and owners (−1 past the end).
    func chunk(_ c: Int) -> (rows: [Int32], targets: [Int32], resets: [Bool], owners: [Int32]) {
        var rows = [Int32](repeating: 0, count: lanes * steps), next = [Int32](repeating: -1, count: lanes * steps)
        var resets = [Bool](repeating: false, count: lanes * steps), who = [Int32](repeating: -1, count: lanes * steps)
        for lane in 0..<lanes {
            let start = c * steps, end = min(inputs[lane].count, start + steps)
            guard start < end else { continue }
            for k in start..<end {
                let i = lane * steps + k - start
                rows[i] = inputs[lane][k]
                next[i] = targets[lane][k]
                resets[i] = starts[lane][k]
                who[i] = owners[lane][k]
            }
        }
        return (rows, next, resets, who)
    }
}
