@testable import BulwarkAgent
import BulwarkCore
import Foundation
import Testing

/// The session helper's decisions for the browser extension, without a browser: what each
/// check answers, what it records, warnings and overrides, terms acceptance, the config.
@Suite("Browser guard: verdicts, events, terms, config")
struct BrowserGuardTests {
    static let policy = """
    version: 1
    name: unit-browser
    rules:
      - id: block-cards
        when: {types: credit_card, min_confidence: medium}
        destinations: {categories: [consumer_ai]}
        action: block
        message: No cards in AI chats.
      - id: confirm-mail
        when: {types: email}
        destinations: {categories: [consumer_ai]}
        action: warn
    browser:
      typed_prompts: true
      request_access: Ask IT.
    """

    final class Recorder: @unchecked Sendable {
        let lock = NSLock()
        var events: [(type: String, data: [String: JSONValue])] = []
        func record(_ type: String, _ data: [String: JSONValue]) { lock.withLock { events.append((type, data)) } }
    }

    func makeGuard(_ recorder: Recorder, acceptancePath: String? = nil, maxFileBytes: Int = 1024) throws -> BrowserGuard {
        BrowserGuard(policy: SessionPolicy(policy: try PolicyParser(source: "unit").parse(Self.policy), classifier: ContentClassifier(), catalog: .bundled), user: "u",
                     acceptancePath: acceptancePath, maxFileBytes: maxFileBytes) { recorder.record($0, $1) }
    }

    func check(_ id: Int, _ channel: String, _ origin: String, text: String? = nil, files: [(String, String, Int?)] = []) throws -> BrowserGuard.Check {
        var object: [String: JSONValue] = ["id": .number(Double(id)), "channel": .string(channel), "origin": .string(origin)]
        if let text { object["text"] = .string(text) }
        if !files.isEmpty {
            object["files"] = .array(files.map { name, content, size in
                .object(["name": .string(name), "size": .number(Double(size ?? content.utf8.count)), "data": .string(Data(content.utf8).base64EncodedString()),
                         "truncated": .bool((size ?? 0) > content.utf8.count)])
            })
        }
        return try JSONDecoder().decode(BrowserGuard.Check.self, from: Data(JSONValue.object(object).jsonText.utf8))
    }

    @Test("text by the exact origin: a card to chatgpt.com is blocked and recorded with the origin; the same to an intranet page or harmless text to chatgpt is allowed and not recorded")
    func text() throws {
        let recorder = Recorder()
        let guardian = try makeGuard(recorder)
        let card = "card 4556 7375 8689 9855 exp 12/28"
        let verdict = guardian.decide(try check(1, "paste", "https://chatgpt.com", text: card), browser: "chromium")
        #expect(verdict["action"] == .string("block"))
        #expect(verdict["id"] == .number(1))
        #expect(verdict["message"] == .string("No cards in AI chats."))
        #expect(verdict["types"] == .array([.string("credit_card")]))
        #expect(recorder.events.count == 1)
        let event = try #require(recorder.events.first)
        #expect(event.type == "paste.blocked")
        #expect(event.data["origin"] == .string("https://chatgpt.com") && event.data["app"] == .string("chatgpt"))
        #expect(event.data["selection"] == .string("browser") && event.data["target"] == .string("paste") && event.data["browser"] == .string("chromium"))
        #expect(event.data["incident_id"] == verdict["incident_id"])
        #expect(!event.data.values.contains { $0.stringValue?.contains("4556") == true }, "never the content")
        try EventCatalog.standard.validate(Event(seq: 1, time: Date(), type: event.type, v: 1, data: event.data))

        #expect(guardian.decide(try check(2, "paste", "https://intranet.example", text: card), browser: "chromium")["action"] == .string("allow"))
        #expect(guardian.decide(try check(3, "prompt", "https://chatgpt.com", text: "hello there"), browser: "chromium")["action"] == .string("allow"))
        #expect(recorder.events.count == 2, "the intranet paste of a card is recorded as allowed, harmless text is not")
        #expect(recorder.events.last?.type == "paste.allowed" && recorder.events.last?.data["app"] == nil)
    }

    @Test("uploads: every file classified, the strictest decides; names and sizes recorded, never content; a file cut at max_file_bytes is partial")
    func uploads() throws {
        let recorder = Recorder()
        let guardian = try makeGuard(recorder)
        let verdict = guardian.decide(try check(7, "upload", "https://claude.ai", files: [
            ("notes.txt", "nothing here", nil), ("cards.csv", "name,card\nZoe,4556 7375 8689 9855\n", 5000),
        ]), browser: "firefox")
        #expect(verdict["action"] == .string("block"))
        let event = try #require(recorder.events.first)
        #expect(event.type == "upload.blocked")
        #expect(event.data["app"] == .string("claude") && event.data["channel"] == .string("upload") && event.data["partial"] == .bool(true))
        guard case .array(let files)? = event.data["files"] else { Issue.record("no files"); return }
        #expect(files.count == 2)
        #expect(files.map { $0["name"] } == [.string("notes.txt"), .string("cards.csv")])
        #expect(files.map { $0["bytes"] } == [.number(12), .number(5000)])
        try EventCatalog.standard.validate(Event(seq: 1, time: Date(), type: event.type, v: 1, data: event.data))
    }

    @Test("a warning waits for the user's reason: the override repeats its incident as *.overridden; an unknown or reused incident is refused")
    func overrides() throws {
        let recorder = Recorder()
        let guardian = try makeGuard(recorder)
        let verdict = guardian.decide(try check(1, "drop", "https://chatgpt.com", text: "mail jane.doe@example.com"), browser: "chromium")
        #expect(verdict["action"] == .string("warn"))
        let incident = try #require(verdict["incident_id"]?.stringValue)
        #expect(guardian.override(incidentID: incident, justification: "customer asked"))
        #expect(recorder.events.map(\.type) == ["paste.warned", "paste.overridden"])
        #expect(recorder.events[1].data["incident_id"] == .string(incident) && recorder.events[1].data["justification"] == .string("customer asked"))
        #expect(!guardian.override(incidentID: incident, justification: "again"), "used once")
        #expect(!guardian.override(incidentID: "BW-NOTMINE000", justification: "x"))
        #expect(recorder.events.count == 2)
    }

    @Test("navigation: visits once an hour per app, non-AI sites ignored; accepting terms is recorded, kept in a 0600 file and in the config")
    func navigationAndConfig() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("browser-guard-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let recorder = Recorder()
        let guardian = try makeGuard(recorder, acceptancePath: directory + "/terms.json")
        guardian.policy.update(appStates: ["claude": .monitored, "deepseek": .unsanctioned])
        #expect(!guardian.navigation(origin: "https://chatgpt.com", outcome: .visited, browser: "chromium"))
        guardian.navigation(origin: "https://chatgpt.com", outcome: .visited, browser: "chromium")
        guardian.navigation(origin: "https://intranet.example", outcome: .visited, browser: "chromium")
        #expect(guardian.navigation(origin: "https://claude.ai", outcome: .termsAccepted, browser: "chromium"), "a new config is due")
        #expect(recorder.events.map { "\($0.type) \($0.data["app"]?.stringValue ?? "") \($0.data["outcome"]?.stringValue ?? "")" }
            == ["browser.navigation chatgpt visited", "browser.navigation claude terms_accepted"])
        #expect(recorder.events[1].data["sanction"] == .string("monitored"))
        #expect(SecureFile.permissions(of: directory + "/terms.json") == 0o600)

        let config = guardian.config()
        guard case .object(let accepted)? = config["accepted"], case .array(let apps)? = config["apps"], case .object(let browser)? = config["browser"] else {
            Issue.record("config shape: \(config)")
            return
        }
        #expect(accepted["claude"] != nil)
        #expect(apps.first { $0["id"] == .string("deepseek") }?["sanction"] == .string("unsanctioned"))
        #expect(apps.first { $0["id"] == .string("chatgpt") }?["domains"] == .array([.string("chatgpt.com"), .string("chat.openai.com")]))
        #expect(browser["typed_prompts"] == .bool(true) && browser["request_access"] == .string("Ask IT.") && browser["without_helper"] == .string("allow"))
        // A new helper (a new login) remembers the acceptance.
        let again = try makeGuard(Recorder(), acceptancePath: directory + "/terms.json")
        guard case .object(let remembered)? = again.config()["accepted"] else { Issue.record("no accepted"); return }
        #expect(remembered["claude"] == accepted["claude"])
    }
}

@Suite("Native messaging host: framing and relay")
struct NativeHostTests {
    @Test("frames: little-endian length then JSON; a length over 64 MiB and a message cut short are errors")
    func frames() throws {
        let frame = NativeMessageFrame.encode(Data(#"{"a":1}"#.utf8))
        #expect(Array(frame.prefix(4)) == [7, 0, 0, 0])
        var descriptors: [Int32] = [0, 0]
        #expect(pipe(&descriptors) == 0)
        defer { close(descriptors[0]) }
        #expect(NativeMessageFrame.write(Data(#"{"a":1}"#.utf8), to: descriptors[1]))
        _ = Data([0xff, 0xff, 0xff, 0x7f]).withUnsafeBytes { write(descriptors[1], $0.baseAddress, 4) }
        close(descriptors[1])
        #expect(try NativeMessageFrame.read(from: descriptors[0]) == Data(#"{"a":1}"#.utf8))
        #expect(throws: NativeMessageFrame.Failure.self) { try NativeMessageFrame.read(from: descriptors[0]) }
    }

    @Test("relays both ways once the helper listens, says when it is not there, and ends when the browser closes the port")
    func relay() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("native-host-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/browser.sock"
        var toHost: [Int32] = [0, 0], fromHost: [Int32] = [0, 0]
        #expect(pipe(&toHost) == 0 && pipe(&fromHost) == 0)
        let host = NativeHost(socketPath: path, input: toHost[0], output: fromHost[1], retry: .milliseconds(100))
        let done = DispatchSemaphore(value: 0)
        Thread { host.run(); done.signal() }.start()

        func nextMessage() throws -> [String: JSONValue] {
            guard case .object(let message) = try JSONReader.parse(String(decoding: try NativeMessageFrame.read(from: fromHost[0]), as: UTF8.self)) else { return [:] }
            return message
        }
        let absent = try nextMessage()
        #expect(absent["connected"] == .bool(false))
        #expect(absent["reason"]?.stringValue?.contains("the session helper is not running") == true)

        // The helper starts listening.
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        #expect(withUnixAddress(path) { bind(listener, $0, $1) } == 0 && listen(listener, 1) == 0)
        let helper = accept(listener, nil, nil)
        defer { close(helper) }
        #expect(try nextMessage()["connected"] == .bool(true))
        #expect(NativeMessageFrame.write(Data(#"{"type":"hello"}"#.utf8), to: toHost[1]))
        #expect(try NativeMessageFrame.read(from: helper) == Data(#"{"type":"hello"}"#.utf8))
        #expect(NativeMessageFrame.write(Data(#"{"type":"config"}"#.utf8), to: helper))
        #expect(try nextMessage()["type"] == .string("config"))

        close(toHost[1])  // the browser closes the port
        #expect(done.wait(timeout: .now() + 10) == .success)
        close(toHost[0]); close(fromHost[0]); close(fromHost[1])
    }
}

extension JSONValue {
    /// A member of an object (nil for anything else), for reading answers in tests.
    fileprivate subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { object[key] } else { nil }
    }
}

@Suite("Browser bridge: the helper's socket")
struct BrowserBridgeTests {
    /// A bridge on a fresh socket, with a recorder for what its guard records.
    func start() throws -> (BrowserBridge, String, BrowserGuardTests.Recorder) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bridge-\(UUID().uuidString.prefix(8))").path
        let recorder = BrowserGuardTests.Recorder()
        let guardian = BrowserGuard(policy: SessionPolicy(policy: try PolicyParser(source: "unit").parse(BrowserGuardTests.policy), classifier: ContentClassifier(), catalog: .bundled),
                                    user: "u") { recorder.record($0, $1) }
        let bridge = BrowserBridge(path: directory + "/bulwark/browser.sock", guard: guardian, focus: BrowserFocus()) { _ in }
        try bridge.start()
        return (bridge, directory, recorder)
    }

    func connect(_ path: String) throws -> Int32 {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard withUnixAddress(path, { Glibc.connect(descriptor, $0, $1) }) == 0 else { throw NativeMessageFrame.Failure.closed }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return descriptor
    }

    func exchange(_ descriptor: Int32, _ message: String) throws -> [String: JSONValue] {
        #expect(NativeMessageFrame.write(Data(message.utf8), to: descriptor))
        guard case .object(let answer) = try JSONReader.parse(String(decoding: try NativeMessageFrame.read(from: descriptor), as: UTF8.self)) else { return [:] }
        return answer
    }

    @Test("the socket is the user's alone (0600 in a 0700 directory); hello gets the config; status counts browsers that said hello")
    func helloAndStatus() throws {
        let (bridge, directory, _) = try start()
        defer { bridge.stop(); try? FileManager.default.removeItem(atPath: directory) }
        #expect(SecureFile.permissions(of: bridge.path) == 0o600)
        #expect(SecureFile.permissions(of: directory + "/bulwark") == 0o700)
        #expect(BrowserBridge.status(socketPath: bridge.path) == .success([]))
        let browser = try connect(bridge.path)
        defer { close(browser) }
        let config = try exchange(browser, #"{"type":"hello","browser":"firefox","version":"0.1.0"}"#)
        #expect(config["type"] == .string("config") && config["policy"] == .string("unit-browser"))
        #expect(BrowserBridge.status(socketPath: bridge.path) == .success(["firefox"]))
    }

    @Test("bad input: not JSON and unknown types are ignored, a check it cannot read is answered 'error' with its id, an oversized frame ends that connection only")
    func badInput() throws {
        let (bridge, directory, recorder) = try start()
        defer { bridge.stop(); try? FileManager.default.removeItem(atPath: directory) }
        let browser = try connect(bridge.path)
        defer { close(browser) }
        _ = try exchange(browser, #"{"type":"hello","browser":"chromium"}"#)
        #expect(NativeMessageFrame.write(Data("not json {".utf8), to: browser))
        #expect(NativeMessageFrame.write(Data(#"{"type":"launch-missiles"}"#.utf8), to: browser))
        let unreadable = try exchange(browser, #"{"type":"check","id":41,"channel":"paste"}"#)
        #expect(unreadable["id"] == .number(41) && unreadable["action"] == .string("error"))
        let decided = try exchange(browser, #"{"type":"check","id":42,"channel":"paste","origin":"https://chatgpt.com","text":"card 4556 7375 8689 9855 exp 12/28"}"#)
        #expect(decided["id"] == .number(42) && decided["action"] == .string("block"))
        #expect(recorder.events.map(\.type) == ["paste.blocked"])

        let hostile = try connect(bridge.path)
        defer { close(hostile) }
        _ = Data([0x00, 0x00, 0x00, 0x7f]).withUnsafeBytes { write(hostile, $0.baseAddress, 4) }  // 2 GiB announced
        var byte: UInt8 = 0
        #expect(read(hostile, &byte, 1) == 0, "the helper hangs up")
        let still = try exchange(browser, #"{"type":"check","id":43,"channel":"paste","origin":"https://chatgpt.com","text":"hello"}"#)
        #expect(still["action"] == .string("allow"), "the other browser is unaffected")
    }
}

@Suite("Served paste ledger")
struct ServedPasteLedgerTests {
    @Test("a paste the clipboard guard served answers the page's check once, for the same site, within the window; CRLF and LF are the same text")
    func ledger() async throws {
        let ledger = ServedPasteLedger(window: .milliseconds(300))
        ledger.note(Array("line one\r\nline two".utf8), origin: "https://chatgpt.com")
        #expect(!ledger.take("line one\nline two", origin: "https://claude.ai"), "another site")
        #expect(ledger.take("line one\nline two", origin: "https://chatgpt.com"))
        #expect(!ledger.take("line one\nline two", origin: "https://chatgpt.com"), "used once")
        ledger.note(Array("later".utf8), origin: "https://chatgpt.com")
        try await Task.sleep(for: .milliseconds(400))
        #expect(!ledger.take("later", origin: "https://chatgpt.com"), "too late: the page's check is its own paste")
    }

    @Test("the browser guard answers a served paste without recording it; the same text not served is decided and recorded")
    func guardUsesLedger() throws {
        let ledger = ServedPasteLedger()
        let recorder = BrowserGuardTests.Recorder()
        let guardian = BrowserGuard(policy: SessionPolicy(policy: try PolicyParser(source: "unit").parse(BrowserGuardTests.policy), classifier: ContentClassifier(),
                                    catalog: .bundled), user: "u", servedByClipboardGuard: ledger) { recorder.record($0, $1) }
        let text = "mail jane.doe@example.com"
        let check = try JSONDecoder().decode(BrowserGuard.Check.self, from: Data(
            #"{"id":1,"channel":"paste","origin":"https://chatgpt.com","text":"mail jane.doe@example.com"}"#.utf8))
        ledger.note(Array(text.utf8), origin: "https://chatgpt.com")
        #expect(guardian.decide(check, browser: "chromium")["decided_by"] == .string("clipboard_guard"))
        #expect(recorder.events.isEmpty)
        #expect(guardian.decide(check, browser: "chromium")["action"] == .string("warn"))
        #expect(recorder.events.map(\.type) == ["paste.warned"])
    }
}

@Suite("Browser process of a native host")
struct BrowserProcessTests {
    @Test("the host's parent is the browser; a shell between is looked through; nothing further up counts")
    func lineage() throws {
        // This test process starts a child as a browser starts its native host.
        let direct = Process()
        direct.executableURL = URL(fileURLWithPath: "/bin/sleep")
        direct.arguments = ["5"]
        try direct.run()
        defer { direct.terminate() }
        #expect(BrowserBridge.browserProcess(ofHost: direct.processIdentifier) == [getpid()])

        // A wrapper script that does not exec: sh between this process and the host.
        let wrapped = Process()
        wrapped.executableURL = URL(fileURLWithPath: "/bin/sh")
        wrapped.arguments = ["-c", "sleep 5; true"]
        try wrapped.run()
        defer { wrapped.terminate() }
        var host: pid_t?
        let deadline = Date().addingTimeInterval(5)
        while host == nil, Date() < deadline {
            host = ProcessLineage.descendants(of: wrapped.processIdentifier).first
            if host == nil { usleep(20_000) }
        }
        let sleeper = try #require(host)
        #expect(BrowserBridge.browserProcess(ofHost: sleeper) == [wrapped.processIdentifier, getpid()])
        #expect(!BrowserBridge.browserProcess(ofHost: direct.processIdentifier).contains(getppid()), "not whatever started the browser")
    }
}
