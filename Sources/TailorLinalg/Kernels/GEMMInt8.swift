import CTailorInt8
import Foundation

extension Kernels {
    /// Whether ``gemmInt8(m:a:lda:packedB:c:ldc:threads:vnni:)`` runs the AVX-512 VNNI
    /// micro-kernel on this CPU (checked once at run time). Without it the int8 product runs a
    /// portable C loop: correct, but far slower than the float GEMM, so quantization only pays
    /// where this is `true` (Intel Ice Lake / Sapphire Rapids and later, AMD Zen 4 and later).
    /// `TAILOR_INT8_KERNEL=portable` in the environment forces the portable loop.
    public static let int8VNNI: Bool = {
        if ProcessInfo.processInfo.environment["TAILOR_INT8_KERNEL"] == "portable" { return false }
        return tailor_int8_vnni_available() != 0
    }()

    /// A weight matrix quantized to 8 bits for ``gemmInt8(m:a:lda:packedB:c:ldc:threads:vnni:)``:
    /// one scale per output column (`max|column| / 127`), values rounded half to even into
    /// −127…127, stored as unsigned bytes (value + 128) in panels of 32 columns × 4 depths, the
    /// layout `vpdpbusd` reads (`CTailorInt8.h`). A quarter of the float matrix's memory.
    public struct Int8PackedB: Sendable {
        /// Depth (rows of op(B)).
        public let k: Int
        /// Columns of op(B).
        public let n: Int
        /// `k` rounded up to a multiple of 4.
        let depth: Int
        /// The packed bytes, `panels × depth × 32`.
        let storage: [UInt8]
        /// One scale per column, padded with zeros to a multiple of 32.
        let columnScales: [Float]

        /// Quantizes and packs op(B) (`k × n`; with `transposed`, B is stored `n × k`, as a
        /// linear layer's `[out, in]` weight is).
        public init(transposed: Bool, k: Int, n: Int, b: UnsafePointer<Float>, ldb: Int) {
            precondition(k > 0 && n > 0, "Int8PackedB needs a non-empty matrix, got k=\(k) n=\(n)")
            self.k = k
            self.n = n
            let depth = (k + 3) / 4 * 4
            self.depth = depth
            let panels = (n + 31) / 32
            func element(_ t: Int, _ j: Int) -> Float { transposed ? b[j * ldb + t] : b[t * ldb + j] }
            var scales = [Float](repeating: 0, count: panels * 32)
            var storage = [UInt8](repeating: 128, count: panels * depth * 32)
            for j in 0..<n {
                var largest: Float = 0
                for t in 0..<k { largest = Swift.max(largest, Swift.abs(element(t, j))) }
                scales[j] = largest / 127
                guard largest > 0 else { continue }
                let inverse = 127 / largest
                for t in 0..<k {
                    let q = Swift.min(Swift.max((element(t, j) * inverse).rounded(.toNearestOrEven), -127), 127)
                    storage[Self.offset(t, j, depth: depth)] = UInt8(Int(q) + 128)
                }
            }
            self.columnScales = scales
            self.storage = storage
        }

        /// Where depth `t` of column `j` lives in `storage`.
        @inline(__always)
        static func offset(_ t: Int, _ j: Int, depth: Int) -> Int {
            let c = j % 32
            return (j / 32) * depth * 32 + (t / 4) * 128 + (c / 16) * 64 + (c % 16) * 4 + t % 4
        }

        /// The quantized value at depth `t`, column `j` (−127…127).
        public func quantized(_ t: Int, _ j: Int) -> Int32 {
            precondition(t >= 0 && t < k && j >= 0 && j < n, "(\(t), \(j)) is outside the \(k) × \(n) matrix")
            return Int32(storage[Self.offset(t, j, depth: depth)]) - 128
        }

        /// The scale of column `j`: the weight is about `quantized(t, j) · scale(j)`.
        public func scale(_ j: Int) -> Float { columnScales[j] }

        /// Bytes held.
        public var byteCount: Int { storage.count + columnScales.count * MemoryLayout<Float>.size }
    }

    /// `C ← op(A)·B` with B quantized beforehand (``Int8PackedB``) and each row of A
    /// quantized on the fly to 8 bits with its own scale (`max|row| / 127`), products summed
    /// exactly in 32-bit integers and scaled back: PyTorch's dynamic quantization of linear
    /// layers. The error per entry is about `(|a|·|b| / 127)·√k / 2` at worst, far below
    /// that in practice; `Reference.gemmInt8` is the twin it equals bit for bit.
    ///
    /// `vnni` picks the AVX-512 VNNI micro-kernel (4 multiply-adds of bytes per 32-bit lane
    /// and instruction: four times the float kernel's arithmetic per instruction); it must only
    /// be `true` where ``int8VNNI`` is. Rows are spread over `threads` workers.
    public static func gemmInt8(
        m: Int, a: UnsafePointer<Float>, lda: Int, packedB: Int8PackedB, c: UnsafeMutablePointer<Float>, ldc: Int,
        threads: Int = 1, vnni: Bool = int8VNNI
    ) {
        if m == 0 { return }
        precondition(!vnni || int8VNNI, "the VNNI int8 kernel was asked for on a CPU without AVX-512 VNNI")
        precondition(lda >= packedB.k && ldc >= packedB.n, "gemmInt8: lda \(lda) or ldc \(ldc) is smaller than the matrix")
        let k = packedB.k, n = packedB.n, depth = packedB.depth
        let workers = m * n * k < 1_000_000 ? 1 : effectiveThreadCount(threads)
        // Chunks of whole 12-row tiles, a few per worker, so each sweeps B's panels once.
        let chunk = Swift.max(12, ((m + 4 * workers - 1) / (4 * workers) + 11) / 12 * 12)
        let aS = UnsafeSendable(UnsafeMutablePointer(mutating: a)), cS = UnsafeSendable(c)
        packedB.storage.withUnsafeBufferPointer { storage in
            packedB.columnScales.withUnsafeBufferPointer { columnScales in
                let bS = UnsafeSendable(UnsafeMutablePointer(mutating: storage.baseAddress!))
                let csS = UnsafeSendable(UnsafeMutablePointer(mutating: columnScales.baseAddress!))
                parallelFor(m, chunkSize: chunk, threads: workers) { part in
                    let rows = part.range.count, first = part.range.lowerBound
                    let quantized = UnsafeMutablePointer<Int8>.allocate(capacity: rows * depth)
                    let scales = UnsafeMutablePointer<Float>.allocate(capacity: rows)
                    let sums = UnsafeMutablePointer<Int32>.allocate(capacity: rows)
                    defer { quantized.deallocate(); scales.deallocate(); sums.deallocate() }
                    tailor_int8_quantize_rows(vnni ? 1 : 0, Int32(rows), Int32(k), aS.value + first * lda, Int32(lda),
                                              quantized, Int32(depth), scales, sums)
                    tailor_int8_gemm(vnni ? 1 : 0, Int32(rows), Int32(n), Int32(depth), quantized, bS.value, scales, sums,
                                     csS.value, cS.value + first * ldc, Int32(ldc))
                }
            }
        }
    }
}

extension Reference {
    /// Row `row` of A (`k` values) quantized as ``Kernels/gemmInt8(m:a:lda:packedB:c:ldc:threads:vnni:)``
    /// does: the scale `max|row| / 127` and the values `round_half_even(x · 127 / max|row|)`.
    public static func quantizeRowInt8(_ row: [Float]) -> (values: [Int32], scale: Float) {
        let largest = row.reduce(Float(0)) { Swift.max($0, Swift.abs($1)) }
        guard largest > 0 else { return ([Int32](repeating: 0, count: row.count), 0) }
        let inverse = 127 / largest
        return (row.map { Int32(Swift.min(Swift.max(($0 * inverse).rounded(.toNearestOrEven), -127), 127)) }, largest / 127)
    }

    /// `A·B` (A `m × k` row-major, B quantized) the slow way: quantize each row, sum the
    /// integer products, scale back by row scale × column scale. Equal to the fast kernel bit
    /// for bit (integer sums are exact; the two float multiplications are the same).
    public static func gemmInt8(m: Int, a: [Float], packedB: Kernels.Int8PackedB) -> [Float] {
        let k = packedB.k, n = packedB.n
        precondition(a.count == m * k, "A must be \(m) × \(k)")
        var c = [Float](repeating: 0, count: m * n)
        for i in 0..<m {
            let (q, scale) = quantizeRowInt8(Array(a[(i * k)..<((i + 1) * k)]))
            for j in 0..<n {
                var acc: Int32 = 0
                for t in 0..<k { acc += q[t] * packedB.quantized(t, j) }
                c[i * n + j] = Float(acc) * (scale * packedB.scale(j))
            }
        }
        return c
    }
}
