import BulwarkAgent
import BulwarkCore
import Foundation
import Testing

@Suite("Spool store")
struct SpoolStoreTests {
    let directory: String

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("spool-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    var path: String { directory + "/spool.db" }

    func drafts(_ count: Int, priority: EventPriority = .telemetry, padding: Int = 0) -> [EventDraft] {
        (0..<count).map { index in
            EventDraft(type: EventType.selftest, data: ["nonce": .string(String(repeating: "x", count: padding)), "index": .number(Double(index))], priority: priority)
        }
    }

    @Test("sequence numbers stay monotonic across reopening, even after everything was acknowledged")
    func sequencePersists() throws {
        var spool: SpoolStore? = try SpoolStore(path: path)
        #expect(try spool?.append(drafts(3)) == [1, 2, 3])
        let batch = try #require(try spool?.nextBatch(maxEvents: 10, maxBytes: 1 << 20))
        try spool?.acknowledge(batch, acked: 3)
        #expect(try spool?.status().depth == 0)
        spool = nil
        let reopened = try SpoolStore(path: path)
        #expect(try reopened.append(drafts(2)) == [4, 5])
        #expect(try reopened.status().lastAckedSeq == 3)
    }

    @Test("batches respect event and byte limits and keep order; ack deletes only what was acknowledged")
    func batching() throws {
        let spool = try SpoolStore(path: path)
        try spool.append(drafts(10, padding: 100))
        let small = try #require(try spool.nextBatch(maxEvents: 4, maxBytes: 1 << 20))
        #expect(small.count == 4)
        #expect(small.firstSeq == 1 && small.lastSeq == 4)
        let bytesLimited = try #require(try spool.nextBatch(maxEvents: 100, maxBytes: 500))
        #expect(bytesLimited.count < 10)
        #expect(bytesLimited.bodies.reduce(0) { $0 + $1.count } <= 500)
        // A partial ack (collector confirmed up to 2) leaves 3 and 4.
        try spool.acknowledge(small, acked: 2)
        #expect(try spool.nextBatch(maxEvents: 1, maxBytes: 1 << 20)?.firstSeq == 3)
        #expect(try spool.status().depth == 8)
    }

    @Test("when full, the oldest telemetry is dropped and counted; DLP decisions never are")
    func dropPolicy() throws {
        let spool = try SpoolStore(path: path, maxBytes: 1 << 20)
        try spool.append(drafts(20, priority: .decision, padding: 10_000))
        try spool.append(drafts(200, priority: .telemetry, padding: 10_000))
        let status = try spool.status()
        #expect(status.bytes <= 1 << 20)
        #expect(status.dropped > 0)
        #expect(status.depth == 220 - status.dropped)
        // All decisions are still there: they are the 20 oldest events.
        let first = try #require(try spool.nextBatch(maxEvents: 20, maxBytes: 1 << 30))
        #expect(first.firstSeq == 1 && first.lastSeq == 20)
        // The survivors among the telemetry are the newest ones.
        let rest = try #require(try spool.nextBatch(maxEvents: 1_000, maxBytes: 1 << 30))
        #expect(rest.lastSeq == 220)

        // Decisions alone beyond the bound are kept: the spool fails towards keeping evidence.
        try spool.append(drafts(150, priority: .decision, padding: 10_000))
        let after = try spool.status()
        #expect(after.depth >= 170)
        #expect(after.bytes > 1 << 20)
    }

    @Test("quarantine takes a refused event out of the queue but keeps it on disk")
    func quarantine() throws {
        let spool = try SpoolStore(path: path)
        try spool.append(drafts(3))
        try spool.quarantine(seq: 2, reason: "400 invalid_event: test")
        #expect(try spool.status().quarantined == 1)
        #expect(try spool.status().depth == 2)
        #expect(try !spool.contains(seq: 2))
    }

    @Test("two openers creating the same spool at once both succeed (run and selftest start together)")
    func concurrentCreation() throws {
        for round in 0..<20 {
            let path = directory + "/race-\(round).db"
            let failures = NIOLockedFailures()
            DispatchQueue.concurrentPerform(iterations: 3) { _ in
                do { try SpoolStore(path: path).append(drafts(1)) } catch { failures.add("\(error)") }
            }
            #expect(failures.all.isEmpty, "round \(round): \(failures.all)")
            #expect(try SpoolStore(path: path).status().nextSeq == 4)
        }
    }
}

/// Collects errors from concurrent closures.
final class NIOLockedFailures: @unchecked Sendable {
    private let lock = NSLock()
    private var errors: [String] = []
    func add(_ error: String) { lock.withLock { errors.append(error) } }
    var all: [String] { lock.withLock { errors } }
}
