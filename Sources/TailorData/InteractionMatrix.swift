import TailorLinalg

/// The user×item matrix of a log and its item×user transpose, both CSR.
///
/// Built in O(nnz + users + items) with no per-row allocation. Values are the interaction
/// strengths (after duplicate merging, duplicates are summed here if any remain).
public struct InteractionMatrix: Sendable, Equatable {
    /// Users × items.
    public let userItems: CSRMatrix
    /// Items × users (the transpose).
    public let itemUsers: CSRMatrix

    /// Number of users (rows of ``userItems``).
    public var userCount: Int { userItems.rows }
    /// Number of items (columns of ``userItems``).
    public var itemCount: Int { userItems.columns }
    /// Number of stored (user, item) pairs.
    public var nonZeroCount: Int { userItems.nonZeroCount }

    /// The matrix of `interactions`, sized by their ID maps (users or items without rows get
    /// empty rows).
    public init(_ interactions: Interactions) {
        let m = CSRMatrix(rows: interactions.userIDs.count, columns: interactions.itemIDs.count,
                          rowIndices: interactions.users, columnIndices: interactions.items, values: interactions.values)
        self.init(userItems: m)
    }

    /// A matrix from its user×item CSR form.
    public init(userItems: CSRMatrix) {
        self.userItems = userItems
        self.itemUsers = userItems.transposed()
    }

    /// The fraction of (user, item) cells that are empty.
    public var sparsity: Double {
        let cells = Double(userCount) * Double(itemCount)
        return cells == 0 ? 1 : 1 - Double(nonZeroCount) / cells
    }
}
