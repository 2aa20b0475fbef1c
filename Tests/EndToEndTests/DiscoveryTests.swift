import BulwarkCollector
import BulwarkCore
import Crypto
import Foundation
import Testing

/// AI app discovery with real things: copies of a real binary under catalog names, a script run
/// by an interpreter and the kernel's process events; a real HTTP server on Ollama's port; model
/// files written and deleted under inotify; the collector receiving it all.
@Suite("End to end: AI app discovery on the endpoint", .serialized)
struct DiscoveryTests {
    @Test("a running AI program is found at start, new ones on exec (binary and interpreted script), stops on exit; with the program's SHA-256")
    func discovery() async throws {
        let cluster = try Cluster.started()
        defer { cluster.shutdown() }
        let tools = cluster.root + "/tools"
        try FileManager.default.createDirectory(atPath: tools, withIntermediateDirectories: true)
        for name in ["ollama", "claude"] { try FileManager.default.copyItem(atPath: "/usr/bin/sleep", toPath: tools + "/" + name) }
        try Data("#!/bin/sh\nsleep 120\n".utf8).write(to: URL(fileURLWithPath: tools + "/aider"))
        chmod(tools + "/aider", 0o755)
        let sleepHash = SHA256.hash(data: try Data(contentsOf: URL(fileURLWithPath: "/usr/bin/sleep"))).map { String(format: "%02x", $0) }.joined()

        // Already running when the agent starts: found by the start-up scan.
        let ollama = try ChildProcess(tools + "/ollama", ["120"], logPath: cluster.root + "/ollama.log")
        defer { ollama.kill9() }
        let agent = try cluster.enrollAgent(configuration: Cluster.fastAgentConfig.replacingOccurrences(of: "process_sensor: false", with: "process_sensor: true"))
        try agent.startAndSelftest()
        let agentID = try agent.agentID
        let store = try cluster.store()

        func events(_ type: String, pid: Int32) async throws -> [StoredEvent] {
            try await store.events(EventQuery(type: type, agent: agentID)).filter { $0.data["pid"] == .number(Double(pid)) }
        }
        func waitFor(_ type: String, pid: Int32) async throws -> StoredEvent {
            let deadline = Date().addingTimeInterval(30)
            while true {
                if let event = try await events(type, pid: pid).first { return event }
                if Date() > deadline { throw TestFailure.timeout("\(type) for pid \(pid)") }
                try await Task.sleep(for: .milliseconds(100))
            }
        }

        let found = try await waitFor(EventType.aiProcessStarted, pid: ollama.pid)
        #expect(found.data["app"] == .string("ollama"))
        #expect(found.data["category"] == .string("local_llm"))
        #expect(found.data["source"] == .string("scan"))
        #expect(found.data["exe"] == .string(tools + "/ollama"))
        #expect(found.data["sha256"] == .string(sleepHash))
        #expect(found.data["user"] == .string("root"))

        // Started while the agent runs: the kernel's exec event.
        let claude = try ChildProcess(tools + "/claude", ["120"], logPath: cluster.root + "/claude.log")
        defer { claude.kill9() }
        let started = try await waitFor(EventType.aiProcessStarted, pid: claude.pid)
        #expect(started.data["app"] == .string("claude-code"))
        #expect(started.data["source"] == .string("exec"))

        // A script run by an interpreter is known by the script.
        let aider = try ChildProcess(tools + "/aider", [], logPath: cluster.root + "/aider.log")
        defer { aider.killGroup() }  // its `sleep` child too: Foundation waits for the whole group
        let script = try await waitFor(EventType.aiProcessStarted, pid: aider.pid)
        #expect(script.data["app"] == .string("aider"))
        #expect(script.data["script"] == .string(tools + "/aider"))

        // An interpreter running `main.py` in a ComfyUI checkout: known by where the script lives.
        let checkout = cluster.root + "/srv/ComfyUI"
        try FileManager.default.createDirectory(atPath: checkout, withIntermediateDirectories: true)
        try Data("sleep 120\n".utf8).write(to: URL(fileURLWithPath: checkout + "/main.py"))
        let comfy = try ChildProcess("/bin/sh", ["main.py"], logPath: cluster.root + "/comfy.log", directory: checkout)
        defer { comfy.killGroup() }
        let interpreted = try await waitFor(EventType.aiProcessStarted, pid: comfy.pid)
        #expect(interpreted.data["app"] == .string("comfyui"))
        #expect(interpreted.data["category"] == .string("ai_image"))
        #expect(interpreted.data["script"] == .string(checkout + "/main.py"))

        // Exit: stopped, with how long it ran.
        claude.kill9()
        let stopped = try await waitFor(EventType.aiProcessStopped, pid: claude.pid)
        #expect(stopped.data["app"] == .string("claude-code"))
        #expect(stopped.data["runtime_s"] != nil)
        // An ordinary program is not reported.
        let plain = try ChildProcess("/usr/bin/sleep", ["120"], logPath: cluster.root + "/sleep.log")
        defer { plain.kill9() }
        try await Task.sleep(for: .seconds(2))
        #expect(try await events(EventType.aiProcessStarted, pid: plain.pid).isEmpty)
    }

    @Test("a local Ollama-compatible server on 11434 is found, confirmed by its /api/tags answer with the models it serves, and reported gone when it stops")
    func listener() async throws {
        let cluster = try Cluster.started()
        defer { cluster.shutdown() }
        let agent = try cluster.enrollAgent(configuration: Cluster.fastAgentConfig.replacingOccurrences(of: "listener_interval: 0", with: "listener_interval: 0.5"))
        try agent.startAndSelftest()
        let agentID = try agent.agentID
        let store = try cluster.store()
        func waitFor(_ type: String) async throws -> StoredEvent {
            let deadline = Date().addingTimeInterval(30)
            while true {
                if let event = try await store.events(EventQuery(type: type, agent: agentID)).first { return event }
                if Date() > deadline { throw TestFailure.timeout(type) }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        // A real HTTP server on Ollama's port, answering as Ollama does (this test process owns
        // it, and is not Ollama: only the probe can confirm it).
        let server = try LocalWebServer(
            page: #"{"models":[{"name":"llama3.2:1b","size":1321098329},{"name":"qwen2.5-coder:7b","size":4683087332}]}"#, port: 11434,
            contentType: "application/json")
        let started = try await waitFor(EventType.aiListenerStarted)
        #expect(started.data["app"] == .string("ollama"))
        #expect(started.data["port"] == .number(11434))
        #expect(started.data["confirmed_by"] == .string("probe"))
        #expect(started.data["models"] == .array([.string("llama3.2:1b"), .string("qwen2.5-coder:7b")]))
        #expect(started.data["pid"] == .number(Double(getpid())))
        server.stop()
        let stopped = try await waitFor(EventType.aiListenerStopped)
        #expect(stopped.data["app"] == .string("ollama"))
        // Reported once, not every cycle.
        #expect(try await store.events(EventQuery(type: EventType.aiListenerStarted, agent: agentID)).count == 1)
    }

    @Test("unchanged state is not resent: a program that keeps running is started once, restated by the periodic summary, and drops out of it when it stops")
    func summaries() async throws {
        let cluster = try Cluster.started()
        defer { cluster.shutdown() }
        let tools = cluster.root + "/tools"
        try FileManager.default.createDirectory(atPath: tools, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/usr/bin/sleep", toPath: tools + "/ollama")
        let ollama = try ChildProcess(tools + "/ollama", ["120"], logPath: cluster.root + "/ollama.log")
        defer { ollama.kill9() }
        let configuration = Cluster.fastAgentConfig.replacingOccurrences(of: "process_sensor: false", with: "process_sensor: true") + "\nsummary_interval: 1\n"
        let agent = try cluster.enrollAgent(configuration: configuration)
        try agent.start()
        let agentID = try agent.agentID
        let store = try cluster.store()
        func summaries() async throws -> [StoredEvent] {
            try await store.events(EventQuery(type: EventType.aiSummary, agent: agentID)).filter { $0.data["app"] == "ollama" }
        }
        try await eventually("three summaries of the running ollama", timeout: 30) { try await summaries().count >= 3 }
        let summary = try #require(try await summaries().first)
        #expect(summary.data["evidence"] == "process")
        #expect(summary.data["count"] == 1)
        #expect(summary.data["category"] == "local_llm")
        #expect(summary.data["period_s"] == 1)
        #expect(summary.data["user"] == "root")
        try EventCatalog.standard.validate(Event(seq: 1, time: Date(), type: summary.type, v: summary.v, data: summary.data))
        #expect(try await store.events(EventQuery(type: EventType.aiProcessStarted, agent: agentID)).count == 1, "started once, not every cycle")
        // The summaries keep the inventory's last seen current.
        let before = try #require(try await store.inventoryApp(id: "ollama", page: InventoryPage())).app.lastSeen
        try await eventually("last seen moving on", timeout: 10) { try await store.inventoryApp(id: "ollama", page: InventoryPage())?.app.lastSeen ?? before > before }

        ollama.kill9()
        try await eventually("ollama stopping", timeout: 10) {
            try await !store.events(EventQuery(type: EventType.aiProcessStopped, agent: agentID)).isEmpty
        }
        try await Task.sleep(for: .seconds(1.5))
        let count = try await summaries().count
        try await Task.sleep(for: .seconds(2.5))
        #expect(try await summaries().count == count, "no summary for what stopped")
        agent.stop()
    }

    @Test("model files: found at start and as they are written (GGUF, safetensors, ONNX in a new directory), small and unrelated files ignored, deletions reported")
    func modelFiles() async throws {
        let cluster = try Cluster.started()
        defer { cluster.shutdown() }
        let models = cluster.root + "/models"
        try FileManager.default.createDirectory(atPath: models, withIntermediateDirectories: true)
        func file(_ header: [UInt8], size: Int) -> Data { Data(header + [UInt8](repeating: 0x5a, count: size - header.count)) }
        let mib = 1024 * 1024
        let gguf = file(Array("GGUF".utf8) + [3, 0, 0, 0], size: mib + mib / 2)
        try gguf.write(to: URL(fileURLWithPath: models + "/llama-3.2-1b-q4.gguf"))

        let agent = try cluster.enrollAgent(configuration: Cluster.fastAgentConfig.replacingOccurrences(of: "model_sensor: false", with: "model_sensor: true\nmodel_roots: [\(models)]"))
        try agent.startAndSelftest()
        let agentID = try agent.agentID
        let store = try cluster.store()
        func event(_ type: String, path: String) async throws -> StoredEvent? {
            try await store.events(EventQuery(type: type, agent: agentID)).first { $0.data["path"] == .string(path) }
        }
        func waitFor(_ type: String, path: String) async throws -> StoredEvent {
            let deadline = Date().addingTimeInterval(30)
            while true {
                if let found = try await event(type, path: path) { return found }
                if Date() > deadline { throw TestFailure.timeout("\(type) for \(path)") }
                try await Task.sleep(for: .milliseconds(100))
            }
        }

        let atStart = try await waitFor(EventType.aiModelFound, path: models + "/llama-3.2-1b-q4.gguf")
        #expect(atStart.data["format"] == .string("gguf"))
        #expect(atStart.data["size"] == .number(Double(gguf.count)))
        #expect(atStart.data["name"] == .string("llama-3.2-1b-q4.gguf"))
        let headerHash = SHA256.hash(data: gguf.prefix(64 * 1024)).map { String(format: "%02x", $0) }.joined()
        #expect(atStart.data["header_sha256"] == .string(headerHash))

        // Written while the agent runs.
        let json = Array(#"{"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#.utf8)
        var length = UInt64(json.count).littleEndian
        let safetensors = withUnsafeBytes(of: &length) { Array($0) } + json
        try file(safetensors, size: 2 * mib).write(to: URL(fileURLWithPath: models + "/model.safetensors"))
        #expect(try await waitFor(EventType.aiModelFound, path: models + "/model.safetensors").data["format"] == .string("safetensors"))
        try FileManager.default.createDirectory(atPath: models + "/vision", withIntermediateDirectories: true)
        try await Task.sleep(for: .milliseconds(200))
        try file([8, 7], size: mib + 10).write(to: URL(fileURLWithPath: models + "/vision/encoder.onnx"), options: .atomic)
        #expect(try await waitFor(EventType.aiModelFound, path: models + "/vision/encoder.onnx").data["format"] == .string("onnx"))
        // Not models: too small, or an unrelated type.
        try file(Array("GGUF".utf8), size: 4096).write(to: URL(fileURLWithPath: models + "/tiny.gguf"))
        try file(Array("%PDF".utf8), size: 2 * mib).write(to: URL(fileURLWithPath: models + "/manual.pdf"))

        try FileManager.default.removeItem(atPath: models + "/llama-3.2-1b-q4.gguf")
        _ = try await waitFor(EventType.aiModelRemoved, path: models + "/llama-3.2-1b-q4.gguf")
        #expect(try await event(EventType.aiModelFound, path: models + "/tiny.gguf") == nil)
        #expect(try await event(EventType.aiModelFound, path: models + "/manual.pdf") == nil)
    }

    @Test("browser history: a running headless Chromium visits two AI sites; the agent reads its locked History through a copy and reports visits per app, once")
    func browserHistory() async throws {
        let cluster = try Cluster.started()
        defer { cluster.shutdown() }
        defer { killProcesses(mentioning: cluster.root) }
        // Le Chat's page sends the browser on to Perplexity; both resolve to this local server.
        let site = try LocalWebServer(page: """
            <!doctype html><html><head><title>Le Chat</title></head><body>hello
            <script>setTimeout(() => { if (location.host == "chat.mistral.ai") location.href = "http://perplexity.ai/next"; }, 300)</script></body></html>
            """)
        defer { site.stop() }
        let profile = cluster.root + "/chromium-profile"
        let browser = try ChildProcess(
            "/usr/bin/chromium",
            ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=\(profile)", "--disable-crash-reporter",
             "--host-resolver-rules=MAP chat.mistral.ai 127.0.0.1:\(site.port), MAP perplexity.ai 127.0.0.1:\(site.port)", "http://chat.mistral.ai/"],
            logPath: cluster.root + "/chromium.log", environment: ["PATH": "/usr/bin:/bin", "HOME": cluster.root])
        defer { browser.killGroup() }

        let agent = try cluster.enrollAgent(configuration: Cluster.fastAgentConfig.replacingOccurrences(
            of: "history_interval: 0", with: "history_interval: 1\nhistory_roots: [\(profile)]"))
        try agent.startAndSelftest()
        let agentID = try agent.agentID
        let store = try cluster.store()
        // Chromium commits its history every few seconds; the agent looks every second.
        let deadline = Date().addingTimeInterval(60)
        var visits: [String: Double] = [:]
        while visits["mistral-le-chat"] == nil || visits["perplexity"] == nil {
            if Date() > deadline { throw TestFailure.timeout("ai.web.visits for both sites; have \(visits)") }
            try await Task.sleep(for: .milliseconds(500))
            visits = [:]
            for event in try await store.events(EventQuery(type: EventType.aiWebVisits, agent: agentID)) {
                if case .string(let app)? = event.data["app"], case .number(let count)? = event.data["visits"] { visits[app, default: 0] += count }
            }
        }
        #expect(browser.isRunning)  // read while the browser holds its database
        #expect((visits["mistral-le-chat"] ?? 0) >= 1)
        #expect((visits["perplexity"] ?? 0) >= 1)
        let events = try await store.events(EventQuery(type: EventType.aiWebVisits, agent: agentID))
        #expect(events.allSatisfy { $0.data["browser"] == .string("chromium") && $0.data["evidence"] == .string("browser_history") })
        #expect(events.allSatisfy { $0.data["url"] == nil })  // counts, never URLs
        // Counted once: later cycles add nothing new.
        try await Task.sleep(for: .seconds(3))
        #expect(try await store.events(EventQuery(type: EventType.aiWebVisits, agent: agentID)).count == events.count)
    }

    @Test("a program connected to an AI API host is reported with its process (the host resolved through the system resolver)")
    func apiConnection() async throws {
        // api.openai.com resolves (through /etc/hosts, as any resolver answer would) to a local
        // server; the connection is a real TCP connection to it.
        let hosts = try String(contentsOfFile: "/etc/hosts", encoding: .utf8)
        try (hosts + "\n127.0.0.5 api.openai.com # bulwark test\n").write(toFile: "/etc/hosts", atomically: false, encoding: .utf8)
        defer { try? hosts.write(toFile: "/etc/hosts", atomically: false, encoding: .utf8) }
        let api = try LocalWebServer(page: "{}", host: "127.0.0.5", port: 443, contentType: "application/json")
        defer { api.stop() }
        let cluster = try Cluster.started()
        defer { cluster.shutdown() }
        let agent = try cluster.enrollAgent(configuration: Cluster.fastAgentConfig.replacingOccurrences(of: "connection_interval: 0", with: "connection_interval: 0.5"))
        try agent.startAndSelftest()
        let agentID = try agent.agentID
        // A script holding a connection open (resolving the host itself, as any client does).
        let client = try ChildProcess(
            "/usr/bin/python3", ["-c", "import socket, sys, time; s = socket.create_connection(('api.openai.com', 443)); print('connected', s.getsockname(), flush=True); time.sleep(60)"],
            logPath: cluster.root + "/client.log")
        defer { client.killGroup() }
        let store = try cluster.store()
        try await Task.sleep(for: .milliseconds(500))
        let sockets = (try? run("/bin/cat", ["/proc/net/tcp"]).stdout) ?? ""
        let descriptors = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(client.pid)/fd")) ?? []).map {
            "\($0) → " + ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(client.pid)/fd/\($0)")) ?? "?")
        }
        let deadline = Date().addingTimeInterval(60)
        var event: StoredEvent?
        while event == nil {
            if Date() > deadline {
                throw TestFailure.timeout(
                    "ai.api.connection for pid \(client.pid):\n\(client.log)\nclient fds: \(descriptors)\nagent:\n\(agent.process?.log ?? "")\n\(sockets)")
            }
            try await Task.sleep(for: .milliseconds(200))
            event = try await store.events(EventQuery(type: EventType.aiAPIConnection, agent: agentID)).first { $0.data["pid"] == .number(Double(client.pid)) }
        }
        #expect(event?.data["app"] == .string("openai-api"))
        #expect(event?.data["host"] == .string("api.openai.com"))
        #expect(event?.data["remote_port"] == .number(443))
        #expect(event?.data["exe"].map { if case .string(let exe) = $0 { exe.hasPrefix("/usr/bin/python3") } else { false } } == true)
        #expect(event?.data["user"] == .string("root"))
        try await Task.sleep(for: .seconds(2))
        #expect(try await store.events(EventQuery(type: EventType.aiAPIConnection, agent: agentID)).filter { $0.data["pid"] == .number(Double(client.pid)) }.count == 1)
    }
}
