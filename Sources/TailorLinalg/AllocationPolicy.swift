#if canImport(Glibc)
import Glibc
#endif

/// How the process's allocator treats large buffers.
///
/// Training allocates and frees the same large tensors every batch (a SASRec batch on Last.fm
/// keeps 93 MB of probabilities). glibc serves anything above its mmap threshold (128 KB,
/// rising to at most 32 MB) with a fresh `mmap`, so each batch page-faults and zero-fills those
/// pages again and `munmap`s them after: 4–5 % of a SASRec step in `perf` (page faults, page
/// clearing, cgroup accounting). ``keepLargeBuffers()`` serves them from the heap instead and
/// keeps freed memory for the next batch. Measured on Last.fm SASRec (6 epochs, 8 alternating
/// runs each): 7.64 s against 8.10 s mean. Threads other than the main one allocate from arenas
/// of at most 64 MB, so there only buffers below that are kept; the training loop runs on the
/// calling thread.
public enum AllocationPolicy {
    /// Large allocations from the heap (mmap threshold 1 GiB) and freed memory kept up to 2 GiB
    /// (trim threshold). Process-wide and idempotent; neural training calls it. Its cost: memory
    /// freed after training stays with the process (up to the trim threshold) rather than going
    /// back to the system at once.
    public static func keepLargeBuffers() {
        _ = applied
    }

    /// Whether ``keepLargeBuffers()`` took effect (false off glibc, or if `mallopt` refused).
    public static var isApplied: Bool { applied }

    private static let applied: Bool = {
        #if canImport(Glibc)
        // `mallopt` is not in the Glibc module (malloc.h is not part of it): found by name.
        guard let symbol = dlsym(nil, "mallopt") else { return false }
        let mallopt = unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
        let mmapThreshold: Int32 = -3, trimThreshold: Int32 = -1  // M_MMAP_THRESHOLD, M_TRIM_THRESHOLD
        return mallopt(mmapThreshold, 1 << 30) == 1 && mallopt(trimThreshold, Int32.max) == 1
        #else
        return false
        #endif
    }()
}
