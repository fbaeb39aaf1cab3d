import Foundation
import TailorLinalg

extension UserSegments {
    /// The silhouette straight from its definition, in double precision, from the vectors
    /// themselves: the readable twin of ``silhouette(_:labels:k:)`` (which reads a distance
    /// matrix made by one matrix product), for tests.
    static func referenceSilhouette(_ x: Matrix, labels: [Int32]) -> Double {
        func distance(_ i: Int, _ j: Int) -> Double {
            var dot = 0.0, ni = 0.0, nj = 0.0
            for c in 0..<x.columns {
                dot += Double(x[i, c]) * Double(x[j, c])
                ni += Double(x[i, c]) * Double(x[i, c])
                nj += Double(x[j, c]) * Double(x[j, c])
            }
            return max(0, 1 - dot / (ni.squareRoot() * nj.squareRoot()))
        }
        let n = labels.count
        var total = 0.0
        for i in 0..<n {
            var own: [Double] = [], others: [Int32: [Double]] = [:]
            for j in 0..<n where j != i {
                if labels[j] == labels[i] { own.append(distance(i, j)) } else { others[labels[j], default: []].append(distance(i, j)) }
            }
            guard !own.isEmpty, !others.isEmpty else { continue }
            let a = own.reduce(0, +) / Double(own.count)
            let b = others.values.map { $0.reduce(0, +) / Double($0.count) }.min()!
            if max(a, b) > 0 { total += (b - a) / max(a, b) }
        }
        return total / Double(n)
    }
}
