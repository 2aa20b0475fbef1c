import BulwarkCollector
import BulwarkCore
import Foundation
import Synchronization
import Testing

/// Delivery guarantees: every spooled event reaches the collector exactly once, through
/// collector outages and agent crashes.
@Suite("End to end: exactly-once delivery", .serialized)
struct DeliveryTests {
    /// Self-test events of `agentID` at the collector, as (index → count) and the seq list.
    static func delivered(_ cluster: Cluster, agentID: String) async throws -> (byIndex: [Int: Int], seqs: [UInt64]) {
        let store = try cluster.store()
        var byIndex: [Int: Int] = [:]
        var seqs: [UInt64] = []
        var after: Int64 = 0
        while true {
            let page = try await store.events(EventQuery(type: EventType.selftest, agent: agentID, afterID: after, limit: 10_000))
            guard let last = page.last else { break }
            for event in page {
                byIndex[event.data["index"]?.intValue ?? -1, default: 0] += 1
                seqs.append(event.seq)
            }
            after = last.id
        }
        try await store.close()
        return (byIndex, seqs)
    }

    /// The seqs the agent's spool gave the self-test events, from `selftest` output "seq A…B".
    static func seqRange(_ output: String) throws -> ClosedRange<UInt64> {
        guard let line = output.split(separator: "\n").first(where: { $0.contains("seq ") }),
              let range = line.split(separator: " ").last?.split(separator: "…"),
              range.count == 2, let low = UInt64(range[0]), let high = UInt64(range[1])
        else { throw TestFailure.command("no seq range in: \(output)") }
        return low...high
    }

    @Test("collector down while the agent produces 10,000 events: all arrive exactly once after restart")
    func collectorOutage() async throws {
        let cluster = try Cluster.started()
        defer { cluster.shutdown() }
        let agent = try cluster.enrollAgent()
        let agentID = try agent.agentID
        try agent.start()
        try await eventually("agent's first upload") { try agent.spoolDepth() == 0 }

        cluster.stopCollector()
        let emitted = try agent.cli(["selftest", "--count", "10000", "--no-wait"])
        #expect(emitted.status == 0, "\(emitted.output)")
        let seqs = try Self.seqRange(emitted.stdout)
        // Let the agent fail against the dead collector for a while (several retries).
        try await Task.sleep(for: .seconds(3))
        #expect(try agent.spoolDepth() >= 10_000)
        let status = try agent.cli(["status"])
        #expect(status.stdout.contains("UNREACHABLE"), "\(status.stdout)")
        #expect(status.stdout.contains("last error"), "\(status.stdout)")

        try cluster.startCollector()
        try await eventually("spool drained", timeout: 120) { try agent.spoolDepth() == 0 }
        let (byIndex, delivered) = try await Self.delivered(cluster, agentID: agentID)
        #expect(byIndex.count == 10_000)
        #expect(byIndex.values.allSatisfy { $0 == 1 })
        #expect(Set(byIndex.keys) == Set(0..<10_000))
        // The running agent's heartbeats may take seqs between the self-test's spool
        // transactions, so the self-test events are 10,000 distinct seqs inside its range.
        #expect(Set(delivered).count == 10_000)
        #expect(delivered.count == 10_000)
        #expect(delivered.allSatisfy { seqs.contains($0) })
        agent.stop()
    }

    static let perRound = 2_000

    @Test("kill -9 of the agent at random points during upload, 20 times: nothing lost or duplicated")
    func killNineDuringUpload() async throws {
        let cluster = try Cluster.started()
        defer { cluster.shutdown() }
        // Small batches so an upload is nearly always in flight when the kill lands.
        let agent = try cluster.enrollAgent(configuration: Cluster.fastAgentConfig + "\nbatch_max_events: 10\n")
        let agentID = try agent.agentID

        var expected = 0
        var ranges: [ClosedRange<UInt64>] = []
        let store = try cluster.store()
        var interrupted = 0
        var previous = 0
        for _ in 0..<20 {
            let emitted = try agent.cli(["selftest", "--count", "\(Self.perRound)", "--no-wait"])
            #expect(emitted.status == 0)
            ranges.append(try Self.seqRange(emitted.stdout))
            expected += Self.perRound
            try agent.start()
            // Kill at a random point once this run's uploads have begun.
            try await eventually("uploads of this run began", timeout: 60, interval: 0.01) {
                try await store.eventCount(agentID: agentID) > previous
            }
            try await Task.sleep(for: .milliseconds(Int.random(in: 0...300)))
            agent.kill9()
            let count = try await store.eventCount(agentID: agentID)
            // Interrupted mid-upload: it had delivered some events and still had more to send.
            if count > previous, try agent.spoolDepth() > 0 { interrupted += 1 }
            previous = count
        }
        #expect(interrupted >= 10, "only \(interrupted) of 20 kills landed during an upload")

        try agent.start()
        try await eventually("spool drained after the kills", timeout: 180) { try agent.spoolDepth() == 0 }
        let (byIndex, delivered) = try await Self.delivered(cluster, agentID: agentID)
        let expectedSeqs = Set(ranges.flatMap { Array($0) })
        // Indexes restart at 0 for each selftest run, so each index is expected 20 times.
        #expect(delivered.count == expected)
        #expect(Set(delivered) == expectedSeqs)
        #expect(byIndex.count == Self.perRound)
        #expect(byIndex.values.allSatisfy { $0 == 20 })
        agent.stop()
    }
}

/// The agent's connections to the collector, as a fleet's collector sees them.
@Suite("End to end: one connection per agent", .serialized)
struct AgentConnectionTests {
    /// Local ports of `pid`'s established TCP connections to `port` on loopback: its socket
    /// descriptors (/proc/PID/fd) matched against the kernel's table (/proc/net/tcp).
    static func connections(of pid: Int32, to port: Int) -> Set<Int> {
        let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
        let inodes = Set(descriptors.compactMap { fd -> String? in
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)"),
                  target.hasPrefix("socket:[") else { return nil }
            return String(target.dropFirst(8).dropLast())
        })
        // Read to the end: Foundation's String(contentsOfFile:) returns only the first page of a
        // procfs file — after other tests the agent's socket was past it (the "0 connections" flake).
        let table = (try? FileHandle(forReadingAtPath: "/proc/net/tcp")?.readToEnd()).flatMap { $0 }.map { String(decoding: $0, as: UTF8.self) } ?? ""
        var ports = Set<Int>()
        for line in table.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ")
            // sl local rem st tx:rx tr:when retrnsmt uid timeout inode; 01 = ESTABLISHED
            guard fields.count > 9, fields[3] == "01", inodes.contains(String(fields[9])),
                  let remote = fields[2].split(separator: ":").last, Int(remote, radix: 16) == port,
                  let local = fields[1].split(separator: ":").last, let localPort = Int(local, radix: 16) else { continue }
            ports.insert(localPort)
        }
        return ports
    }

    @Test("an agent holds one HTTP/2 connection to the collector: its waiting policy request, a heartbeat every second and a selftest's uploads all travel on it, none opened beside; HTTP/1.1 clients are still served")
    func oneConnection() async throws {
        let cluster = try Cluster.started()
        defer { cluster.shutdown() }
        let agent = try cluster.enrollAgent(configuration: Cluster.fastAgentConfig.replacingOccurrences(of: "heartbeat_interval: 5", with: "heartbeat_interval: 1"))
        try agent.startAndSelftest()
        let pid = try #require(agent.process?.pid)
        // Sampled on a thread of its own, so the window is sampled whatever the cooperative pool
        // is doing while this test blocks in the CLI call.
        let sampled = Mutex((ports: Set<Int>(), samples: 0))
        let done = DispatchSemaphore(value: 0)
        let port = cluster.agentPort
        Thread.detachNewThread {
            let end = Date().addingTimeInterval(6)
            while Date() < end {
                let ports = Self.connections(of: pid, to: port)
                sampled.withLock { $0.ports.formUnion(ports); $0.samples += 1 }
                usleep(20_000)
            }
            done.signal()
        }
        #expect(try agent.cli(["selftest", "--count", "500"]).status == 0)
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { done.wait(); continuation.resume() }
        }
        let (seen, samples) = sampled.withLock { $0 }
        #expect(samples > 50, "only \(samples) samples of the agent's connections in 6 s")
        #expect(seen.count == 1, "the agent used connections from local ports \(seen.sorted()) (\(samples) samples)")
        // One connection is HTTP/2: under HTTP/1.1 the waiting policy request holds one of its own.

        for (flag, version) in [("--http2", "2"), ("--http1.1", "1.1")] {
            let answer = try run("curl", [
                "-sS", "-o", "/dev/null", "-w", "%{http_version} %{http_code}", flag, "--cacert", cluster.caPath, "--cert", agent.certificatePath, "--key", agent.keyPath,
                "\(cluster.collectorURL)/v1/policy",
            ])
            #expect(answer.stdout == "\(version) 200", "\(flag): \(answer.stdout) \(answer.stderr)")
        }
        agent.stop()
    }
}
