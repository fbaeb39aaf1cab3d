// The two inner loops of implicit-ALS conjugate gradient, written for the CPU.
//
// Every CG pass over a row's observations computes `out += Σ_t coef_t(y_t·v)·y_t`: a dot
// product with each observed factor row, then a scaled add of that row. Done one row at a time
// (`dot`, then `axpy`), each observation waits for its own horizontal sum before its add, and
// `out` makes a round trip through memory per observation. Here four observations share each
// load of `v` and `out`, their four dot products run as independent chains, and the four adds
// land in one pass over `out`. The arithmetic per observation is the same as `dot` + `axpy`;
// only the order in which the four adds reach `out` differs (reassociation, within rounding).
//
// `symmetricGemv` is `gemv` for a symmetric matrix read by rows as columns: `y = Σ_j x_j·A[j,:]`
// accumulates whole output vectors in registers and needs no horizontal sums.
//
// Reference twins: `Reference.implicitProjections` and `Reference.gemv` (tests compare them).

extension Kernels {
    /// How each observation's coefficient is formed from its confidence `c` and its dot product `d`.
    public enum ProjectionCoefficient: Sendable {
        /// `(c > 0 ? |c| : 0) − (|c| − 1)·d`: the right-hand side minus the observed part of `A·x`
        /// (CG's first residual).
        case residual
        /// `(|c| − 1)·d`: the observed part of `A·p` (each CG step).
        case step
    }

    /// `out ← out + Σ_t coef(c_t, y_t·v)·y_t` over `count` observed rows `y_t` of length `k`.
    ///
    /// Row `t` is `rows + t·k` when `rows` is given (gathered into scratch), else
    /// `factors + indices[t]·k`. O(count·k).
    @inlinable @inline(__always)
    public static func implicitProjections(
        _ coefficient: ProjectionCoefficient, rows: UnsafePointer<Float>?, factors: UnsafePointer<Float>,
        indices: UnsafePointer<Int32>, confidences: UnsafePointer<Float>, count: Int, k: Int,
        v: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>
    ) {
        @inline(__always) func row(_ t: Int) -> UnsafePointer<Float> {
            if let rows { return rows + t &* k }
            return factors + Int(indices[t]) &* k
        }
        @inline(__always) func coef(_ t: Int, _ d: Float) -> Float {
            let c = confidences[t]
            let conf = abs(c)
            switch coefficient {
            case .residual: return (c > 0 ? conf : 0) - (conf - 1) * d
            case .step: return (conf - 1) * d
            }
        }
        let k16 = k & ~15
        var t = 0
        while t &+ 4 <= count {
            let y0 = row(t), y1 = row(t &+ 1), y2 = row(t &+ 2), y3 = row(t &+ 3)
            let (d0, d1, d2, d3) = dot4(y0, y1, y2, y3, v, count: k)
            let c0 = coef(t, d0), c1 = coef(t &+ 1, d1), c2 = coef(t &+ 2, d2), c3 = coef(t &+ 3, d3)
            let b0 = F16(repeating: c0), b1 = F16(repeating: c1), b2 = F16(repeating: c2), b3 = F16(repeating: c3)
            var i = 0
            while i < k16 {
                var o = load16(out + i)
                o = madd(o, b0, load16(y0 + i))
                o = madd(o, b1, load16(y1 + i))
                o = madd(o, b2, load16(y2 + i))
                o = madd(o, b3, load16(y3 + i))
                store16(o, out + i)
                i &+= 16
            }
            while i < k {
                out[i] = madd(madd(madd(madd(out[i], c0, y0[i]), c1, y1[i]), c2, y2[i]), c3, y3[i])
                i &+= 1
            }
            t &+= 4
        }
        while t < count {
            let y = row(t)
            axpy(coef(t, dot(y, v, count: k)), y, out, count: k)
            t &+= 1
        }
    }

    /// `y ← A·x` for a symmetric `n×n` row-major matrix `A`, computed as `Σ_j x_j·A[j,:]`
    /// (equal to `gemv` when `A` is symmetric; it reads rows as columns). O(n²).
    @inlinable
    public static func symmetricGemv(_ a: UnsafePointer<Float>, n: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        var c = 0
        // 64 columns at a time: four 16-wide accumulators, one broadcast of x_j per row.
        while c &+ 64 <= n {
            var s0 = F16(), s1 = F16(), s2 = F16(), s3 = F16()
            var r = a + c
            for j in 0..<n {
                let xb = F16(repeating: x[j])
                s0 = madd(s0, load16(r), xb)
                s1 = madd(s1, load16(r + 16), xb)
                s2 = madd(s2, load16(r + 32), xb)
                s3 = madd(s3, load16(r + 48), xb)
                r += n
            }
            store16(s0, y + c); store16(s1, y + (c &+ 16)); store16(s2, y + (c &+ 32)); store16(s3, y + (c &+ 48))
            c &+= 64
        }
        // 16 columns at a time, even and odd rows in separate accumulators (two chains).
        while c &+ 16 <= n {
            var even = F16(), odd = F16()
            var j = 0
            while j &+ 2 <= n {
                even = madd(even, load16(a + (j &* n &+ c)), F16(repeating: x[j]))
                odd = madd(odd, load16(a + ((j &+ 1) &* n &+ c)), F16(repeating: x[j &+ 1]))
                j &+= 2
            }
            if j < n { even = madd(even, load16(a + (j &* n &+ c)), F16(repeating: x[j])) }
            store16(even + odd, y + c)
            c &+= 16
        }
        while c < n {
            var s: Float = 0
            for j in 0..<n { s = madd(s, a[j &* n &+ c], x[j]) }
            y[c] = s
            c &+= 1
        }
    }

    /// Copies `count` floats (a factor row into scratch) with inline vector moves: for the short
    /// rows of ALS a `memmove` call costs more than the copy.
    @inlinable @inline(__always)
    static func copyRow(_ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i &+ 16 <= count {
            store16(load16(source + i), destination + i)
            i &+= 16
        }
        while i < count {
            destination[i] = source[i]
            i &+= 1
        }
    }
}
