/// Stable counting sort over small dense integer keys.
public enum CountingSort {
    /// The stable permutation that orders `order` (positions into `keys`, default all of them)
    /// by `keys[position]`, for keys in `0..<keyCount`. O(n + keyCount), one allocation of the
    /// output and one of the counts.
    ///
    /// Chaining two calls (least significant key first) sorts by a compound key, like a radix sort.
    public static func permutation(keys: [Int32], keyCount: Int, order: [Int]? = nil) -> [Int] {
        var counts = [Int](repeating: 0, count: keyCount + 1)
        let n = order?.count ?? keys.count
        var result = [Int](repeating: 0, count: n)
        keys.withUnsafeBufferPointer { k in
            counts.withUnsafeMutableBufferPointer { cnt in
                if let order {
                    for p in order { cnt[Int(k[p]) &+ 1] &+= 1 }
                } else {
                    for key in k { cnt[Int(key) &+ 1] &+= 1 }
                }
                for i in 0..<keyCount { cnt[i &+ 1] &+= cnt[i] }
                result.withUnsafeMutableBufferPointer { out in
                    if let order {
                        for p in order {
                            let slot = Int(k[p]); out[cnt[slot]] = p; cnt[slot] &+= 1
                        }
                    } else {
                        for p in 0..<k.count {
                            let slot = Int(k[p]); out[cnt[slot]] = p; cnt[slot] &+= 1
                        }
                    }
                }
            }
        }
        return result
    }
}
