import Foundation
import TailorData
import TailorStore

/// Loading files into an ``SQLiteEventStore``: events, items and users from CSV/TSV/JSON Lines, or a
/// whole public dataset by preset. Events go in batches, one transaction each; re-running an
/// import adds nothing twice, and an interrupted import is completed by running it again.
public enum Ingest {
    /// What kind of rows a file holds.
    public typealias Kind = ImportKind
    /// Options.
    public typealias Configuration = ImportConfiguration

    /// Imports one file of `kind` into `store`.
    @discardableResult
    public static func file(_ path: String, kind: Kind, into store: SQLiteEventStore, configuration c: Configuration = .init()) throws -> IngestCounts {
        let (session, _) = try store.beginImport(source: URL(fileURLWithPath: path).standardizedFileURL.path, kind: kind.rawValue)
        switch kind {
        case .events:
            let rc = c.reader
            // Two stages on two cores: a reader thread parses batches into a small queue while
            // this thread writes them, one transaction each.
            let queue = BatchQueue(capacity: 2)
            let readerConfiguration = rc
            let reader = Thread {
                do {
                    let report = try EventReader.read(path: path, configuration: readerConfiguration) { batch in
                        guard queue.put(session.prepare(batch)) else { throw CancellationError() }
                    }
                    queue.finish(report: report, error: nil)
                } catch {
                    queue.finish(report: nil, error: error)
                }
            }
            reader.stackSize = 8 << 20
            reader.start()
            var rowsSoFar = 0
            do {
                while let batch = queue.take() {
                    rowsSoFar += batch.rows.count + batch.duplicates + batch.alreadyPresent
                    session.counts.rowsRead = rowsSoFar
                    try store.write(batch, session: session)
                    c.progress?(session.counts)
                    if c.pauseBetweenBatches > 0 { Thread.sleep(forTimeInterval: c.pauseBetweenBatches) }
                }
            } catch {
                queue.cancel()
                _ = queue.waitForReader()
                throw error
            }
            let (report, readError) = queue.waitForReader()
            if let readError { throw readError }
            session.counts.rowsRead = report!.rowsRead
            session.counts.skipped = report!.rowsSkipped
            session.counts.problems = report!.problems
        case .items:
            let (items, report) = try CatalogReader.readItems(path: path, strict: c.strict)
            try store.upsert(items: items, session: session)
            session.counts.rowsRead = report.rowsRead
            session.counts.skipped = report.rowsSkipped
            session.counts.problems = report.problems
        case .users:
            let (users, report) = try CatalogReader.readUsers(path: path, strict: c.strict)
            try store.upsert(users: users, session: session)
            session.counts.rowsRead = report.rowsRead
            session.counts.skipped = report.rowsSkipped
            session.counts.problems = report.problems
        }
        try store.finishImport(session)
        return session.counts
    }

    /// Imports a whole dataset by preset from `directory`.
    @discardableResult
    public static func preset(_ preset: DatasetPreset, directory: String, into store: SQLiteEventStore, configuration c: Configuration = .init()) throws -> IngestCounts {
        let content = try preset.read(directory: directory)
        let (session, _) = try store.beginImport(source: URL(fileURLWithPath: directory).standardizedFileURL.path, kind: preset.rawValue)
        try store.upsert(items: content.items, session: session)
        try store.upsert(users: content.users, session: session)
        session.counts.rowsRead = content.reports.reduce(0) { $0 + $1.rowsRead }
        session.counts.skipped = content.reports.reduce(0) { $0 + $1.rowsSkipped }
        session.counts.problems = Array(content.reports.flatMap(\.problems).prefix(5))
        for start in stride(from: 0, to: content.events.count, by: c.batchSize) {
            try store.insert(events: Array(content.events[start..<min(content.events.count, start + c.batchSize)]), session: session)
            c.progress?(session.counts)
        }
        try store.finishImport(session)
        return session.counts
    }

    /// Imports events already in memory (for example generated ones), in batches.
    @discardableResult
    public static func events(_ events: [Event], source: String, into store: SQLiteEventStore, configuration c: Configuration = .init()) throws -> IngestCounts {
        let (session, _) = try store.beginImport(source: source, kind: Kind.events.rawValue)
        for start in stride(from: 0, to: events.count, by: c.batchSize) {
            let batch = Array(events[start..<min(events.count, start + c.batchSize)])
            session.counts.rowsRead += batch.count
            try store.insert(events: batch, session: session)
            c.progress?(session.counts)
        }
        try store.finishImport(session)
        return session.counts
    }

}

/// A bounded hand-off of prepared batches from the reader thread to the writer.
final class BatchQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var batches: [PreparedBatch] = []
    private let capacity: Int
    private var finished = false, cancelled = false
    private var report: TableReadReport?
    private var error: (any Error)?

    init(capacity: Int) { self.capacity = capacity }

    /// Adds a batch, waiting while the queue is full; `false` if the writer gave up.
    func put(_ batch: PreparedBatch) -> Bool {
        condition.lock(); defer { condition.unlock() }
        while batches.count >= capacity && !cancelled { condition.wait() }
        if cancelled { return false }
        batches.append(batch)
        condition.broadcast()
        return true
    }

    /// The next batch, or `nil` once the reader finished and everything was taken.
    func take() -> PreparedBatch? {
        condition.lock(); defer { condition.unlock() }
        while batches.isEmpty && !finished { condition.wait() }
        guard !batches.isEmpty else { return nil }
        let batch = batches.removeFirst()
        condition.broadcast()
        return batch
    }

    func finish(report: TableReadReport?, error: (any Error)?) {
        condition.lock(); defer { condition.unlock() }
        finished = true
        self.report = report
        self.error = error
        condition.broadcast()
    }

    func cancel() {
        condition.lock(); defer { condition.unlock() }
        cancelled = true
        condition.broadcast()
    }

    /// Waits until the reader finished; its report or error.
    func waitForReader() -> (TableReadReport?, (any Error)?) {
        condition.lock(); defer { condition.unlock() }
        while !finished { condition.wait() }
        return (report, error is CancellationError ? nil : error)
    }
}
