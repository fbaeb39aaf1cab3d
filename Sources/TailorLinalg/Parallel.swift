import Dispatch
import Foundation
import Synchronization

/// One piece of a ``parallelFor(_:chunkSize:threads:_:)`` loop.
public struct ParallelChunk: Sendable {
    /// Position of this chunk in the loop, `0..<chunkCount`. It depends only on the problem
    /// size and chunk size, never on scheduling, so per-chunk random streams seeded from it
    /// make results reproducible.
    public let index: Int
    /// The indices this chunk covers.
    public let range: Range<Int>
    /// The worker running the chunk, `0..<threads`; use it to pick per-worker scratch buffers.
    public let worker: Int
}

/// The number of worker threads to use when a caller asks for `requested` (0 or less: all cores).
/// At most ``maximumThreadCount``: each worker owns scratch buffers, so `--threads 100000` must
/// not allocate for a hundred thousand workers.
public func effectiveThreadCount(_ requested: Int) -> Int {
    requested > 0 ? min(requested, maximumThreadCount) : max(1, ProcessInfo.processInfo.activeProcessorCount)
}

/// The most workers any parallel loop uses: four per active processor (more only adds
/// contention), and at least 8.
public let maximumThreadCount = max(8, 4 * ProcessInfo.processInfo.activeProcessorCount)

/// Runs `body` over `0..<count` split into chunks of `chunkSize`, on up to `threads` workers.
///
/// Chunks are handed out dynamically (an atomic counter), so uneven work balances itself.
/// With `threads == 1` or a single chunk, everything runs on the calling thread. This is the
/// only place Tailor's core creates parallelism (habit 10); one `Task` per item costs ~3 µs,
/// a chunk here costs one atomic increment. Work runs on ``WorkerPool``'s persistent threads
/// (starting a job takes ~1 µs), or on GCD when the pool is already busy.
///
/// - Parameters:
///   - count: number of loop indices.
///   - chunkSize: indices per chunk (at least 1). Choose it so a chunk takes ≥ 50 µs.
///   - threads: maximum workers; 0 means all active processors.
///   - body: called once per chunk; must be safe to run concurrently with itself.
public func parallelFor(
    _ count: Int, chunkSize: Int, threads: Int = 0, _ body: (ParallelChunk) -> Void
) {
    guard count > 0 else { return }
    let size = max(1, chunkSize)
    let chunks = (count + size - 1) / size
    let workers = min(effectiveThreadCount(threads), chunks)
    if workers <= 1 {
        for c in 0..<chunks {
            body(ParallelChunk(index: c, range: (c * size)..<min(count, (c + 1) * size), worker: 0))
        }
        return
    }
    let next = Atomic<Int>(0)
    let work: (Int) -> Void = { worker in
        while true {
            let c = next.wrappingAdd(1, ordering: .relaxed).oldValue
            if c >= chunks { break }
            body(ParallelChunk(index: c, range: (c * size)..<min(count, (c + 1) * size), worker: worker))
        }
    }
    if WorkerPool.shared.run(participants: workers, work) { return }
    // Pool busy (a nested or concurrent loop) or smaller than asked: GCD's threads.
    withoutActuallyEscaping(work) { work in
        let box = UnsafeSendable(work)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in box.value(worker) }
    }
}

/// Wraps a value that the caller promises is safe to share across the workers of one
/// `parallelFor` (each worker touches disjoint memory). The package's one unsafe sharing box:
/// every module uses this instead of a copy of its own, so there is one place to audit.
@usableFromInline
package struct UnsafeSendable<T>: @unchecked Sendable {
    @usableFromInline package let value: T
    @usableFromInline package init(_ value: T) { self.value = value }
}
