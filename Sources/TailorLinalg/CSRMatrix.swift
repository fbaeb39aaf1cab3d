/// A sparse matrix in compressed sparse row (CSR) form, `Float` values and `Int32` column indices.
///
/// Row `r` holds the entries `rowPointers[r]..<rowPointers[r+1]` of `columnIndices` and
/// `values`, with column indices strictly increasing within the row. Construction from
/// coordinates and transposition are O(nnz + rows + columns) with no per-row allocation
/// (two stable counting-sort passes), which is how the user×item matrix and its item×user
/// transpose are built.
public struct CSRMatrix: Sendable, Equatable {
    /// Number of rows.
    public let rows: Int
    /// Number of columns.
    public let columns: Int
    /// `rows + 1` offsets into ``columnIndices`` / ``values``.
    public let rowPointers: [Int]
    /// Column index of each stored entry, increasing within each row.
    public let columnIndices: [Int32]
    /// Value of each stored entry.
    public let values: [Float]

    /// Wraps existing CSR arrays after checking that they are consistent.
    public init(rows: Int, columns: Int, rowPointers: [Int], columnIndices: [Int32], values: [Float]) {
        precondition(rowPointers.count == rows + 1, "CSR needs rows+1 = \(rows + 1) row pointers, got \(rowPointers.count)")
        precondition(columnIndices.count == values.count, "CSR indices (\(columnIndices.count)) and values (\(values.count)) differ in length")
        precondition(rowPointers.first == 0 && rowPointers.last == values.count, "CSR row pointers must run from 0 to nnz")
        self.rows = rows
        self.columns = columns
        self.rowPointers = rowPointers
        self.columnIndices = columnIndices
        self.values = values
    }

    /// An empty `rows × columns` matrix.
    public init(rows: Int, columns: Int) {
        self.init(rows: rows, columns: columns, rowPointers: [Int](repeating: 0, count: rows + 1),
                  columnIndices: [], values: [])
    }

    /// Builds the matrix from coordinate triples; entries with the same `(row, column)` are summed.
    /// O(nnz + rows + columns).
    public init(rows: Int, columns: Int, rowIndices: [Int32], columnIndices: [Int32], values: [Float]) {
        precondition(rowIndices.count == columnIndices.count && columnIndices.count == values.count,
                     "coordinate arrays differ in length: \(rowIndices.count), \(columnIndices.count), \(values.count)")
        let byColumn = CountingSort.permutation(keys: columnIndices, keyCount: columns)
        let order = CountingSort.permutation(keys: rowIndices, keyCount: rows, order: byColumn)
        var pointers = [Int](repeating: 0, count: rows + 1)
        var outColumns = [Int32]()
        var outValues = [Float]()
        outColumns.reserveCapacity(order.count)
        outValues.reserveCapacity(order.count)
        var lastRow: Int32 = -1, lastColumn: Int32 = -1
        for p in order {
            let r = rowIndices[p], c = columnIndices[p]
            precondition(r >= 0 && Int(r) < rows && c >= 0 && Int(c) < columns,
                         "entry (\(r), \(c)) lies outside a \(rows)×\(columns) matrix")
            if r == lastRow && c == lastColumn {
                outValues[outValues.count - 1] += values[p]
            } else {
                outColumns.append(c)
                outValues.append(values[p])
                pointers[Int(r) + 1] += 1
                lastRow = r; lastColumn = c
            }
        }
        for r in 0..<rows { pointers[r + 1] += pointers[r] }
        self.init(rows: rows, columns: columns, rowPointers: pointers, columnIndices: outColumns, values: outValues)
    }

    /// Number of stored entries.
    @inlinable public var nonZeroCount: Int { values.count }

    /// Stored entries of row `r`, as a range into ``columnIndices`` and ``values``.
    @inlinable public func range(ofRow r: Int) -> Range<Int> { rowPointers[r]..<rowPointers[r + 1] }

    /// Column indices of row `r`.
    @inlinable public func columns(inRow r: Int) -> ArraySlice<Int32> { columnIndices[range(ofRow: r)] }

    /// Values of row `r`.
    @inlinable public func values(inRow r: Int) -> ArraySlice<Float> { values[range(ofRow: r)] }

    /// Number of entries in row `r`.
    @inlinable public func count(ofRow r: Int) -> Int { rowPointers[r + 1] - rowPointers[r] }

    /// The stored value at `(r, c)`, or `nil`. O(log nnz(row)).
    public func value(row r: Int, column c: Int32) -> Float? {
        var lo = rowPointers[r], hi = rowPointers[r + 1]
        while lo < hi {
            let mid = (lo + hi) / 2
            if columnIndices[mid] < c { lo = mid + 1 } else { hi = mid }
        }
        return lo < rowPointers[r + 1] && columnIndices[lo] == c ? values[lo] : nil
    }

    /// The transpose (`columns × rows`), rows sorted. O(nnz + rows + columns), no per-row allocation.
    public func transposed() -> CSRMatrix {
        var pointers = [Int](repeating: 0, count: columns + 1)
        for c in columnIndices { pointers[Int(c) + 1] += 1 }
        for c in 0..<columns { pointers[c + 1] += pointers[c] }
        var next = pointers
        var outColumns = [Int32](repeating: 0, count: nonZeroCount)
        var outValues = [Float](repeating: 0, count: nonZeroCount)
        // Scanning rows in order keeps each output row sorted.
        for r in 0..<rows {
            for p in rowPointers[r]..<rowPointers[r + 1] {
                let c = Int(columnIndices[p])
                outColumns[next[c]] = Int32(r)
                outValues[next[c]] = values[p]
                next[c] += 1
            }
        }
        return CSRMatrix(rows: columns, columns: rows, rowPointers: pointers, columnIndices: outColumns, values: outValues)
    }

    /// The same sparsity pattern with each value replaced by `transform(value)`.
    public func mapValues(_ transform: (Float) -> Float) -> CSRMatrix {
        CSRMatrix(rows: rows, columns: columns, rowPointers: rowPointers, columnIndices: columnIndices,
                  values: values.map(transform))
    }
}
