import Testing
@testable import TailorLinalg

@Suite("Solvers match their reference twins")
struct SolverTests {
    /// A symmetric positive-definite matrix `BᵀB + n·I`.
    func spd(_ n: Int, seed: UInt64) -> Matrix {
        var g = randomMatrix(n, n, seed: seed).gram()
        for i in 0..<n { g[i, i] += Float(n) }
        return g
    }

    @Test("Cholesky solve equals Gaussian elimination", arguments: [1, 2, 8, 33, 64])
    func cholesky(n: Int) throws {
        let a = spd(n, seed: 20)
        var b = randomVector(n, seed: 21)
        let expected = try #require(Reference.solve(a, b))
        var factor = a
        let ok = factor.withUnsafeMutableBufferPointer { Kernels.choleskyFactor($0.baseAddress!, n: n) }
        #expect(ok)
        factor.withUnsafeBufferPointer { l in b.withUnsafeMutableBufferPointer { Kernels.choleskySolve(l.baseAddress!, n: n, $0.baseAddress!) } }
        #expect(relativeError(b, expected) < 1e-4)
    }

    @Test("Cholesky reports a matrix that is not positive definite")
    func notPositiveDefinite() {
        var a = Matrix([[1, 2], [2, 1]])
        let ok = a.withUnsafeMutableBufferPointer { Kernels.choleskyFactor($0.baseAddress!, n: 2) }
        #expect(!ok)
    }

    /// A random implicit-ALS row problem: item factors, λ, observed items and confidences
    /// (one negative-feedback entry included).
    func problem(k: Int, items: Int, observed: Int, seed: UInt64) -> (gram: Matrix, factors: Matrix, indices: [Int32], confidences: [Float]) {
        let factors = randomMatrix(items, k, seed: seed, scale: 0.3)
        var gram = factors.gram()
        for i in 0..<k { gram[i, i] += 0.1 }
        var rng = TailorRandom(seed: seed + 1)
        let indices = Array(Set((0..<observed).map { _ in Int32(rng.nextInt(below: items)) })).sorted()
        let confidences = indices.enumerated().map { $0.offset == 1 ? -2.5 : 1 + Float(rng.nextInt(below: 5)) }
        return (gram, factors, indices, confidences)
    }

    @Test("exact implicit least squares equals the dense solution", arguments: [(4, 30, 5), (16, 100, 40), (64, 300, 25), (37, 80, 0)])
    func exact(shape: (Int, Int, Int)) throws {
        let (k, items, observed) = shape
        let p = problem(k: k, items: items, observed: observed, seed: 30)
        let expected = try #require(Reference.implicitLeastSquares(gram: p.gram, factors: p.factors, indices: p.indices, confidences: p.confidences))
        var x = [Float](repeating: 0, count: k)
        var scratch = [Float](repeating: 0, count: Kernels.implicitExactScratchCount(k: k, count: max(1, p.indices.count)))
        let ok = p.gram.withUnsafeBufferPointer { g in p.factors.withUnsafeBufferPointer { f in
            Kernels.implicitLeastSquaresExact(gram: g.baseAddress!, factors: f.baseAddress!, k: k,
                                              indices: p.indices, confidences: p.confidences, count: p.indices.count,
                                              x: &x, scratch: &scratch, block: max(1, p.indices.count))
        } }
        #expect(ok)
        #expect(relativeError(x, expected) < 2e-3)
    }

    @Test("the CG's fused pass over observations equals its reference, gathered or in place, for every remainder",
          arguments: [(16, 0), (16, 1), (64, 3), (64, 4), (64, 9), (20, 7), (5, 6), (128, 13), (100, 8)])
    func projections(shape: (Int, Int)) {
        let (k, observed) = shape
        let p = problem(k: k, items: 5_000, observed: observed, seed: 45)
        let v = randomVector(k, seed: 46), out0 = randomVector(k, seed: 47)
        // The observed rows copied out, as the CG gathers them.
        let gathered = p.indices.flatMap { p.factors.row(Int($0)) }
        for residual in [false, true] {
            let expected = Reference.implicitProjections(residual: residual, factors: p.factors, indices: p.indices,
                                                         confidences: p.confidences, v: v, out: out0)
            for useGathered in [false, true] {
                var out = out0
                p.factors.withUnsafeBufferPointer { f in gathered.withUnsafeBufferPointer { g in
                    Kernels.implicitProjections(residual ? .residual : .step, rows: useGathered ? g.baseAddress : nil,
                                                factors: f.baseAddress!, indices: p.indices, confidences: p.confidences,
                                                count: p.indices.count, k: k, v: v, out: &out)
                } }
                #expect(relativeError(out, expected) < 1e-5, "residual \(residual), gathered \(useGathered)")
            }
        }
    }

    @Test("the symmetric matrix–vector product equals gemv's reference", arguments: [1, 5, 15, 16, 17, 33, 48, 64, 65, 100, 128])
    func symmetricGemv(n: Int) {
        var a = randomMatrix(n + 3, n, seed: 48).gram()
        for i in 0..<n { a[i, i] += 1 }
        #expect((0..<n).allSatisfy { i in (0..<n).allSatisfy { j in a[i, j] == a[j, i] } }, "gram() is exactly symmetric")
        let x = randomVector(n, seed: 49)
        var y = [Float](repeating: .nan, count: n)
        a.withUnsafeBufferPointer { ap in Kernels.symmetricGemv(ap.baseAddress!, n: n, x, &y) }
        #expect(relativeError(y, Reference.gemv(a, x)) < 1e-5)
    }

    @Test("CG steps match textbook CG, and enough steps reach the exact solution", arguments: [(8, 50, 10), (64, 400, 60), (20, 40, 3)])
    func conjugateGradient(shape: (Int, Int, Int)) throws {
        let (k, items, observed) = shape
        let p = problem(k: k, items: items, observed: observed, seed: 40)
        let x0 = randomVector(k, seed: 41).map { $0 * 0.1 }
        for steps in [1, 3] {
            // In place, and with the observed rows gathered into scratch first (same arithmetic,
            // so the same bits), against the textbook reference.
            for gatherRows in [0, observed] {
                var x = x0
                var scratch = [Float](repeating: 0, count: Kernels.implicitCGScratchCount(k: k, gatherRows: gatherRows))
                p.gram.withUnsafeBufferPointer { g in p.factors.withUnsafeBufferPointer { f in
                    Kernels.implicitLeastSquaresCG(gram: g.baseAddress!, factors: f.baseAddress!, k: k,
                                                   indices: p.indices, confidences: p.confidences, count: p.indices.count,
                                                   x: &x, steps: steps, scratch: &scratch, gatherRows: gatherRows)
                } }
                let expected = Reference.implicitLeastSquaresCG(gram: p.gram, factors: p.factors, indices: p.indices,
                                                                confidences: p.confidences, x0: x0, steps: steps)
                #expect(relativeError(x, expected) < 1e-3, "steps \(steps), gather \(gatherRows)")
            }
        }
        // Many steps converge to the exact answer.
        var x = x0
        var scratch = [Float](repeating: 0, count: Kernels.implicitCGScratchCount(k: k))
        p.gram.withUnsafeBufferPointer { g in p.factors.withUnsafeBufferPointer { f in
            Kernels.implicitLeastSquaresCG(gram: g.baseAddress!, factors: f.baseAddress!, k: k,
                                           indices: p.indices, confidences: p.confidences, count: p.indices.count,
                                           x: &x, steps: 4 * k, scratch: &scratch)
        } }
        let exact = try #require(Reference.implicitLeastSquares(gram: p.gram, factors: p.factors, indices: p.indices, confidences: p.confidences))
        #expect(relativeError(x, exact) < 1e-3)
    }
}

@Suite("Symmetric inverse")
struct SymmetricInverseTests {
    @Test("the blocked sweep equals Gauss–Jordan, across block boundaries", arguments: [(1, 4), (7, 4), (33, 8), (130, 32), (200, 64)])
    func inverse(shape: (Int, Int)) throws {
        let (n, block) = shape
        var a = randomMatrix(n + 5, n, seed: 70).gram()
        for i in 0..<n { a[i, i] += 1 }
        let expected = try #require(Reference.inverse(a))
        var fast = a
        // Only the upper triangle is read: poison the lower one.
        for i in 0..<n { for j in 0..<i { fast[i, j] = .nan } }
        let ok = fast.withUnsafeMutableBufferPointer { Kernels.symmetricInverse($0.baseAddress!, n: n, blockSize: block, threads: 2) }
        #expect(ok)
        #expect(relativeError(fast.storage, expected.storage) < 1e-3)
        #expect((0..<n).allSatisfy { i in (0..<n).allSatisfy { j in fast[i, j] == fast[j, i] } })
    }

    @Test("a matrix that is not positive definite is reported")
    func indefinite() {
        var a = Matrix([[1, 0, 0], [0, -1, 0], [0, 0, 1]])
        let ok = a.withUnsafeMutableBufferPointer { Kernels.symmetricInverse($0.baseAddress!, n: 3, blockSize: 2) }
        #expect(!ok)
    }
}

@Suite("Ridge regression")
struct RidgeTests {
    @Test("the gathered-GEMM ridge solve equals the dense solution", arguments: [(4, 3, 2), (16, 40, 7), (33, 300, 64)])
    func ridge(shape: (Int, Int, Int)) throws {
        let (k, count, block) = shape
        let factors = randomMatrix(500, k, seed: 80)
        var rng = TailorRandom(seed: 81)
        let indices = (0..<count).map { _ in Int32(rng.nextInt(below: 500)) }
        let targets = randomVector(count, seed: 82)
        let penalty = (0..<k).map { Float($0 % 3) * 0.5 + 0.1 }
        let expected = try #require(Reference.ridge(factors: factors, indices: indices, targets: targets, penalty: penalty))
        var x = [Float](repeating: 0, count: k)
        var scratch = [Float](repeating: 0, count: Kernels.ridgeScratchCount(k: k, block: block))
        let ok = factors.withUnsafeBufferPointer { f in
            Kernels.ridgeLeastSquares(factors: f.baseAddress!, k: k, indices: indices, targets: targets, count: count,
                                      penalty: penalty, x: &x, scratch: &scratch, block: block)
        }
        #expect(ok)
        #expect(relativeError(x, expected) < 1e-3)
    }
}
