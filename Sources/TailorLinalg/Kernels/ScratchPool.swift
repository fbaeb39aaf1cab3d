import Synchronization

/// A small pool of reusable, 64-byte aligned `Float` buffers for kernels' packing space.
///
/// Allocating a fresh megabyte per GEMM call means `mmap`/`munmap` per call: page faults, a
/// zeroing pass by the kernel, and TLB shoot-downs that interrupt every other thread of the
/// process. Training runs thousands of same-sized products, so buffers are kept and reused.
/// The pool holds at most `capacity` buffers; extra ones are freed on return.
@usableFromInline
final class ScratchPool: Sendable {
    @usableFromInline static let shared = ScratchPool(capacity: 8)

    private struct Buffer: @unchecked Sendable {
        let pointer: UnsafeMutablePointer<Float>
        let count: Int
    }

    private let buffers = Mutex<[Buffer]>([])
    private let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    /// Runs `body` with a buffer of at least `count` floats (uninitialized), then returns it.
    @usableFromInline
    func withBuffer<R>(count: Int, _ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        let needed = max(1, count)
        let taken: Buffer = buffers.withLock { list in
            // Smallest buffer that fits, so a small request does not take the big one.
            var best = -1
            for (i, b) in list.enumerated() where b.count >= needed && (best < 0 || b.count < list[best].count) {
                best = i
            }
            if best >= 0 { return list.remove(at: best) }
            return Buffer(pointer: allocateAligned(needed), count: needed)
        }
        defer {
            let evicted: Buffer? = buffers.withLock { list in
                list.append(taken)
                if list.count <= capacity { return nil }
                // Drop the smallest: big buffers are the expensive ones to re-create.
                let i = list.indices.min { list[$0].count < list[$1].count }!
                return list.remove(at: i)
            }
            evicted?.pointer.deallocate()
        }
        return try body(taken.pointer)
    }
}
