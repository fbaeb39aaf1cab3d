import TailorLinalg

/// Deterministic, lock-free parallel SGD by stratification (Gemulla et al., "Large-Scale Matrix
/// Factorization with Distributed Stochastic Gradient Descent", KDD 2011).
///
/// Each epoch, users and items are shuffled into `B` blocks (`B = 4·threads`). The `B × B` grid of
/// (user block, item block) cells is visited in `B` sub-epochs; sub-epoch `s` holds the cells
/// `(b, (b + s) mod B)`, which share no user and no item, and the workers take them dynamically
/// (more cells than workers keeps everyone busy). Workers update parameters without locks and
/// without races; each cell draws from its own random stream, so the result depends only on the
/// seed and `B`, never on thread timing (Hogwild-style updates would). Negative samples for BPR are drawn from
/// the cell's item block, which keeps them inside the worker's own items; the blocks are
/// reshuffled every epoch, so every item pair is eligible over epochs.
struct Strata {
    /// Number of blocks per side.
    let blocks: Int
    /// Items of each block.
    let itemsInBlock: [[Int32]]
    /// Users, items and values of the entries, grouped by cell `userBlock * T + itemBlock`
    /// (contiguous per cell, so a worker reads its cell sequentially from three arrays instead
    /// of chasing positions through the CSR).
    let users: [Int32]
    let items: [Int32]
    let values: [Float]
    /// Offsets of each cell in the arrays above.
    let cellOffsets: [Int]

    /// Random blocks for one epoch over the entries of `matrix` (users × items).
    init(_ matrix: CSRMatrix, blocks: Int, userOfPosition: [Int32], threads: Int, rng: inout TailorRandom) {
        self.blocks = blocks
        func assignment(_ n: Int) -> [Int32] {
            var order = Array(0..<n)
            for i in stride(from: n - 1, to: 0, by: -1) { order.swapAt(i, rng.nextInt(below: i + 1)) }
            var block = [Int32](repeating: 0, count: n)
            for (rank, x) in order.enumerated() { block[x] = Int32(rank % blocks) }
            return block
        }
        let userBlock = assignment(matrix.rows)
        let itemBlocks = assignment(matrix.columns)
        var members = [[Int32]](repeating: [], count: blocks)
        for i in 0..<matrix.columns { members[Int(itemBlocks[i])].append(Int32(i)) }
        itemsInBlock = members
        let nnz = matrix.nonZeroCount
        var cells = [Int32](repeating: 0, count: nnz)
        cells.withUnsafeMutableBufferPointer { out in
            let box = UnsafeSendable(out.baseAddress!)
            parallelFor(nnz, chunkSize: 1 << 16, threads: threads) { chunk in
                for p in chunk.range {
                    box.value[p] = userBlock[Int(userOfPosition[p])] * Int32(blocks) + itemBlocks[Int(matrix.columnIndices[p])]
                }
            }
        }
        let order = blocks == 1 ? Array(0..<nnz) : CountingSort.permutation(keys: cells, keyCount: blocks * blocks)
        var us = [Int32](repeating: 0, count: nnz), its = [Int32](repeating: 0, count: nnz), vs = [Float](repeating: 0, count: nnz)
        us.withUnsafeMutableBufferPointer { u in its.withUnsafeMutableBufferPointer { i in vs.withUnsafeMutableBufferPointer { v in
            let box = UnsafeSendable((u.baseAddress!, i.baseAddress!, v.baseAddress!))
            parallelFor(nnz, chunkSize: 1 << 16, threads: threads) { chunk in
                let (u, i, v) = box.value
                for e in chunk.range {
                    let p = order[e]
                    u[e] = userOfPosition[p]; i[e] = matrix.columnIndices[p]; v[e] = matrix.values[p]
                }
            }
        } } }
        users = us
        items = its
        values = vs
        var offsets = [Int](repeating: 0, count: blocks * blocks + 1)
        for c in cells { offsets[Int(c) + 1] += 1 }
        for c in 0..<(blocks * blocks) { offsets[c + 1] += offsets[c] }
        cellOffsets = offsets
    }

    /// The entry range of cell `(userBlock, itemBlock)`.
    func cell(_ userBlock: Int, _ itemBlock: Int) -> Range<Int> {
        let c = userBlock * blocks + itemBlock
        return cellOffsets[c]..<cellOffsets[c + 1]
    }

    /// Runs one epoch: `B` sub-epochs, each with up to `threads` workers on disjoint cells. `body` receives
    /// the cell's entry range (into ``users``, ``items``, ``values``), its item block, its index
    /// `userBlock·T + itemBlock` (each cell is visited once per epoch, so per-cell output slots
    /// need no locks) and a random stream unique to the cell.
    func runEpoch(epoch: Int, seed: UInt64, threads: Int, _ body: (_ entries: Range<Int>, _ itemBlock: Int, _ cell: Int, inout TailorRandom) -> Void) {
        for s in 0..<blocks {
            parallelFor(blocks, chunkSize: 1, threads: threads) { chunk in
                let t = chunk.index
                let ib = (t + s) % blocks
                var rng = TailorRandom(seed: seed, stream: UInt64(epoch * blocks * blocks + s * blocks + t) + 1_000)
                body(cell(t, ib), ib, t * blocks + ib, &rng)
            }
        }
    }
}

/// The user of every entry of a users × items CSR matrix.
func rowOfEachEntry(_ m: CSRMatrix) -> [Int32] {
    var rows = [Int32](repeating: 0, count: m.nonZeroCount)
    for r in 0..<m.rows { for p in m.range(ofRow: r) { rows[p] = Int32(r) } }
    return rows
}

/// Blocks per side for `threads` workers: four cells per worker per sub-epoch for balance.
func strataBlocks(threads: Int, users: Int, items: Int) -> Int {
    max(1, min(threads == 1 ? 1 : 4 * threads, users, items))
}

/// Shares raw pointers with the workers of one stratified sub-epoch (cells never overlap).
struct SharedParameters: @unchecked Sendable {
    let users: UnsafeMutablePointer<Float>
    let items: UnsafeMutablePointer<Float>
}
