import TailorLinalg

/// Seeded random matrices and vectors for kernel-vs-reference tests.
func randomMatrix(_ rows: Int, _ columns: Int, seed: UInt64, scale: Float = 1) -> Matrix {
    var rng = TailorRandom(seed: seed)
    return Matrix(rows: rows, columns: columns, storage: (0..<(rows * columns)).map { _ in (rng.nextFloat() * 2 - 1) * scale })
}

func randomVector(_ n: Int, seed: UInt64) -> [Float] {
    var rng = TailorRandom(seed: seed)
    return (0..<n).map { _ in rng.nextFloat() * 2 - 1 }
}

/// Largest absolute difference relative to the largest magnitude in `expected` (at least 1).
func relativeError(_ actual: [Float], _ expected: [Float]) -> Float {
    precondition(actual.count == expected.count)
    let scale = max(1, expected.map(abs).max() ?? 1)
    return zip(actual, expected).map { abs($0 - $1) }.max().map { $0 / scale } ?? 0
}
