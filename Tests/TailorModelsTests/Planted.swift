import TailorData
import TailorLinalg

/// A log planted from known low-rank factors: each user interacts with the items of highest
/// true score `uᵀv` (rank `rank`), so a factorization model should recover the ranking.
func plantedLog(users: Int = 300, items: Int = 200, rank: Int = 3, perUser: Int = 25, seed: UInt64 = 3) -> (Interactions, truth: Matrix) {
    var rng = TailorRandom(seed: seed)
    let u = Matrix(rows: users, columns: rank, storage: (0..<(users * rank)).map { _ in Float(rng.nextGaussian()) })
    let v = Matrix(rows: items, columns: rank, storage: (0..<(items * rank)).map { _ in Float(rng.nextGaussian()) })
    let truth = u.multiplied(by: v, transposeOther: true)
    var us: [Int32] = [], its: [Int32] = []
    for user in 0..<users {
        let row = truth.row(user)
        let best = (0..<items).sorted { row[$0] > row[$1] }.prefix(perUser)
        for item in best { us.append(Int32(user)); its.append(Int32(item)) }
    }
    let log = Interactions(users: us, items: its, values: [Float](repeating: 1, count: us.count), timestamps: nil,
                           userIDs: IDMap((0..<users).map { "u\($0)" }), itemIDs: IDMap((0..<items).map { "i\($0)" }))
    return (log, truth)
}
