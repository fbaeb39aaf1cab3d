/// A dense, row-major matrix of `Float`.
///
/// `Matrix` is a value type: copies share storage until one is written (copy-on-write through
/// the underlying `Array`). Element `(r, c)` lives at `storage[r * columns + c]`, so each row is
/// contiguous, which is what the SIMD kernels in ``Kernels`` expect.
@frozen
public struct Matrix: Sendable, Equatable {
    /// Number of rows.
    public let rows: Int
    /// Number of columns (the length of each row).
    public let columns: Int
    /// Row-major elements, `rows * columns` of them.
    public var storage: [Float]

    /// A matrix filled with `value`.
    @inlinable
    public init(rows: Int, columns: Int, repeating value: Float = 0) {
        precondition(rows >= 0 && columns >= 0, "Matrix shape must be non-negative, got \(rows)×\(columns)")
        self.rows = rows
        self.columns = columns
        self.storage = [Float](repeating: value, count: rows * columns)
    }

    /// A matrix over existing row-major storage; `storage.count` must equal `rows * columns`.
    @inlinable
    public init(rows: Int, columns: Int, storage: [Float]) {
        precondition(storage.count == rows * columns,
                     "Matrix storage has \(storage.count) elements, shape \(rows)×\(columns) needs \(rows * columns)")
        self.rows = rows
        self.columns = columns
        self.storage = storage
    }

    /// A matrix whose rows are the given arrays (all the same length).
    public init(_ rowArrays: [[Float]]) {
        let columns = rowArrays.first?.count ?? 0
        precondition(rowArrays.allSatisfy { $0.count == columns }, "Matrix rows must all have \(columns) elements")
        self.init(rows: rowArrays.count, columns: columns, storage: rowArrays.flatMap { $0 })
    }

    /// Element at row `r`, column `c`.
    @inlinable
    public subscript(r: Int, c: Int) -> Float {
        get { storage[r &* columns &+ c] }
        set { storage[r &* columns &+ c] = newValue }
    }

    /// A copy of row `r`.
    @inlinable
    public func row(_ r: Int) -> [Float] {
        Array(storage[(r * columns)..<((r + 1) * columns)])
    }

    /// Replaces row `r` with `values` (`columns` long).
    @inlinable
    public mutating func setRow(_ r: Int, _ values: [Float]) {
        precondition(values.count == columns, "a row of \(columns) values, got \(values.count)")
        storage.replaceSubrange((r * columns)..<((r + 1) * columns), with: values)
    }

    /// The transpose, as a new matrix. O(rows × columns).
    public func transposed() -> Matrix {
        var result = Matrix(rows: columns, columns: rows)
        storage.withUnsafeBufferPointer { src in
            result.storage.withUnsafeMutableBufferPointer { dst in
                for r in 0..<rows {
                    for c in 0..<columns {
                        dst[c &* rows &+ r] = src[r &* columns &+ c]
                    }
                }
            }
        }
        return result
    }

    /// Rows `range` as a new matrix.
    public func rows(_ range: Range<Int>) -> Matrix {
        Matrix(rows: range.count, columns: columns,
               storage: Array(storage[(range.lowerBound * columns)..<(range.upperBound * columns)]))
    }

    /// Calls `body` with a pointer to the row-major elements.
    @inlinable
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try storage.withUnsafeBufferPointer(body)
    }

    /// Calls `body` with a mutable pointer to the row-major elements.
    @inlinable
    public mutating func withUnsafeMutableBufferPointer<R>(
        _ body: (inout UnsafeMutableBufferPointer<Float>) throws -> R
    ) rethrows -> R {
        try storage.withUnsafeMutableBufferPointer(body)
    }
}

extension Matrix: CustomStringConvertible {
    /// A short description with the shape and the first few elements.
    public var description: String {
        let preview = storage.prefix(6).map { String(format: "%.4g", $0) }.joined(separator: ", ")
        return "Matrix(\(rows)×\(columns): [\(preview)\(storage.count > 6 ? ", …" : "")])"
    }
}

import Foundation
