import Foundation

extension Kernels {
    /// `x[i] = GELU(x[i] + bias[i % width])`, the exact (erf) GELU of BERT, for `rows × width`
    /// row-major values in place; `bias` may be nil. erf is Abramowitz & Stegun 7.1.26
    /// (absolute error under 1.5·10⁻⁷, the scheme PyTorch's vectorized CPU `erf` uses) over
    /// ``expOne(_:)``, branch-free, so the loop runs in SIMD lanes. The readable twin is
    /// ``Reference/gelu(_:bias:rows:width:)``.
    @inlinable
    public static func gelu(_ x: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?, rows: Int, width: Int) {
        for r in 0..<rows {
            let row = x + r &* width
            if let bias {
                var j = 0
                while j < width { row[j] = geluOne(row[j] + bias[j]); j &+= 1 }
            } else {
                var j = 0
                while j < width { row[j] = geluOne(row[j]); j &+= 1 }
            }
        }
    }

    /// `0.5·v·(1 + erf(v/√2))` by the scheme of ``gelu(_:bias:rows:width:)``.
    @inlinable @inline(__always)
    public static func geluOne(_ v: Float) -> Float {
        let z = v * 0.707_106_781_186_547_5
        let a = Swift.abs(z)
        let t = 1 / (1 + 0.327_591_1 * a)
        var p: Float = 1.061_405_429
        p = p * t - 1.453_152_027
        p = p * t + 1.421_413_741
        p = p * t - 0.284_496_736
        p = p * t + 0.254_829_592
        let e = 1 - p * t * expNonPositive(-a * a)
        return 0.5 * v * (1 + Float(signOf: z, magnitudeOf: e))
    }

    /// `eˣ` for `x ≤ 0` by ``expOne(_:)``'s scheme without its overflow, infinity and NaN
    /// cases (below −87.3 it returns `e^−87.3`, about 10⁻³⁸), which GELU never needs: fewer
    /// blends, and the constants stay in registers.
    @inlinable @inline(__always)
    static func expNonPositive(_ v: Float) -> Float {
        let (y, fx) = expReduced(Swift.max(v, -87.3))
        let magic: Float = 12_582_912
        let n = (fx + magic).bitPattern &- 0x4B40_0000
        return y * Float(bitPattern: (n &+ 127) &<< 23)
    }

    /// Layer normalization of each of `rows` rows of `width` values in place:
    /// `(x − mean)/√(variance + epsilon)·gamma + beta`, with the biased variance (as PyTorch's
    /// `LayerNorm`). Two passes per row, sixteen lanes at a time. The readable twin is
    /// ``Reference/layerNorm(_:rows:width:gamma:beta:epsilon:)``.
    @inlinable
    public static func layerNorm(_ x: UnsafeMutablePointer<Float>, rows: Int, width: Int,
                                 gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float) {
        let inverseWidth = 1 / Float(width)
        for r in 0..<rows {
            let row = x + r &* width
            let mean = sum(row, count: width) * inverseWidth
            var squares = SIMD16<Float>(repeating: 0)
            var j = 0
            while j &+ 16 <= width {
                let d = UnsafeRawPointer(row + j).loadUnaligned(as: SIMD16<Float>.self) - mean
                squares += d * d
                j &+= 16
            }
            var variance = squares.sum()
            while j < width { let d = row[j] - mean; variance += d * d; j &+= 1 }
            let scale = 1 / (variance * inverseWidth + epsilon).squareRoot()
            j = 0
            while j < width {
                row[j] = (row[j] - mean) * scale * gamma[j] + beta[j]
                j &+= 1
            }
        }
    }
}

extension Reference {
    /// `x = GELU(x + bias)` with libm's `erff`, one element at a time.
    public static func gelu(_ x: inout [Float], bias: [Float]?, rows: Int, width: Int) {
        for r in 0..<rows {
            for j in 0..<width {
                let v = x[r * width + j] + (bias?[j] ?? 0)
                x[r * width + j] = 0.5 * v * (1 + erff(v / Float(2).squareRoot()))
            }
        }
    }

    /// Layer normalization of each row, in double precision.
    public static func layerNorm(_ x: inout [Float], rows: Int, width: Int, gamma: [Float], beta: [Float], epsilon: Float) {
        for r in 0..<rows {
            let row = (0..<width).map { Double(x[r * width + $0]) }
            let mean = row.reduce(0, +) / Double(width)
            let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(width)
            for j in 0..<width {
                x[r * width + j] = Float((row[j] - mean) / (variance + Double(epsilon)).squareRoot()) * gamma[j] + beta[j]
            }
        }
    }
}
