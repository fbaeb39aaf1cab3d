import TailorData
import TailorLinalg
import TailorModels

/// Interactions from a file translated into a model's positions for evaluation.
public struct AlignedInteractions: Sendable {
    /// Users × items in the model's positions (unknown users and items dropped).
    public let matrix: CSRMatrix
    /// Rows whose user the model does not know (cold users).
    public let unknownUserRows: Int
    /// Rows whose item the model does not know (cold items).
    public let unknownItemRows: Int
    /// Distinct unknown users.
    public let unknownUsers: Int

    /// Translates `interactions` through the bundle's ID maps.
    public init(_ interactions: Interactions, to bundle: ModelBundle) {
        let userMap = interactions.userIDs.ids.map { bundle.userIDs.position(of: $0) }
        let itemMap = interactions.itemIDs.ids.map { bundle.itemIDs.position(of: $0) }
        var rows: [Int32] = [], columns: [Int32] = [], values: [Float] = []
        var badUsers = 0, badItems = 0
        var coldUsers = Set<Int32>()
        for i in 0..<interactions.count {
            guard let u = userMap[Int(interactions.users[i])] else {
                badUsers += 1; coldUsers.insert(interactions.users[i]); continue
            }
            guard let item = itemMap[Int(interactions.items[i])] else { badItems += 1; continue }
            rows.append(u); columns.append(item); values.append(interactions.values[i])
        }
        matrix = CSRMatrix(rows: bundle.userIDs.count, columns: bundle.itemIDs.count,
                           rowIndices: rows, columnIndices: columns, values: values)
        unknownUserRows = badUsers
        unknownItemRows = badItems
        unknownUsers = coldUsers.count
    }
}
