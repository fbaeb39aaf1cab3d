import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Keeps freed activation memory in the process for the next training step.
///
/// A step allocates and frees ~100 MB of activations and gradients. With glibc's defaults,
/// blocks of a few MB are unmapped or trimmed back to the kernel when freed and faulted in
/// (zeroed page by page) again on the next step: page faults took ~20 % of a transformer step
/// on 2 cores (`perf`, Benchmarks/nn_vs_torch.py). Raising the mmap and trim thresholds lets
/// malloc reuse those blocks, as jemalloc or tcmalloc would. The price is that the resident set
/// stays at its peak after training ends.
///
/// The library never changes the process on its own (habit 11): call ``apply()`` once from the
/// program (the `tailor` and `tailor-bench` executables do, before training). It does nothing
/// when `TAILOR_MALLOC_DEFAULTS=1` is set in the environment, or off Linux.
public enum MemoryTuning {
    private static let result: Bool = {
        #if os(Linux)
        if ProcessInfo.processInfo.environment["TAILOR_MALLOC_DEFAULTS"] == "1" { return false }
        // glibc's mallopt (malloc.h is not in Swift's Glibc module): M_TRIM_THRESHOLD = −1,
        // M_MMAP_THRESHOLD = −3; 32 MiB is the largest mmap threshold on 64-bit systems.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return false }
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        let mmapOK = mallopt(-3, 32 << 20) == 1
        let trimOK = mallopt(-1, 1 << 30) == 1
        return mmapOK && trimOK
        #else
        return false
        #endif
    }()

    private static let requested = Mutex(false)

    /// Raises the thresholds (once per process; later calls do nothing). Returns whether they
    /// are raised.
    @discardableResult
    public static func apply() -> Bool {
        requested.withLock { $0 = true }
        return result
    }

    /// Whether ``apply()`` was called and the thresholds were raised.
    public static var applied: Bool { requested.withLock { $0 } && result }
}
