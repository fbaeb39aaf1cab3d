import Testing
@testable import TailorLinalg
import Foundation

@Suite("Vector kernels match their reference twins")
struct VectorKernelTests {
    @Test("dot product", arguments: [0, 1, 7, 16, 31, 32, 33, 64, 100, 257])
    func dot(n: Int) {
        let x = randomVector(n, seed: 1), y = randomVector(n, seed: 2)
        let fast = x.withUnsafeBufferPointer { xp in y.withUnsafeBufferPointer { yp in
            Kernels.dot(xp.baseAddress ?? UnsafePointer(bitPattern: 8)!, yp.baseAddress ?? UnsafePointer(bitPattern: 8)!, count: n)
        } }
        #expect(abs(fast - Reference.dot(x, y)) <= 1e-4 * Float(max(1, n)))
    }

    @Test("axpy and scale", arguments: [1, 15, 16, 17, 64, 99])
    func axpy(n: Int) {
        let x = randomVector(n, seed: 3)
        var y = randomVector(n, seed: 4)
        let expected = Reference.axpy(0.75, x, y)
        x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { yp in
            Kernels.axpy(0.75, xp.baseAddress!, yp.baseAddress!, count: n)
        } }
        #expect(relativeError(y, expected) < 1e-6)
        y.withUnsafeMutableBufferPointer { Kernels.scale(-2, $0.baseAddress!, count: n) }
        #expect(relativeError(y, expected.map { -2 * $0 }) < 1e-6)
    }

    @Test("matrix–vector product", arguments: [(1, 1), (3, 5), (4, 16), (17, 33), (64, 64), (70, 10)])
    func gemv(shape: (Int, Int)) {
        let a = randomMatrix(shape.0, shape.1, seed: 5), x = randomVector(shape.1, seed: 6)
        var y = [Float](repeating: .nan, count: shape.0)
        a.withUnsafeBufferPointer { ap in x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { yp in
            Kernels.gemv(ap.baseAddress!, lda: shape.1, rows: shape.0, columns: shape.1, xp.baseAddress!, yp.baseAddress!)
        } } }
        #expect(relativeError(y, Reference.gemv(a, x)) < 1e-5)
    }

    @Test("maximum over sixteen lanes equals the scalar maximum", arguments: [0, 1, 15, 16, 17, 100, 225])
    func maximum(n: Int) {
        var x = randomVector(n, seed: UInt64(n) &+ 3)
        if n > 20 { x[n - 3] = 7 }  // the largest in the scalar tail
        let fast = x.withUnsafeBufferPointer { Kernels.maximum($0.baseAddress ?? UnsafePointer(bitPattern: 8)!, count: n) }
        #expect(fast == Reference.maximum(x))
    }

    @Test("exp over sixteen lanes: within 4·10⁻⁷ of expf where the result is normal, the same sum, and the edges", arguments: [0, 1, 15, 16, 17, 100, 4099])
    func exp(n: Int) {
        var rng = TailorRandom(seed: UInt64(n) &+ 9)
        // Spread over the whole range, near the underflow and overflow edges too.
        var x = (0..<n).map { i -> Float in
            switch i % 4 {
            case 0: return rng.nextFloat() * 180 - 90
            case 1: return rng.nextFloat() * 20 - 10
            case 2: return -87.3 + rng.nextFloat() * 0.1
            default: return 88.6 + rng.nextFloat() * 0.1
            }
        }
        var expected = x
        let fastSum = x.withUnsafeMutableBufferPointer { Kernels.expShifted($0.baseAddress ?? UnsafeMutablePointer(bitPattern: 8)!, count: n, shift: 0.5) }
        let slowSum = expected.withUnsafeMutableBufferPointer { Reference.expShifted($0.baseAddress ?? UnsafeMutablePointer(bitPattern: 8)!, count: n, shift: 0.5) }
        for i in 0..<n {
            if expected[i] >= Float.leastNormalMagnitude && expected[i].isFinite {
                #expect(abs(x[i] - expected[i]) <= 4e-7 * expected[i], "exp at \(i): \(x[i]) vs \(expected[i])")
            } else {
                #expect(x[i] == expected[i] || (x[i] == 0 && expected[i] < Float.leastNormalMagnitude), "edge at \(i): \(x[i]) vs \(expected[i])")
            }
        }
        #expect(abs(fastSum - slowSum) <= 1e-5 * max(1, abs(slowSum)) || (fastSum.isInfinite && slowSum.isInfinite))
        // Special values, in a full vector of lanes.
        var special: [Float] = [0, -0, 1, -1, .infinity, -.infinity, .nan, -200, 200, 88.72, -87.33, 1e-8, -1e-8, 10, -10, 0.6931472]
        let want = special.map { expf($0) }
        _ = special.withUnsafeMutableBufferPointer { Kernels.expShifted($0.baseAddress!, count: 16, shift: 0) }
        for (got, w) in zip(special, want) {
            if w.isNaN { #expect(got.isNaN) } else if w < Float.leastNormalMagnitude || w.isInfinite { #expect(got == w || got == 0) }
            else { #expect(abs(got - w) <= 4e-7 * w, "\(got) vs \(w)") }
        }
    }
}

@Suite("Transformer row kernels match their reference twins")
struct RowKernelTests {
    @Test("GELU with bias: within 3·10⁻⁷ absolute of the erff formula, plus the edges", arguments: [(1, 1), (3, 17), (5, 384), (2, 1536)])
    func gelu(shape: (Int, Int)) {
        let (rows, width) = shape
        var rng = TailorRandom(seed: UInt64(rows * 1000 + width))
        var x = (0..<(rows * width)).map { _ in rng.nextFloat() * 16 - 8 }
        if x.count >= 8 { x.replaceSubrange(0..<8, with: [0, -0, 1e-8, -1e-8, 40, -40, 3, -3]) }
        let bias = (0..<width).map { _ in rng.nextFloat() - 0.5 }
        var expected = x
        Reference.gelu(&expected, bias: bias, rows: rows, width: width)
        x.withUnsafeMutableBufferPointer { xp in bias.withUnsafeBufferPointer { bp in
            Kernels.gelu(xp.baseAddress!, bias: bp.baseAddress!, rows: rows, width: width)
        } }
        // erf's 1.5·10⁻⁷ times |v|/2, plus float rounding of 0.5·v·(1 + erf).
        for i in 0..<x.count {
            let v = abs(expected[i]) + 1
            #expect(abs(x[i] - expected[i]) <= 3e-7 * v + 1e-6 * abs(expected[i]), "at \(i): \(x[i]) vs \(expected[i])")
        }
    }

    @Test("layer norm: within 2·10⁻⁶ of the double-precision twin", arguments: [(1, 1), (4, 15), (3, 384), (2, 1000)])
    func layerNorm(shape: (Int, Int)) {
        let (rows, width) = shape
        var rng = TailorRandom(seed: UInt64(rows * 77 + width))
        var x = (0..<(rows * width)).map { _ in rng.nextFloat() * 6 - 2 }
        let gamma = (0..<width).map { _ in rng.nextFloat() + 0.5 }, beta = (0..<width).map { _ in rng.nextFloat() - 0.5 }
        var expected = x
        Reference.layerNorm(&expected, rows: rows, width: width, gamma: gamma, beta: beta, epsilon: 1e-12)
        x.withUnsafeMutableBufferPointer { xp in gamma.withUnsafeBufferPointer { g in beta.withUnsafeBufferPointer { b in
            Kernels.layerNorm(xp.baseAddress!, rows: rows, width: width, gamma: g.baseAddress!, beta: b.baseAddress!, epsilon: 1e-12)
        } } }
        #expect(relativeError(x, expected) < 2e-6)
    }
}

@Suite("GEMM matches the triple loop")
struct GEMMTests {
    @Test("all transpose combinations and edge shapes",
          arguments: [(1, 1, 1), (6, 16, 8), (7, 17, 3), (13, 40, 300), (100, 33, 70), (97, 530, 20)])
    func gemm(shape: (Int, Int, Int)) {
        let (m, n, k) = shape
        for transposeA in [false, true] {
            for transposeB in [false, true] {
                let a = transposeA ? randomMatrix(k, m, seed: 7) : randomMatrix(m, k, seed: 7)
                let b = transposeB ? randomMatrix(n, k, seed: 8) : randomMatrix(k, n, seed: 8)
                let fast = a.multiplied(by: b, transposeSelf: transposeA, transposeOther: transposeB)
                let slow = Reference.gemm(a, b, transposeA: transposeA, transposeB: transposeB)
                #expect(relativeError(fast.storage, slow.storage) < 1e-4, "m=\(m) n=\(n) k=\(k) tA=\(transposeA) tB=\(transposeB)")
            }
        }
    }

    @Test("each micro-kernel (AVX2 6×16, AVX-512 12×32) matches the triple loop: transposes, edges, alpha, beta, two threads",
          arguments: Kernels.GEMMKernel.allCases)
    func everyKernel(kernel: Kernels.GEMMKernel) {
        for (m, n, k) in [(1, 1, 1), (12, 32, 8), (13, 33, 300), (25, 70, 33), (100, 600, 70), (250, 530, 40), (600, 700, 40)] {
            for transposeA in [false, true] {
                for transposeB in [false, true] {
                    let a = transposeA ? randomMatrix(k, m, seed: 31) : randomMatrix(m, k, seed: 31)
                    let b = transposeB ? randomMatrix(n, k, seed: 32) : randomMatrix(k, n, seed: 32)
                    var c = randomMatrix(m, n, seed: 33)
                    let expected = Reference.gemm(a, b, transposeA: transposeA, transposeB: transposeB, alpha: 0.5, beta: -1.5, c: c)
                    a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                        Kernels.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 0.5,
                                     a: ap.baseAddress!, lda: transposeA ? m : k, b: bp.baseAddress!, ldb: transposeB ? k : n,
                                     beta: -1.5, c: cp.baseAddress!, ldc: n, threads: 2, kernel: kernel)
                    } } }
                    #expect(relativeError(c.storage, expected.storage) < 1e-4, "\(kernel) m=\(m) n=\(n) k=\(k) tA=\(transposeA) tB=\(transposeB)")
                }
            }
        }
    }

    @Test("a product with B packed beforehand equals the ordinary product bit for bit", arguments: Kernels.GEMMKernel.allCases)
    func prepacked(kernel: Kernels.GEMMKernel) {
        for (m, n, k) in [(1, 1, 1), (13, 33, 300), (97, 530, 20), (60, 100, 600), (150, 400, 100)] {
            for transposed in [false, true] {
                for threads in [1, 2] {
                    let a = randomMatrix(m, k, seed: 41), b = transposed ? randomMatrix(n, k, seed: 42) : randomMatrix(k, n, seed: 42)
                    var plain = randomMatrix(m, n, seed: 43), packedC = plain
                    a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in
                        plain.withUnsafeMutableBufferPointer { cp in
                            Kernels.gemm(transposeB: transposed, m: m, n: n, k: k, alpha: 0.5, a: ap.baseAddress!, lda: k, b: bp.baseAddress!,
                                         ldb: transposed ? k : n, beta: 2, c: cp.baseAddress!, ldc: n, threads: threads, kernel: kernel)
                        }
                        let packed = Kernels.PackedB(transposed: transposed, k: k, n: n, b: bp.baseAddress!, ldb: transposed ? k : n, kernel: kernel)
                        packedC.withUnsafeMutableBufferPointer { cp in
                            Kernels.gemm(m: m, alpha: 0.5, a: ap.baseAddress!, lda: k, packedB: packed, beta: 2, c: cp.baseAddress!, ldc: n, threads: threads)
                        }
                    } }
                    #expect(plain.storage == packedC.storage, "\(kernel) m=\(m) n=\(n) k=\(k) transposed=\(transposed) threads=\(threads)")
                }
            }
        }
    }

    @Test("alpha, beta and accumulation into C, in parallel")
    func alphaBeta() {
        let (m, n, k) = (150, 600, 300)  // > 1M multiply-adds, so two workers run
        let a = randomMatrix(m, k, seed: 9), b = randomMatrix(k, n, seed: 10)
        var c = randomMatrix(m, n, seed: 11)
        let expected = Reference.gemm(a, b, alpha: 0.5, beta: -1.5, c: c)
        a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
            Kernels.gemm(m: m, n: n, k: k, alpha: 0.5, a: ap.baseAddress!, lda: k, b: bp.baseAddress!, ldb: n,
                         beta: -1.5, c: cp.baseAddress!, ldc: n, threads: 2)
        } } }
        #expect(relativeError(c.storage, expected.storage) < 1e-4)
    }

    @Test("parallel tasks by rows and by columns, and B wider than one packed block, equal the serial product",
          arguments: [(600, 700, 40), (13, 2000, 300), (8, 4200, 1030)])
    func parallelShapes(shape: (Int, Int, Int)) {
        let (m, n, k) = shape
        for transposeB in [false, true] {
            let a = randomMatrix(m, k, seed: 21), b = transposeB ? randomMatrix(n, k, seed: 22) : randomMatrix(k, n, seed: 22)
            let two = a.multiplied(by: b, transposeOther: transposeB, threads: 2)
            let one = a.multiplied(by: b, transposeOther: transposeB, threads: 1)
            #expect(two.storage == one.storage, "same tiles and depth order, so the same bits")
            if m * n * k < 10_000_000 {
                let slow = Reference.gemm(a, b, transposeB: transposeB)
                #expect(relativeError(two.storage, slow.storage) < 1e-4)
            } else {
                // Spot-check rows against the dot products of the reference definition.
                for i in [0, m / 2, m - 1] {
                    for j in [0, 1, n / 3, n - 1] {
                        var sum: Double = 0
                        for p in 0..<k { sum += Double(a[i, p]) * Double(transposeB ? b[j, p] : b[p, j]) }
                        #expect(abs(Double(two[i, j]) - sum) < 1e-3 * max(1, abs(sum)))
                    }
                }
            }
        }
    }

    @Test("a deep product (a Gram matrix over many rows) is computed in depth slices that accumulate into C")
    func deep() {
        let (m, n, k) = (20, 40, 70_000)  // packed B for the whole depth would exceed the limit: 4 slices
        #expect(k * n > Kernels.gemmPackedBLimit)
        for transposeA in [false, true] {
            for transposeB in [false, true] {
                let a = transposeA ? randomMatrix(k, m, seed: 31) : randomMatrix(m, k, seed: 31)
                let b = transposeB ? randomMatrix(n, k, seed: 32) : randomMatrix(k, n, seed: 32)
                var c = randomMatrix(m, n, seed: 33)
                let expected = Reference.gemm(a, b, transposeA: transposeA, transposeB: transposeB, alpha: 0.5, beta: 2, c: c)
                a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                    Kernels.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 0.5,
                                 a: ap.baseAddress!, lda: transposeA ? m : k, b: bp.baseAddress!, ldb: transposeB ? k : n,
                                 beta: 2, c: cp.baseAddress!, ldc: n, threads: 2)
                } } }
                #expect(relativeError(c.storage, expected.storage) < 1e-4, "tA=\(transposeA) tB=\(transposeB)")
            }
        }
    }

    @Test("beta = 0 ignores NaN already in C")
    func betaZeroIgnoresGarbage() {
        let a = randomMatrix(8, 8, seed: 12), b = randomMatrix(8, 8, seed: 13)
        var c = Matrix(rows: 8, columns: 8, repeating: .nan)
        a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
            Kernels.gemm(m: 8, n: 8, k: 8, a: ap.baseAddress!, lda: 8, b: bp.baseAddress!, ldb: 8, c: cp.baseAddress!, ldc: 8)
        } } }
        #expect(c.storage.allSatisfy { $0.isFinite })
    }
}

@Suite("Top-K selection")
struct TopKTests {
    @Test("matches a full sort, ties by lower index", arguments: [(0, 5), (1, 1), (10, 3), (100, 10), (1000, 50), (37, 100)])
    func topK(shape: (Int, Int)) {
        let (n, k) = shape
        var rng = TailorRandom(seed: 14)
        // Few distinct values so ties are common; a few excluded items.
        let scores: [Float] = (0..<n).map { i in i % 11 == 3 ? -.infinity : Float(rng.nextInt(below: 20)) }
        var idx = [Int32](repeating: -1, count: k), sc = [Float](repeating: 0, count: k)
        let found = scores.withUnsafeBufferPointer { s in
            Kernels.topK(s.baseAddress ?? UnsafePointer(bitPattern: 8)!, count: n, k: k,
                         outIndices: &idx, outScores: &sc)
        }
        let expected = Reference.topK(scores, k: k)
        #expect(found == expected.count)
        #expect(Array(idx.prefix(found)) == expected.map(\.index))
        #expect(Array(sc.prefix(found)) == expected.map(\.score))
    }

    @Test("NaN scores are never returned")
    func nanSkipped() {
        let scores: [Float] = [1, .nan, 3, .nan]
        var idx = [Int32](repeating: -1, count: 4), sc = [Float](repeating: 0, count: 4)
        let found = Kernels.topK(scores, count: 4, k: 4, outIndices: &idx, outScores: &sc)
        #expect(found == 2)
        #expect(Array(idx.prefix(2)) == [2, 0])
    }

    @Test("fused inner-product top-K with exclusions matches scoring everything",
          arguments: [(1, 1, 3, 1), (50, 700, 8, 10), (97, 1030, 64, 20), (5, 9, 13, 50)])
    func fused(shape: (Int, Int, Int, Int)) {
        let (q, n, d, k) = shape
        // Integer-valued vectors make every score exact, so ties compare exactly.
        var rng = TailorRandom(seed: 15)
        let queries = Matrix(rows: q, columns: d, storage: (0..<(q * d)).map { _ in Float(rng.nextInt(below: 5)) - 2 })
        let items = Matrix(rows: n, columns: d, storage: (0..<(n * d)).map { _ in Float(rng.nextInt(below: 5)) - 2 })
        let exclusions: [[Int32]] = (0..<q).map { row in
            (0..<n).filter { ($0 * 7 + row) % 5 == 0 }.map(Int32.init)
        }
        let fast = Kernels.topKInnerProducts(queries: queries, items: items, k: k,
                                             exclude: { exclusions[$0][...] }, threads: 2)
        let slow = Reference.topKInnerProducts(queries: queries, items: items, k: k,
                                               exclude: { Set(exclusions[$0]) })
        for row in 0..<q {
            #expect(fast.row(row).map(\.index) == slow[row].map(\.index), "query \(row)")
            #expect(fast.row(row).map(\.score) == slow[row].map(\.score), "query \(row)")
        }
    }
}

@Suite("Embedding kernels")
struct EmbeddingKernelTests {
    @Test("the fused skip-gram update equals two axpys", arguments: [1, 16, 17, 64, 70])
    func skipGram(n: Int) {
        let input = randomVector(n, seed: 90), output0 = randomVector(n, seed: 91), gradient0 = randomVector(n, seed: 92)
        var output = output0, gradient = gradient0
        Kernels.skipGramUpdate(0.3, input: input, output: &output, gradient: &gradient, count: n)
        let expected = Reference.skipGramUpdate(0.3, input: input, output: output0, gradient: gradient0)
        #expect(relativeError(output, expected.output) < 1e-6)
        #expect(relativeError(gradient, expected.gradient) < 1e-6)
    }

    @Test("the SIMD BPR update equals the scalar reference", arguments: [1, 16, 20, 64, 65])
    func bpr(n: Int) {
        var x = randomVector(n, seed: 93), yi = randomVector(n, seed: 94), yj = randomVector(n, seed: 95)
        let expected = Reference.bprUpdate(x: x, yi: yi, yj: yj, learningRate: 0.05, gradient: 0.7, regularization: 0.01)
        Kernels.bprUpdate(&x, &yi, &yj, count: n, learningRate: 0.05, gradient: 0.7, regularization: 0.01)
        #expect(relativeError(x, expected.x) < 1e-6 && relativeError(yi, expected.yi) < 1e-6 && relativeError(yj, expected.yj) < 1e-6)
    }

    @Test("the table sigmoid is within 4e-3 of the exact one")
    func sigmoid() {
        for i in 0...2000 {
            let x = Float(i) / 100 - 10
            #expect(abs(Kernels.fastSigmoid(x) - 1 / (1 + exp(-x))) < 4e-3, "x = \(x)")
        }
    }
}
