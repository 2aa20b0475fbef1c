import BulwarkCollector
import BulwarkCore
import Foundation
import Testing

/// The file guard with real fanotify (as root) on a tmpfs mounted for the test: only that
/// mount is marked, so the rest of the machine is not slowed by the test. AI tools are copies of
/// real binaries under catalog names; the policy is the default one.
@Suite("End to end: file guard (fanotify)", .serialized)
struct FileGuardTests {
    /// A cluster with an agent guarding `guarded` (a tmpfs), its tools directory and helpers.
    final class Guarded {
        let cluster: Cluster
        let agent: AgentHandle
        let guarded: String
        let tools: String
        let store: SQLiteStore
        let agentID: String

        init(name: String = #function, sessionSocket: Bool = false, launcher: [String] = []) throws {
            cluster = try Cluster.started(name: name)
            guarded = cluster.root + "/guarded"
            try Cluster.mountTmpfs(at: guarded, megabytes: 64)
            cluster.mounts.append(guarded)
            tools = guarded + "/tools"
            try FileManager.default.createDirectory(atPath: tools, withIntermediateDirectories: true)
            var configuration = Cluster.fastAgentConfig.replacingOccurrences(of: "file_guard: false", with: "file_guard: true\nfile_paths: [\(guarded)]")
            if sessionSocket {
                configuration = configuration.replacingOccurrences(of: "session_socket: \"\"", with: "session_socket: \(cluster.root)/run/session.sock")
            }
            agent = try cluster.enrollAgent(configuration: configuration)
            agent.launcher = launcher
            try agent.startAndSelftest()
            try agent.process?.waitForLog("file guard watching")
            store = try cluster.store()
            agentID = try agent.agentID
        }

        /// A copy of `binary` under `name` in the guarded tools directory.
        func tool(_ name: String, from binary: String = "/bin/cat") throws -> String {
            let path = tools + "/" + name
            // The program itself, not a symbolic link to it (/bin/sh is one).
            let real = URL(fileURLWithPath: binary).resolvingSymlinksInPath().path
            if !FileManager.default.fileExists(atPath: path) { try FileManager.default.copyItem(atPath: real, toPath: path) }
            return path
        }

        func write(_ text: String, to name: String) throws -> String {
            let path = guarded + "/" + name
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            return path
        }

        func events(_ outcome: String) async throws -> [StoredEvent] {
            try await store.events(EventQuery(type: EventType.file(outcome), agent: agentID))
        }

        func waitForEvents(_ outcome: String, count: Int = 1, where matches: @escaping (StoredEvent) -> Bool = { _ in true }) async throws -> [StoredEvent] {
            var found: [StoredEvent] = []
            try await eventually("\(count) file.\(outcome) events", timeout: 30) {
                found = try await events(outcome).filter(matches)
                return found.count >= count
            }
            return found
        }

        /// Stops the agent, which must still be running: a guard that died lets every open
        /// through, so a test that passed while it was dead proves nothing.
        func stop(agentStoppedByTest: Bool = false, sourceLocation: SourceLocation = #_sourceLocation) {
            if !agentStoppedByTest, let process = agent.process, !process.isRunning {
                Issue.record("the agent died during the test:\n\(process.log.suffix(4000))", sourceLocation: sourceLocation)
            }
            agent.stop()
            cluster.shutdown()
        }
    }

    static let card = "Customer card 4556 7375 8689 9855 exp 12/28, CVV on file.\n"

    @Test("an AI tool (cat installed as ollama) cannot read a file with a card number (EPERM, an incident); plain cat can; harmless files are read and audited once; a key under .ssh is blocked by path")
    func aiToolReads() async throws {
        let guarded = try Guarded()
        defer { guarded.stop() }
        let ollama = try guarded.tool("ollama")
        let cardFile = try guarded.write(Self.card, to: "customers.txt")

        let denied = try run(ollama, [cardFile])
        #expect(denied.status != 0)
        #expect(denied.stderr.contains("Operation not permitted"), "\(denied.output)")
        #expect(denied.stdout.isEmpty)
        #expect(try run("/bin/cat", [cardFile]).stdout == Self.card, "an ordinary program reads it")
        let blocked = try #require(try await guarded.waitForEvents("blocked").first)
        #expect(blocked.data["app"] == "ollama")
        #expect(blocked.data["activity"] == "file_read_by_ai_tool")
        #expect(blocked.data["rule"] == "block-high-confidence-pii-to-ai-tools")
        #expect(blocked.data["path"] == .string(cardFile))
        #expect(blocked.data["exe"] == .string(ollama))
        #expect(blocked.data["incident_id"]?.stringValue?.hasPrefix("BW-") == true)
        if case .array(let findings)? = blocked.data["findings"] {
            #expect(findings.contains { if case .object(let finding) = $0 { finding["type"] == "credit_card" } else { false } })
        } else { Issue.record("no findings") }
        #expect(!"\(blocked.data)".contains("4556 7375"), "never the content")
        try EventCatalog.standard.validate(Event(seq: 1, time: Date(), type: blocked.type, v: blocked.v, data: blocked.data))

        // Harmless: read, and audited once per process and file.
        let notes = try guarded.write("Meeting notes: nothing to see here.\n", to: "notes.txt")
        #expect(try run(ollama, [notes, notes]).status == 0)
        let audited = try await guarded.waitForEvents("audited") { $0.data["path"] == .string(notes) }
        try await Task.sleep(for: .seconds(1))
        #expect(try await guarded.events("audited").filter { $0.data["path"] == .string(notes) }.count == audited.count)
        #expect(audited.count == 1)
        // By now the file is known harmless: its opens no longer wait for the agent, and another
        // AI process reading it is still recorded (from the open notification).
        #expect(try run(ollama, [notes]).status == 0)
        let again = try await guarded.waitForEvents("audited", count: 2) { $0.data["path"] == .string(notes) }
        #expect(again.last?.data["verdict"] == "known_harmless")
        #expect(again.last?.data["app"] == "ollama")

        // A credential file by its path, whatever it holds.
        let key = try guarded.write("not really a key\n", to: "home/alice/.ssh/id_ed25519")
        let keyRead = try run(ollama, [key])
        #expect(keyRead.status != 0 && keyRead.stderr.contains("Operation not permitted"))
        let keyBlocked = try #require(try await guarded.waitForEvents("blocked") { $0.data["path"] == .string(key) }.first)
        #expect(keyBlocked.data["rule"] == "block-secrets-to-ai-tools")
        #expect("\(keyBlocked.data["findings"] ?? .null)".contains("credential_file"))

        // A child of the AI tool reads for it: blocked too.
        let child = try run("/bin/sh", ["-c", "exec /bin/cat '\(cardFile)'"])  // an ordinary shell: allowed
        #expect(child.stdout == Self.card)
        let claude = try guarded.tool("claude", from: "/bin/sh")
        let viaChild = try run(claude, ["-c", "/bin/cat '\(cardFile)'"])
        #expect(viaChild.status != 0 && viaChild.stdout.isEmpty, "\(viaChild.output)")
    }

    @Test("in its own mount namespace, as systemd's ProtectSystem=strict starts it, the agent still stops an AI tool's read (filesystem marks, not mount marks)")
    func ownMountNamespace() async throws {
        let guarded = try Guarded(launcher: ["/usr/bin/unshare", "--mount", "--propagation", "private"])
        defer { guarded.stop() }
        let agentPID = try #require(guarded.agent.process?.pid)
        let own = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/mnt")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(agentPID)/ns/mnt") != own, "the agent runs in a mount namespace of its own")
        let ollama = try guarded.tool("ollama")
        let cardFile = try guarded.write(Self.card, to: "customers.txt")
        let denied = try run(ollama, [cardFile])
        #expect(denied.status != 0 && denied.stdout.isEmpty, "\(denied.output)")
        #expect(try await guarded.waitForEvents("blocked").first?.data["path"] == .string(cardFile))
    }

    @Test("plain opens are reported only while an AI tool runs: one started from outside the guarded mounts (seen by the kernel's process events) has its reads of harmless files audited; when it is gone, reporting stops")
    func opensReportedWhileAIToolRuns() async throws {
        let guarded = try Guarded()
        defer { guarded.stop() }
        let log = try #require(guarded.agent.process)
        let notes = try guarded.write("Meeting notes: nothing to see here.\n", to: "notes.txt")
        #expect(try run("/bin/cat", [notes]).status == 0)  // an ordinary program: the file becomes known harmless
        try await Task.sleep(for: .seconds(1))
        #expect(!log.log.contains("an AI tool is running"), "no AI tool yet: \(log.log)")

        // Outside the tmpfs: no exec permission event, only the proc connector names it.
        let outside = guarded.cluster.root + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        let aider = outside + "/aider"
        try FileManager.default.copyItem(atPath: URL(fileURLWithPath: "/bin/sh").resolvingSymlinksInPath().path, toPath: aider)
        #expect(try run(aider, ["-c", "sleep 1; cat '\(notes)' >/dev/null"]).status == 0)
        try log.waitForLog("an AI tool is running")
        let audited = try #require(try await guarded.waitForEvents("audited") { $0.data["path"] == .string(notes) }.first)
        #expect(audited.data["app"] == "aider")
        #expect(audited.data["verdict"] == "known_harmless")
        try log.waitForLog("no AI tool is running", timeout: 20)
    }

    @Test("the verdict cache follows the file: harmless, then rewritten with a card number, then blocked; a file written just after it was created is never waved through")
    func cacheFlips() async throws {
        let guarded = try Guarded()
        defer { guarded.stop() }
        let ollama = try guarded.tool("ollama")
        let file = try guarded.write("Quarterly plan, no customer data.\n", to: "plan.txt")
        #expect(try run(ollama, [file]).status == 0)
        #expect(try run(ollama, [file]).status == 0, "the cached verdict")
        try Data(Self.card.utf8).write(to: URL(fileURLWithPath: file))
        let after = try run(ollama, [file])
        #expect(after.status != 0 && after.stderr.contains("Operation not permitted"), "\(after.output)")

        // A new file is opened empty, then written: the agent learning the empty file in the
        // meantime must not leave it ignored once it holds a card number (a race once seen in CI).
        for round in 0..<40 {
            let fresh = try guarded.write(Self.card, to: "fresh-\(round).txt")
            let read = try run(ollama, [fresh])
            guard read.status != 0 && read.stdout.isEmpty else {
                Issue.record("round \(round): \(read.output)\nagent log:\n\(guarded.agent.process?.log ?? "")")
                break
            }
        }
    }

    @Test("an unsanctioned AI tool's program cannot start (EPERM, exit 126), a sanctioned one can; a state change on the collector flips it within seconds")
    func execEnforcement() async throws {
        let guarded = try Guarded()
        defer { guarded.stop() }
        let server = try guarded.tool("llama-server", from: "/bin/true")
        let analyst = ProcessInfo.processInfo.environment.merging([
            "BULWARK_API": guarded.cluster.apiURL, "BULWARK_CA": guarded.cluster.caPath, "BULWARK_TOKEN": try guarded.cluster.apiToken(role: "analyst"),
        ]) { $1 }
        func start() throws -> CommandResult { try run("/bin/sh", ["-c", "'\(server)'; echo \"exit $?\""]) }
        #expect(try start().stdout.contains("exit 0"), "unreviewed: starts")

        let set = try run(Binaries.path("bulwark"), ["apps", "set-state", "llama-cpp", "unsanctioned", "--reason", "not approved"], environment: analyst)
        #expect(set.status == 0, "\(set.output)")
        try await eventually("the start being refused", timeout: 15) { try start().stdout.contains("exit 126") }
        let refused = try start()
        #expect(refused.output.contains("Operation not permitted"), "\(refused.output)")
        let blocked = try #require(try await guarded.waitForEvents("blocked") { $0.data["activity"] == "ai_tool_exec" }.first)
        #expect(blocked.data["app"] == "llama-cpp")
        #expect(blocked.data["rule"] == "block-unsanctioned-ai-tools")
        #expect(blocked.data["sanction"] == "unsanctioned")
        #expect(blocked.data["path"] == .string(server))

        let sanction = try run(Binaries.path("bulwark"), ["apps", "set-state", "llama-cpp", "sanctioned", "--reason", "approved"], environment: analyst)
        #expect(sanction.status == 0)
        try await eventually("the start being allowed again", timeout: 15) { try start().stdout.contains("exit 0") }
        // An ordinary program on the same mount always starts.
        let plain = try guarded.tool("true", from: "/bin/true")
        #expect(try run("/bin/sh", ["-c", "'\(plain)'; echo \"exit $?\""]).stdout.contains("exit 0"))
    }

    @Test("SIGKILL of the agent leaves no open hanging (the kernel releases the marks); a normal stop answers everything")
    func neverHangs() async throws {
        let guarded = try Guarded()
        defer { guarded.stop(agentStoppedByTest: true) }
        let ollama = try guarded.tool("ollama")
        let files = try (0..<50).map { try guarded.write("harmless file \($0)\n", to: "many/\($0).txt") }
        // Readers keep opening while the agent dies.
        let readers = try (0..<4).map { index in
            try ChildProcess("/bin/sh", ["-c", "for i in 1 2 3 4 5 6 7 8 9 10; do '\(ollama)' \(files.joined(separator: " ")) > /dev/null; done"],
                             logPath: guarded.cluster.root + "/reader-\(index).log")
        }
        try await Task.sleep(for: .milliseconds(300))
        guarded.agent.kill9()
        for reader in readers { #expect(reader.waitForExit(timeout: 20) == 0, "a reader hung or failed: \(reader.log)") }
        // With the agent gone, nothing is guarded or waiting.
        #expect(try run(ollama, [files[0]]).status == 0)

        try guarded.agent.start()
        try guarded.agent.process?.waitForLog("file guard watching")
        let more = try (0..<4).map { index in
            try ChildProcess("/bin/sh", ["-c", "for i in 1 2 3 4 5 6 7 8 9 10; do '\(ollama)' \(files.joined(separator: " ")) > /dev/null; done"],
                             logPath: guarded.cluster.root + "/reader-again-\(index).log")
        }
        try await Task.sleep(for: .milliseconds(300))
        #expect(guarded.agent.process?.stop() == 0)
        for reader in more { #expect(reader.waitForExit(timeout: 20) == 0, "a reader hung after a normal stop: \(reader.log)") }
    }

    @Test("a mount fanotify refuses (procfs takes no permission events) is an agent.health event with the reason; the rest of the agent keeps running")
    func unavailable() async throws {
        let cluster = try Cluster.started()
        defer { cluster.shutdown() }
        let agent = try cluster.enrollAgent(configuration: Cluster.fastAgentConfig.replacingOccurrences(of: "file_guard: false", with: "file_guard: true\nfile_paths: [/proc]"))
        try agent.startAndSelftest()  // the pipeline works regardless
        defer { agent.stop() }
        let store = try cluster.store()
        let agentID = try agent.agentID
        var health: [StoredEvent] = []
        try await eventually("agent.health at the collector", timeout: 30) {
            health = try await store.events(EventQuery(type: EventType.agentHealth, agent: agentID))
            return !health.isEmpty
        }
        #expect(health[0].data["component"] == "file_guard")
        #expect(health[0].data["status"] == "unavailable")
        #expect(health[0].data["message"]?.stringValue?.contains("cannot watch the filesystem of /proc") == true, "\(health[0].data)")
        #expect(try agent.cli(["selftest"]).status == 0, "still delivering")
    }

    @Test("an upload: a browser opening a file with a token while an AI tool's window has the focus (reported by the session helper) is refused; with an ordinary window focused it is not. Each block is a desktop notification through the user's session helper naming the file and the incident")
    func uploads() async throws {
        let guarded = try Guarded(sessionSocket: true)
        defer { guarded.stop() }
        let cluster = guarded.cluster
        let x = try XServer(directory: cluster.root)
        defer { x.stop() }
        defer { killProcesses(mentioning: guarded.tools) }
        let windowManager = try x.windowManager(directory: cluster.root)
        defer { windowManager.kill9() }
        let bus = try SessionBus(directory: cluster.root)
        defer { bus.stop() }
        let notifications = try TestNotificationServer(address: bus.address, capabilities: ["body"])
        defer { notifications.stop() }
        let helper = try x.client(
            Binaries.path("bulwark-agent"), ["session", "--socket", cluster.root + "/run/session.sock", "--display", x.display], logPath: cluster.root + "/session.log",
            environment: ["DBUS_SESSION_BUS_ADDRESS": bus.address])
        defer { helper.kill9() }
        try helper.waitForLog("policy 'bulwark-default' from the agent")
        /// The notification the helper showed with `summary`, once it is there.
        func notification(_ summary: String) async throws -> TestNotificationServer.Shown {
            try await eventually("a notification \"\(summary)\"", timeout: 15) { notifications.notifications.contains { $0.summary == summary } }
            return try #require(notifications.notifications.first { $0.summary == summary })
        }

        // An AI tool reading a file with a card number: the user sees why, and the incident id.
        let ollama = try guarded.tool("ollama")
        let cardFile = try guarded.write(Self.card, to: "customers.txt")
        #expect(try run(ollama, [cardFile]).status != 0)
        let readBlock = try #require(try await guarded.waitForEvents("blocked") { $0.data["path"] == .string(cardFile) }.first)
        let readNotice = try await notification("Ollama may not read customers.txt")
        #expect(readNotice.appName == "Bulwark")
        #expect(readNotice.body.contains("File: \(cardFile)"), "\(readNotice.body)")
        #expect(readNotice.body.contains("credit card"), "\(readNotice.body)")
        let readIncident = try #require(readBlock.data["incident_id"]?.stringValue)
        #expect(readNotice.body.contains("Incident \(readIncident)"), "\(readNotice.body)")
        #expect(!readNotice.body.contains("4556"), "no card digits on the screen: \(readNotice.body)")

        let browser = try guarded.tool("chromium")  // a browser by its program's name, reading the file as a browser would
        let claude = try guarded.tool("claude", from: "/bin/sleep")
        let token = try guarded.write("export GITHUB_TOKEN=ghp_4Jd8s2KqLm9Xv3Tb7Wn1Pz6Yc5Rf0Hg2Ea8U\n", to: "deploy.env.txt")
        // No window yet: nothing AI has the focus, so this is an ordinary open.
        try await Task.sleep(for: .seconds(1))
        #expect(try run(browser, [token]).status == 0, "no AI app focused: an ordinary file open")

        let terminal = try x.client("/usr/bin/xterm", ["-T", "ai-term", "-e", claude, "300"], logPath: cluster.root + "/ai-term.log")
        defer { terminal.kill9() }
        defer { killProcesses(mentioning: guarded.tools) }  // first: xterm's child is in its own session
        let ai = try x.window(titled: "ai-term")
        try x.activate(ai)
        try await eventually("the upload being refused", timeout: 15) { try run(browser, [token]).status != 0 }
        let refused = try run(browser, [token])
        #expect(refused.stderr.contains("Operation not permitted"), "\(refused.output)")
        let blocked = try #require(try await guarded.waitForEvents("blocked") { $0.data["activity"] == "file_upload" }.first)
        #expect(blocked.data["app"] == "claude-code")
        #expect(blocked.data["evidence"] == "upload")
        #expect(blocked.data["rule"] == "block-secrets-to-ai")
        #expect(blocked.data["path"] == .string(token))
        let uploadNotice = try await notification("Upload of deploy.env.txt to Claude Code blocked")
        let uploadIncident = try #require(blocked.data["incident_id"]?.stringValue)
        #expect(uploadNotice.body.contains("Incident \(uploadIncident)"), "\(uploadNotice.body)")
        #expect(uploadNotice.body.contains("github token"), "\(uploadNotice.body)")

        // The AI window goes away: the focus is nobody's, uploads are ordinary opens again.
        killProcesses(mentioning: guarded.tools)
        terminal.kill9()
        try await eventually("the upload being allowed again", timeout: 15) { try run(browser, [token]).status == 0 }
    }
}

