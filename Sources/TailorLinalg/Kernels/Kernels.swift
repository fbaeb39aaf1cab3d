/// Fast numeric kernels on raw `Float` buffers.
///
/// Every kernel here has a slow, obviously-correct twin in ``Reference``; the tests compare them
/// on seeded random inputs. The kernels follow the hot-loop rules measured in NUMERICS.md:
/// pointers taken once, wrapping index arithmetic, explicit SIMD with several accumulators, and
/// no allocation inside loops.
public enum Kernels {}

extension Kernels {
    /// Dot product `Σ x[i]·y[i]` of two vectors of length `count`. O(count).
    @inlinable
    public static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, count n: Int) -> Float {
        var i = 0
        var a0 = F16(), a1 = F16()
        while i &+ 32 <= n {
            a0 = madd(a0, load16(x + i), load16(y + i))
            a1 = madd(a1, load16(x + (i &+ 16)), load16(y + (i &+ 16)))
            i &+= 32
        }
        if i &+ 16 <= n {
            a0 = madd(a0, load16(x + i), load16(y + i))
            i &+= 16
        }
        var sum = horizontalSum(a0 + a1)
        while i < n {
            sum = madd(sum, x[i], y[i])
            i &+= 1
        }
        return sum
    }

    /// `y ← y + alpha·x` for vectors of length `count`. O(count).
    @inlinable
    public static func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int) {
        var i = 0
        let a = F16(repeating: alpha)
        while i &+ 16 <= n {
            store16(madd(load16(y + i), a, load16(x + i)), y + i)
            i &+= 16
        }
        while i < n {
            y[i] = madd(y[i], alpha, x[i])
            i &+= 1
        }
    }

    /// `x ← alpha·x`. O(count).
    @inlinable
    public static func scale(_ alpha: Float, _ x: UnsafeMutablePointer<Float>, count n: Int) {
        var i = 0
        let a = F16(repeating: alpha)
        while i &+ 16 <= n {
            store16(load16(x + i) * a, x + i)
            i &+= 16
        }
        while i < n {
            x[i] *= alpha
            i &+= 1
        }
    }

    /// The inner products of four vectors with one `x`, sharing its loads: sixteen lanes per
    /// vector summed across, then the tail (the hot loop of ``gemv(_:lda:rows:columns:_:_:)``
    /// and of ALS's implicit projections).
    @inlinable @inline(__always)
    public static func dot4(
        _ r0: UnsafePointer<Float>, _ r1: UnsafePointer<Float>, _ r2: UnsafePointer<Float>, _ r3: UnsafePointer<Float>,
        _ x: UnsafePointer<Float>, count n: Int
    ) -> (Float, Float, Float, Float) {
        var c0 = F16(), c1 = F16(), c2 = F16(), c3 = F16()
        var i = 0
        while i &+ 16 <= n {
            let xv = load16(x + i)
            c0 = madd(c0, load16(r0 + i), xv)
            c1 = madd(c1, load16(r1 + i), xv)
            c2 = madd(c2, load16(r2 + i), xv)
            c3 = madd(c3, load16(r3 + i), xv)
            i &+= 16
        }
        var s0 = horizontalSum(c0), s1 = horizontalSum(c1), s2 = horizontalSum(c2), s3 = horizontalSum(c3)
        while i < n {
            let xv = x[i]
            s0 = madd(s0, r0[i], xv); s1 = madd(s1, r1[i], xv)
            s2 = madd(s2, r2[i], xv); s3 = madd(s3, r3[i], xv)
            i &+= 1
        }
        return (s0, s1, s2, s3)
    }

    /// Matrix–vector product `y ← A·x` for a dense row-major `rows×columns` matrix with leading
    /// dimension `lda`. O(rows·columns).
    @inlinable
    public static func gemv(
        _ a: UnsafePointer<Float>, lda: Int, rows: Int, columns n: Int,
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>
    ) {
        var r = 0
        // Four rows at a time share the loads of x.
        while r &+ 4 <= rows {
            let r0 = a + r &* lda, r1 = r0 + lda, r2 = r1 + lda, r3 = r2 + lda
            (y[r], y[r &+ 1], y[r &+ 2], y[r &+ 3]) = dot4(r0, r1, r2, r3, x, count: n)
            r &+= 4
        }
        while r < rows {
            y[r] = dot(a + r &* lda, x, count: n)
            r &+= 1
        }
    }
}
