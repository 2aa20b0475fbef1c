import BulwarkCollector
import BulwarkCore
import Foundation
import NIOCore
import Testing

/// Hostile and malformed batches: each gets its documented 4xx, nothing of it is stored, and the
/// collector keeps serving.
@Suite("End to end: hostile bodies", .serialized)
struct HostileBodyTests {
    struct Case {
        var name: String
        var body: Data
        var encoding: String? = "deflate"
        var status: Int
        var code: String
    }

    static func deflate(_ text: String) throws -> Data {
        Data(buffer: try Deflate.compress(ByteBuffer(string: text)))
    }

    /// A batch whose first event is valid, so "nothing stored" proves all-or-nothing.
    static func batch(agent: String, events: [String]) -> String {
        let valid = #"{"seq":900001,"time":"2026-11-26T10:00:00.000Z","type":"agent.selftest","v":1,"data":{"nonce":"hostile","index":1}}"#
        return #"{"agent":"\#(agent)","batch":"hostile","events":[\#(([valid] + events).joined(separator: ","))]}"#
    }

    @Test("invalid deflate, deflate bomb, invalid JSON, unknown type or version, another agent, oversized: documented 4xx, nothing stored")
    func hostileBodies() async throws {
        let cluster = try Cluster.started()
        defer { cluster.shutdown() }
        let agent = try cluster.enrollAgent(name: "victim")
        let agentID = try agent.agentID
        let bystander = try cluster.enrollAgent(name: "bystander")
        try bystander.startAndSelftest()

        let bomb = try Deflate.compress(ByteBuffer(repeating: UInt8(ascii: " "), count: 40 * 1024 * 1024))
        #expect(bomb.readableBytes < 100 * 1024, "the bomb is small on the wire")
        var random = SystemRandomNumberGenerator()
        let oversized = Data((0..<(5 * 1024 * 1024)).map { _ in UInt8.random(in: 0...255, using: &random) })
        let event = { (type: String, v: Int) in
            #"{"seq":900002,"time":"2026-11-26T10:00:00.000Z","type":"\#(type)","v":\#(v),"data":{"nonce":"x"}}"#
        }
        let cases: [Case] = [
            Case(name: "invalid deflate", body: Data("this is not zlib".utf8), status: 400, code: "invalid_deflate"),
            Case(name: "truncated deflate", body: try Self.deflate(Self.batch(agent: agentID, events: [])).dropLast(6), status: 400, code: "invalid_deflate"),
            Case(name: "deflate bomb", body: Data(buffer: bomb), status: 413, code: "inflated_too_large"),
            Case(name: "invalid JSON", body: try Self.deflate("{\"agent\": \"\(agentID)\", \"events\": [ {"), status: 400, code: "invalid_json"),
            Case(name: "unknown event type", body: try Self.deflate(Self.batch(agent: agentID, events: [event("agent.mystery", 1)])), status: 400, code: "unknown_event_type"),
            Case(name: "unknown schema version", body: try Self.deflate(Self.batch(agent: agentID, events: [event(EventType.selftest, 99)])), status: 400, code: "unsupported_schema_version"),
            Case(name: "missing required field", body: try Self.deflate(Self.batch(agent: agentID, events: [#"{"seq":900003,"time":"2026-11-26T10:00:00Z","type":"agent.selftest","v":1,"data":{}}"#])), status: 400, code: "invalid_event"),
            Case(name: "batch naming another agent", body: try Self.deflate(Self.batch(agent: try bystander.agentID, events: [])), status: 409, code: "agent_mismatch"),
            Case(name: "oversized body", body: oversized, status: 413, code: "body_too_large"),
            Case(name: "not deflated", body: Data(Self.batch(agent: agentID, events: []).utf8), encoding: nil, status: 400, code: "encoding_required"),
        ]

        let before = try await cluster.store().eventCount(agentID: agentID)
        for testCase in cases {
            let path = "\(cluster.root)/\(testCase.name.replacingOccurrences(of: " ", with: "-")).bin"
            try testCase.body.write(to: URL(fileURLWithPath: path))
            var arguments = ["--cert", agent.certificatePath, "--key", agent.keyPath, "-X", "POST", "--data-binary", "@\(path)"]
            if let encoding = testCase.encoding { arguments += ["-H", "Content-Encoding: \(encoding)"] }
            let response = try cluster.curl(arguments + ["\(cluster.collectorURL)/v1/events"])
            #expect(response.status == testCase.status, "\(testCase.name): \(response.body)")
            #expect(response.body.contains("\"code\":\"\(testCase.code)\""), "\(testCase.name): \(response.body)")
            // Still serving: the bystander's events keep flowing between hostile requests.
            #expect(cluster.collector?.isRunning == true, "collector died on \(testCase.name)")
        }
        #expect(try await cluster.store().eventCount(agentID: agentID) == before, "nothing of a refused batch is stored")

        // A valid batch from the same agent is still accepted afterwards.
        let good = try Self.deflate(Self.batch(agent: agentID, events: []))
        try good.write(to: URL(fileURLWithPath: cluster.root + "/good.bin"))
        let accepted = try cluster.curl(["--cert", agent.certificatePath, "--key", agent.keyPath, "-X", "POST", "-H", "Content-Encoding: deflate",
                                         "--data-binary", "@\(cluster.root)/good.bin", "\(cluster.collectorURL)/v1/events"])
        #expect(accepted.status == 200)
        #expect(accepted.body.contains("\"acked\":900001"))
        #expect(try await cluster.store().eventCount(agentID: agentID) == before + 1)
        #expect(try bystander.cli(["selftest"]).status == 0)
        bystander.stop()
    }
}
