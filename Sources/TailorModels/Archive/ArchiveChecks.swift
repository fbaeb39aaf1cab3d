import TailorLinalg

/// Checks shared by the models' `init(archiveTensors:configuration:)`: a model file may be
/// damaged or crafted, and nothing in it may reach a trap (habit 6). Each check throws a
/// ``ModelError`` naming the tensor.
package enum ArchiveChecks {
    /// CSR-style row pointers: start at 0, never decrease, end at `count`.
    package static func pointers(_ p: [Int64]?, count: Int, name: String, model: String) throws -> [Int] {
        guard let p, p.count >= 1, p.first == 0, p.last == Int64(count),
              zip(p, p.dropFirst()).allSatisfy({ $0 <= $1 }) else {
            throw ModelError(.invalidModelFile, reason: "the \(model) model file's '\(name)' is missing or not a valid pointer array (it must start at 0, never decrease and end at \(count))",
                             hint: "the model directory is damaged; retrain the model")
        }
        return p.map { Int($0) }
    }

    /// Indices that must lie in `0..<bound`.
    package static func indices(_ i: [Int32], below bound: Int, name: String, model: String) throws {
        guard i.allSatisfy({ $0 >= 0 && Int($0) < bound }) else {
            throw ModelError(.invalidModelFile, reason: "the \(model) model file's '\(name)' has indices outside 0..<\(bound)",
                             hint: "the model directory is damaged; retrain the model")
        }
    }

    /// The stored factor width must be what the configuration says, since fold-in sizes its
    /// solves from the configuration.
    package static func factorWidth(_ stored: Int, configured: Int, model: String) throws {
        guard stored == configured else {
            throw ModelError(.invalidModelFile, reason: "the \(model) model file holds \(stored)-wide factor rows but its configuration implies \(configured)",
                             hint: "the model directory is damaged or was edited; retrain the model")
        }
    }

    /// Every value is finite (a NaN factor would poison every score it touches).
    package static func finite(_ m: Matrix, name: String, model: String) throws {
        guard m.storage.allSatisfy({ $0.isFinite }) else {
            throw ModelError(.invalidModelFile, reason: "the \(model) model file's '\(name)' holds NaN or infinite values",
                             hint: "the model diverged or the file is damaged; retrain (for SGD models, with a smaller learning rate)")
        }
    }
}
