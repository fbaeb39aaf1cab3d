import Testing
import TailorLinalg

@Suite("Int8 GEMM")
struct GEMMInt8Tests {
    /// The kernels this machine can run: the portable C loop always, VNNI where the CPU has it.
    static let kernels: [Bool] = Kernels.int8VNNI ? [false, true] : [false]

    @Test("equals the reference twin bit for bit: edges in every dimension, wide strides, two threads", arguments: kernels)
    func equalsReference(vnni: Bool) {
        for (m, n, k) in [(1, 1, 1), (12, 32, 4), (13, 33, 7), (25, 70, 300), (7, 17, 1537), (150, 100, 90), (200, 384, 384)] {
            let a = randomMatrix(m, k, seed: 41)
            let w = randomMatrix(n, k, seed: 42)  // a linear layer's [out, in] weight
            let packed = w.withUnsafeBufferPointer { Kernels.Int8PackedB(transposed: true, k: k, n: n, b: $0.baseAddress!, ldb: k) }
            let expected = Reference.gemmInt8(m: m, a: a.storage, packedB: packed)
            // A and C wider than the matrix, so strides are honoured; C's margin must stay put.
            let lda = k + 5, ldc = n + 3
            var wideA = [Float](repeating: .nan, count: m * lda)
            for i in 0..<m { for t in 0..<k { wideA[i * lda + t] = a[i, t] } }
            var c = [Float](repeating: -7, count: m * ldc)
            wideA.withUnsafeBufferPointer { ap in c.withUnsafeMutableBufferPointer { cp in
                Kernels.gemmInt8(m: m, a: ap.baseAddress!, lda: lda, packedB: packed, c: cp.baseAddress!, ldc: ldc, threads: 2, vnni: vnni)
            } }
            var mismatches = 0, marginTouched = 0
            for i in 0..<m {
                for j in 0..<n where c[i * ldc + j].bitPattern != expected[i * n + j].bitPattern { mismatches += 1 }
                for j in n..<ldc where c[i * ldc + j] != -7 { marginTouched += 1 }
            }
            #expect(mismatches == 0, "vnni=\(vnni) m=\(m) n=\(n) k=\(k): \(mismatches) entries differ from the reference")
            #expect(marginTouched == 0, "vnni=\(vnni) m=\(m) n=\(n) k=\(k): wrote past column \(n)")
        }
    }

    @Test("is close to the float product: cosine per row ≥ 0.999, and scaling a row scales its output", arguments: kernels)
    func closeToFloat(vnni: Bool) {
        let (m, n, k) = (40, 96, 384)
        var a = randomMatrix(m, k, seed: 51)
        for t in 0..<k { a[3, t] *= 1000; a[5, t] = 0 }  // one huge row, one zero row
        let w = randomMatrix(n, k, seed: 52, scale: 0.05)
        let packed = w.withUnsafeBufferPointer { Kernels.Int8PackedB(transposed: true, k: k, n: n, b: $0.baseAddress!, ldb: k) }
        let exact = Reference.gemm(a, w, transposeA: false, transposeB: true)
        var c = [Float](repeating: 0, count: m * n)
        a.withUnsafeBufferPointer { ap in c.withUnsafeMutableBufferPointer { cp in
            Kernels.gemmInt8(m: m, a: ap.baseAddress!, lda: k, packedB: packed, c: cp.baseAddress!, ldc: n, vnni: vnni)
        } }
        for i in 0..<m where i != 5 {
            let x = Array(c[(i * n)..<((i + 1) * n)]), y = (0..<n).map { exact[i, $0] }
            let dot = zip(x, y).reduce(Float(0)) { $0 + $1.0 * $1.1 }
            let cosine = dot / (x.map { $0 * $0 }.reduce(0, +).squareRoot() * y.map { $0 * $0 }.reduce(0, +).squareRoot())
            #expect(cosine >= 0.999, "row \(i): cosine \(cosine) to the float product")
        }
        #expect(c[(5 * n)..<(6 * n)].allSatisfy { $0 == 0 }, "a zero row must give zeros")
        // Row 3 is row 3 of the unscaled matrix × 1000: per-row scales make the int8 codes equal.
        var unscaled = a
        for t in 0..<k { unscaled[3, t] /= 1000 }
        let small = Reference.gemmInt8(m: m, a: unscaled.storage, packedB: packed)
        for j in 0..<n {
            let ratio = c[3 * n + j] / small[3 * n + j]
            #expect(abs(ratio - 1000) < 0.01, "column \(j): \(c[3 * n + j]) is not 1000 × \(small[3 * n + j])")
        }
    }

    @Test("quantized weights are within half a step of the originals, one scale per column")
    func weightsWithinHalfAStep() {
        let (n, k) = (45, 70)
        var w = randomMatrix(k, n, seed: 61)  // stored k × n (not transposed)
        for t in 0..<k { w[t, 7] = 0 }
        let packed = w.withUnsafeBufferPointer { Kernels.Int8PackedB(transposed: false, k: k, n: n, b: $0.baseAddress!, ldb: n) }
        for j in 0..<n {
            let largest = (0..<k).map { abs(w[$0, j]) }.max()!
            #expect(abs(packed.scale(j) - largest / 127) <= 1e-7, "column \(j)'s scale")
            for t in 0..<k {
                let q = packed.quantized(t, j)
                #expect(abs(q) <= 127)
                #expect(abs(Float(q) * packed.scale(j) - w[t, j]) <= packed.scale(j) / 2 * 1.0001, "(\(t), \(j))")
            }
        }
        #expect((0..<k).allSatisfy { packed.quantized($0, 7) == 0 } && packed.scale(7) == 0, "an all-zero column stays zero")
        #expect(packed.byteCount < n * k * 4 / 2, "int8 weights (padded to 32-column panels) must take under half the float matrix's \(n * k * 4) bytes, got \(packed.byteCount)")
    }
}
