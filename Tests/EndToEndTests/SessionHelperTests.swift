import BulwarkCollector
import BulwarkCore
import Foundation
import Testing

/// The session helper and the agent's session socket: policy from the agent, clipboard events
/// through the agent's spool to the collector, identity from the kernel.
@Suite("End to end: session helper", .serialized)
struct SessionHelperTests {
    /// A collector, an enrolled agent with a session socket, an X server and a helper that has
    /// the agent's default policy; `claude` is a renamed xclip.
    final class HelperSession {
        let cluster: Cluster
        let agent: AgentHandle
        let x: XServer
        let claude: String
        let helper: ChildProcess

        init() throws {
            cluster = try Cluster.started(name: "helper-\(UUID().uuidString.prefix(6))")
            let socket = cluster.root + "/run/session.sock"
            agent = try cluster.enrollAgent(configuration: Cluster.fastAgentConfig.replacingOccurrences(of: "session_socket: \"\"", with: "session_socket: \(socket)"))
            try agent.startAndSelftest()
            x = try XServer(directory: cluster.root)
            claude = cluster.root + "/claude"
            try FileManager.default.copyItem(atPath: "/usr/bin/xclip", toPath: claude)
            helper = try x.client(Binaries.path("bulwark-agent"), ["session", "--socket", socket, "--display", x.display], logPath: cluster.root + "/session.log")
            try helper.waitForLog("policy 'bulwark-default' from the agent")
        }

        func stop() {
            helper.kill9()
            x.stop()
            cluster.shutdown()
        }
    }

    @Test("a blocked paste in the user's session reaches the collector as paste.blocked, with the user the kernel vouches for")
    func helperEventsReachCollector() async throws {
        let session = try HelperSession()
        defer { session.stop() }
        let (cluster, agent, x, claude, helper) = (session.cluster, session.agent, session.x, session.claude, session.helper)

        // The default policy blocks credentials going to AI coding tools.
        let file = cluster.root + "/token.txt"
        try Data("export GITHUB_TOKEN=ghp_4Jd8s2KqLm9Xv3Tb7Wn1Pz6Yc5Rf0Hg2Ea8U".utf8).write(to: URL(fileURLWithPath: file))
        let owner = try x.client("/usr/bin/xclip", ["-selection", "clipboard", "-quiet", file], logPath: cluster.root + "/xclip.log")
        defer { owner.kill9() }
        let deadline = Date().addingTimeInterval(20)
        while owner.isRunning {
            if Date() > deadline { throw TestFailure.timeout("the helper taking over the selection:\n\(helper.log)") }
            usleep(20_000)
        }
        let pasted = try run(claude, ["-o", "-selection", "clipboard"], environment: ["DISPLAY": x.display], timeout: 20)
        #expect(pasted.stdout.isEmpty)

        // Through the agent's spool and uploader to the collector.
        let store = try cluster.store()
        let agentID = try agent.agentID
        var blocked: [StoredEvent] = []
        let arrival = Date().addingTimeInterval(30)
        while blocked.isEmpty {
            blocked = try await store.events(EventQuery(type: EventType.paste("blocked"), agent: agentID))
            if Date() > arrival { throw TestFailure.timeout("paste.blocked at the collector:\n\(helper.log)") }
            usleep(100_000)
        }
        let event = try #require(blocked.first)
        #expect(event.data["app"] == .string("claude-code"))
        #expect(event.data["rule"] == .string("block-secrets-to-ai"))
        #expect(event.data["user"] == .string("root"))
        let copies = try await store.events(EventQuery(type: EventType.clipboardCopy, agent: agentID))
        #expect(copies.count == 1)
        #expect(copies.first?.data["findings"] == .array([.object(["type": .string("github_token"), "count": .number(1), "confidence": .number(85)])]))

        // Claude Code started in the terminal that already has the focus (no focus change): the
        // helper looks at a focused terminal again within 5 s. Logging out then stops the helper
        // with SIGTERM: the stretch in progress still reaches the collector, and it exits cleanly.
        let windowManager = try x.windowManager(directory: cluster.root)
        defer { windowManager.kill9() }
        let tools = cluster.root + "/tools"
        try FileManager.default.createDirectory(atPath: tools, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/usr/bin/sleep", toPath: tools + "/claude")
        defer { killProcesses(mentioning: tools) }  // xterm's child is in its own session
        let terminal = try x.client(
            "/usr/bin/xterm", ["-T", "ai-term", "-e", "/bin/sh", "-c", "sleep 1; exec \(tools)/claude 300"], logPath: cluster.root + "/xterm.log")
        defer { terminal.kill9() }
        let window = try x.window(titled: "ai-term")
        try x.activate(window)
        usleep(8_000_000)
        #expect(helper.stop() == 0, "\(helper.log)")
        var focus: [StoredEvent] = []
        let focusArrival = Date().addingTimeInterval(30)
        while focus.isEmpty {
            focus = try await store.events(EventQuery(type: EventType.aiFocus, agent: agentID))
            if Date() > focusArrival { throw TestFailure.timeout("ai.focus at the collector:\n\(helper.log)") }
            usleep(100_000)
        }
        #expect(focus.first?.data["app"] == .string("claude-code"))
        #expect(focus.first?.data["identified_by"] == .string("terminal_process"))
        #expect(focus.first?.data["user"] == .string("root"))
        if case .number(let seconds)? = focus.first?.data["seconds"] { #expect(seconds >= 1 && seconds <= 8) } else { Issue.record("no seconds") }
    }

    @Test("a policy installed while the agent runs reaches the connected helper within seconds; the helper survives an agent restart and keeps enforcing")
    func policyReachesRunningHelper() throws {
        let session = try HelperSession()
        defer { session.stop() }
        let (cluster, agent, x, claude, helper) = (session.cluster, session.agent, session.x, session.claude, session.helper)

        // A policy with an inline keyword classifier: project code names never go to AI tools.
        let policy = cluster.root + "/strict.yaml"
        try Data("""
            version: 1
            name: strict-projects
            classifiers:
              - {id: project_codename, kind: keywords, words: [Bluebird Falcon]}
            rules:
              - id: no-codenames-to-ai
                when: {types: "keywords:project_codename"}
                destinations: {categories: [consumer_ai, ai_coding]}
                action: block
            """.utf8).write(to: URL(fileURLWithPath: policy))
        let installed = try agent.cli(["policy", "install", policy])
        #expect(installed.status == 0, "\(installed.output)")
        try helper.waitForLog("policy 'strict-projects' from the agent", timeout: 20)

        func pasteBlocked(_ text: String, name: String) throws -> Bool {
            let file = cluster.root + "/" + name
            try Data(text.utf8).write(to: URL(fileURLWithPath: file))
            let owner = try x.client("/usr/bin/xclip", ["-selection", "clipboard", "-quiet", file], logPath: cluster.root + "/\(name).log")
            defer { owner.kill9() }
            let deadline = Date().addingTimeInterval(20)
            while owner.isRunning {
                if Date() > deadline { return false }
                usleep(20_000)
            }
            return try run(claude, ["-o", "-selection", "clipboard"], environment: ["DISPLAY": x.display], timeout: 20).stdout.isEmpty
        }
        #expect(try pasteBlocked("status of project bluebird falcon for Q3", name: "one.txt"))

        // The agent restarts: the helper reconnects, gets the policy again, and enforced it meanwhile.
        agent.kill9()
        #expect(try pasteBlocked("BLUEBIRD FALCON budget", name: "two.txt"))
        try agent.start()
        try eventuallySync(timeout: 30) { helper.log.components(separatedBy: "policy 'strict-projects' from the agent").count >= 3 }
    }

    @Test("an app an analyst marks unsanctioned on the collector is blocked by the rule naming unsanctioned within seconds, in the running helper")
    func sanctionStateReachesHelper() throws {
        let session = try HelperSession()
        defer { session.stop() }
        let (cluster, agent, x, claude, helper) = (session.cluster, session.agent, session.x, session.claude, session.helper)
        let policy = cluster.root + "/sanctions.yaml"
        try Data("""
            version: 1
            name: sanctions
            rules:
              - id: audit-mail-to-ai
                when: {types: email}
                destinations: {categories: [ai_coding]}
                action: audit
              - id: no-data-to-unsanctioned-ai
                when: {types: email}
                destinations: {sanction: [unsanctioned]}
                action: block
            """.utf8).write(to: URL(fileURLWithPath: policy))
        #expect(try agent.cli(["policy", "install", policy]).status == 0)
        try helper.waitForLog("policy 'sanctions' from the agent", timeout: 20)
        let file = cluster.root + "/mail.txt"
        try Data("write to jane.doe@example.com about the renewal".utf8).write(to: URL(fileURLWithPath: file))
        let owner = try x.client("/usr/bin/xclip", ["-selection", "clipboard", "-quiet", file], logPath: cluster.root + "/mail.log")
        defer { owner.kill9() }
        try eventuallySync(timeout: 20) { !owner.isRunning }  // guarded
        func paste() throws -> String { try run(claude, ["-o", "-selection", "clipboard"], environment: ["DISPLAY": x.display], timeout: 20).stdout }
        #expect(try paste().hasPrefix("write to jane"))  // claude-code is unreviewed: audited, served

        let analyst = ProcessInfo.processInfo.environment.merging([
            "BULWARK_API": cluster.apiURL, "BULWARK_CA": cluster.caPath, "BULWARK_TOKEN": try cluster.apiToken(role: "analyst"),
        ]) { $1 }
        let set = try run(Binaries.path("bulwark"), ["apps", "set-state", "claude-code", "unsanctioned", "--reason", "no DPA"], environment: analyst)
        #expect(set.status == 0, "\(set.output)")
        let changed = Date()
        try eventuallySync(timeout: 10) { try paste().isEmpty }
        #expect(Date().timeIntervalSince(changed) < 10)
    }

    func eventuallySync(timeout: Double, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while try !condition() {
            if Date() > deadline { throw TestFailure.timeout("condition") }
            usleep(100_000)
        }
    }

    @Test("a helper claiming another user's uid is refused with the reason")
    func impostorRefused() throws {
        let cluster = try Cluster.started()
        defer { cluster.shutdown() }
        let socket = cluster.root + "/run/session.sock"
        let agent = try cluster.enrollAgent(configuration: Cluster.fastAgentConfig.replacingOccurrences(of: "session_socket: \"\"", with: "session_socket: \(socket)"))
        try agent.startAndSelftest()
        #expect(SecureFile.permissions(of: socket) == 0o666)

        let descriptor = socket.withCString { path -> Int32 in
            let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                let bytes = Array(socket.utf8)
                raw.copyBytes(from: bytes)
                raw[bytes.count] = 0
            }
            let connected = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            _ = path
            return connected == 0 ? fd : -1
        }
        #expect(descriptor >= 0)
        defer { close(descriptor) }
        let hello = #"{"hello":{"uid":12345,"user":"mallory","pid":1}}"# + "\n"
        _ = hello.withCString { Glibc.write(descriptor, $0, strlen($0)) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        var answer = Data()
        while !answer.contains(UInt8(ascii: "\n")) {
            let count = Glibc.read(descriptor, &buffer, buffer.count)
            if count <= 0 { break }
            answer.append(contentsOf: buffer[0..<count])
        }
        let text = String(decoding: answer, as: UTF8.self)
        #expect(text.contains(#""error":"helper claims uid 12345 but the kernel says uid 0"#))
        #expect(!text.contains("policy"))
    }
}
