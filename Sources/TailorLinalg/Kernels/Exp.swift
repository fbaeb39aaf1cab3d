import Foundation

extension Kernels {
    /// `x[i] = exp(x[i] − shift)` for `count` values in place; returns their sum. Sixteen lanes at
    /// a time with the Cephes `expf` scheme (Moshier): `2ⁿ·e^r` with `n = round(x·log₂e)`,
    /// `r = x − n·ln 2` in two parts, a degree-5 polynomial for `e^r`, and `2ⁿ` built in the
    /// exponent bits. Relative error under 2·10⁻⁷ (a couple of ulps) against `expf` wherever the
    /// result is a normal float; inputs below −87.33 give 0 (where `expf` gives denormals under
    /// 1.2·10⁻³⁸), above 88.72 +∞; NaN stays NaN. The readable twin is
    /// ``Reference/expShifted(_:count:shift:)``.
    ///
    /// Softmax rows, attention and cross-entropy spend most of their non-GEMM time here.
    @inlinable
    public static func expShifted(_ x: UnsafeMutablePointer<Float>, count n: Int, shift: Float) -> Float {
        // A plain loop of branch-free arithmetic: LLVM turns it into 8- or 16-lane code (selects
        // become blends). The sum is a second pass, since a float reduction in the same loop
        // would keep it scalar.
        var i = 0
        while i < n {
            x[i] = expOne(x[i] - shift)
            i &+= 1
        }
        return sum(x, count: n)
    }

    /// `e^v` by the scheme of ``expShifted(_:count:shift:)``, written without branches so loops
    /// over it vectorize.
    @inlinable @inline(__always)
    public static func expOne(_ v: Float) -> Float {
        let x0 = Swift.min(Swift.max(v, -87.336_54), 88.722_84)
        let (y, fx) = expReduced(x0)
        let magic: Float = 12_582_912
        // 2ⁿ for n in −126…127 from the exponent bits; n = 128 (only near the top) is 2¹²⁷·2.
        let capped = Swift.min(Swift.max(fx, -126), 127)
        let n = (capped + magic).bitPattern &- 0x4B40_0000
        var result = y * Float(bitPattern: (n &+ 127) &<< 23)
        result = fx > 127 ? result * 2 : result
        result = v < -87.336_54 ? 0 : result
        result = v > 88.722_84 ? .infinity : result
        return v.isNaN ? v : result
    }

    /// The largest of `count` values (−∞ for none), sixteen lanes at a time: a scalar
    /// `max` chain runs at one element per four cycles (its latency), and in a transformer's
    /// softmax rows it took a fifth of inference at 225 tokens. For inputs without NaN; the twin
    /// is ``Reference/maximum(_:)``.
    @inlinable
    public static func maximum(_ x: UnsafePointer<Float>, count n: Int) -> Float {
        var lanes = SIMD16<Float>(repeating: -.infinity)
        var i = 0
        while i &+ 16 <= n {
            // A compare and a blend: the stdlib's `pointwiseMax` goes lane by lane through memory.
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self)
            lanes.replace(with: v, where: v .> lanes)
            i &+= 16
        }
        var m = lanes.max()
        while i < n { m = Swift.max(m, x[i]); i &+= 1 }
        return m
    }

    /// `e^x0 = 2^fx · y` for `x0` already clamped to the float range: `fx = round(x0·log₂e)` (by
    /// the magic-number trick: adding 1.5·2²³ leaves it in the low mantissa bits; bit casts
    /// vectorize, float-to-integer conversions less well), `y = e^r` for `r = x0 − fx·ln 2`
    /// (in two parts) by Cephes' degree-5 polynomial. Shared by ``expOne(_:)`` and GELU's exp.
    @inlinable @inline(__always)
    static func expReduced(_ x0: Float) -> (y: Float, fx: Float) {
        let magic: Float = 12_582_912
        let fx = (x0 * 1.442_695_040_888_963_4 + magic) - magic
        var r = x0 - fx * 0.693_359_375
        r = r - fx * -2.121_944_4e-4
        let z = r * r
        var y: Float = 1.987_569_150_0e-4
        y = y * r + 1.398_199_950_7e-3
        y = y * r + 8.333_451_907_3e-3
        y = y * r + 4.166_579_589_4e-2
        y = y * r + 1.666_666_545_9e-1
        y = y * r + 5.000_000_120_1e-1
        return (y * z + r + 1, fx)
    }

    /// The sum of `count` values, sixteen lanes at a time.
    @inlinable
    public static func sum(_ x: UnsafePointer<Float>, count n: Int) -> Float {
        var total = SIMD16<Float>(repeating: 0)
        var i = 0
        while i &+ 16 <= n {
            total += UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self)
            i &+= 16
        }
        var s = total.sum()
        while i < n { s += x[i]; i &+= 1 }
        return s
    }
}

extension Reference {
    /// The largest value, one comparison at a time (−∞ for none).
    public static func maximum(_ x: [Float]) -> Float { x.reduce(-.infinity) { Swift.max($0, $1) } }

    /// `x[i] = expf(x[i] − shift)`, one call per element; returns the sum.
    public static func expShifted(_ x: UnsafeMutablePointer<Float>, count n: Int, shift: Float) -> Float {
        var sum: Float = 0
        for i in 0..<n {
            x[i] = expf(x[i] - shift)
            sum += x[i]
        }
        return sum
    }
}
