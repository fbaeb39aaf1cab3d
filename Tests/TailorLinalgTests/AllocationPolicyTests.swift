#if canImport(Glibc)
import Glibc
import Testing
import TailorLinalg

@Suite("Allocation policy")
struct AllocationPolicyTests {
    /// Minor page faults of the calling thread so far.
    func faults() -> Int {
        var usage = rusage()
        getrusage(__rusage_who_t(1), &usage)  // RUSAGE_THREAD (Linux), not exported to Swift
        return usage.ru_minflt
    }

    /// Allocates, touches and frees `bytes`; returns the page faults it took.
    func roundTrip(_ bytes: Int) -> Int {
        let before = faults()
        let p = malloc(bytes)!.bindMemory(to: UInt8.self, capacity: bytes)
        for i in stride(from: 0, to: bytes, by: 4096) { p[i] = 1 }
        free(p)
        return faults() - before
    }

    @Test("after keepLargeBuffers a freed 40 MB buffer is reused: the second allocation takes almost none of the first's page faults")
    func reuse() {
        AllocationPolicy.keepLargeBuffers()
        // Above glibc's largest dynamic mmap threshold (32 MB), and small enough for a thread
        // arena's 64 MB heap (tests run off the main thread): 10,240 pages, which a fresh mmap
        // would fault on again in each round.
        let bytes = 40 << 20
        let first = roundTrip(bytes), second = roundTrip(bytes)
        #expect(second < 1_000, "first round \(first) faults, second \(second)")
    }
}
#endif
