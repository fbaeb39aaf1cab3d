import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Persistent helper threads for ``parallelFor(_:chunkSize:threads:_:)``, in the manner of
/// OpenMP and OpenBLAS: after a job, helpers spin for a short while (~100 µs) before sleeping,
/// so the next job of a training loop starts in about a microsecond instead of the ~150 µs GCD
/// took to wake a worker (measured with `tailor-bench parallel`).
///
/// One job runs at a time. A `parallelFor` that finds the pool busy (another thread's job, or a
/// `parallelFor` nested inside a job) uses `DispatchQueue.concurrentPerform` instead, so it can
/// never deadlock.
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool(helpers: max(0, ProcessInfo.processInfo.activeProcessorCount - 1))

    /// Helper threads; jobs run on at most `helpers + 1` threads (the caller takes part).
    let helpers: Int
    /// Spins before a helper sleeps: a few tens of microseconds.
    private let spinLimit = 40_000

    private let busy = Atomic<Bool>(false)
    private let generation = Atomic<Int>(0)
    private let finished = Atomic<Int>(0)
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    // Guarded by `mutex`.
    private var sleepers = 0
    private var jobBody: UnsafeRawPointer?
    private var jobParticipants = 0
    private var started = false

    init(helpers: Int) {
        self.helpers = helpers
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    private func startIfNeeded() {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        if started { return }
        started = true
        for index in 1...max(1, helpers) where helpers > 0 {
            let thread = Thread { [self] in helperLoop(index: index) }
            thread.name = "tailor-worker-\(index)"
            thread.start()
        }
    }

    /// Runs `body(worker)` for `worker` in `0..<participants` (the caller is worker 0) and
    /// returns when all have finished. Returns false, without running anything, if the pool is
    /// busy or too small.
    func run(participants: Int, _ body: (Int) -> Void) -> Bool {
        guard helpers > 0, participants > 1, participants <= helpers + 1 else { return false }
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        defer { busy.store(false, ordering: .releasing) }
        startIfNeeded()
        withoutActuallyEscaping(body) { body in
            var closure = body
            withUnsafePointer(to: &closure) { pointer in
                finished.store(0, ordering: .relaxed)
                pthread_mutex_lock(mutex)
                jobBody = UnsafeRawPointer(pointer)
                jobParticipants = participants
                generation.wrappingAdd(1, ordering: .releasing)
                if sleepers > 0 { pthread_cond_broadcast(condition) }
                pthread_mutex_unlock(mutex)
                body(0)
                while finished.load(ordering: .acquiring) < participants - 1 {}
                pthread_mutex_lock(mutex)
                jobBody = nil
                pthread_mutex_unlock(mutex)
            }
        }
        return true
    }

    private func helperLoop(index: Int) {
        var seen = 0
        while true {
            var spins = 0
            while generation.load(ordering: .acquiring) == seen {
                spins &+= 1
                if spins >= spinLimit {
                    pthread_mutex_lock(mutex)
                    sleepers += 1
                    while generation.load(ordering: .acquiring) == seen { pthread_cond_wait(condition, mutex) }
                    sleepers -= 1
                    pthread_mutex_unlock(mutex)
                }
            }
            // Read the job and its generation together. A helper that slept through a job was
            // not needed by it (a job cannot finish without all its participants).
            pthread_mutex_lock(mutex)
            seen = generation.load(ordering: .acquiring)
            let body = jobBody
            let participants = jobParticipants
            pthread_mutex_unlock(mutex)
            guard let body, index < participants else { continue }
            body.assumingMemoryBound(to: ((Int) -> Void).self).pointee(index)
            finished.wrappingAdd(1, ordering: .releasing)
        }
    }
}
