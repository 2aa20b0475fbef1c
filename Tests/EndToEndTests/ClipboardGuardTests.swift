import BulwarkCore
import Foundation
import Testing

/// The clipboard guard on a real X server: real owners and requestors (xclip), a renamed copy
/// of xclip standing in for an AI tool (Claude Code's executable is `claude`).
@Suite("End to end: X11 clipboard guard", .serialized)
struct ClipboardGuardTests {
    static let policy = """
    version: 1
    name: test-guard
    rules:
      - id: no-cards-to-ai
        when: {types: credit_card, min_confidence: medium}
        destinations: {categories: [consumer_ai, ai_coding]}
        action: block
        message: Cards stay out of AI tools.
    """

    @Test("sensitive copies are taken over: AI requestors get nothing and make one block incident, others get the exact bytes (INCR, UTF-8)")
    func guardPastes() throws {
        let scratch = try ScratchDirectory("bulwark-guard")
        defer { scratch.remove() }
        let directory = scratch.path
        let x = try XServer(directory: directory)
        defer { x.stop() }
        let harness = try GuardHarness(directory: directory, x: x, policy: Self.policy)
        defer { harness.stop() }
        let claude = harness.claude
        let guardian = harness.guardian
        func events() -> [(type: String, data: [String: JSONValue])] { harness.events() }
        func waitFor(_ type: String, count: Int = 1) throws { try harness.waitFor(type, count: count) }
        func copy(_ text: String, selection: String, name: String) throws -> ChildProcess { try harness.copy(text, selection: selection, name: name) }
        func waitForTakeover(_ owner: ChildProcess) throws { try harness.waitForTakeover(owner) }
        func paste(_ program: String, selection: String) throws -> CommandResult { try harness.paste(program, selection: selection) }

        // A card with multi-byte characters: guarded.
        let card = "Kunde Zoë — 漢字 😀 card 4556 7375 8689 9855 exp 12/28"
        let owner = try copy(card, selection: "clipboard", name: "card.txt")
        defer { owner.kill9() }
        try waitFor(EventType.clipboardCopy)
        try waitForTakeover(owner)

        let ordinary = try paste("/usr/bin/xclip", selection: "clipboard")
        #expect(ordinary.status == 0)
        #expect(ordinary.stdout == card)
        try waitFor(EventType.paste("allowed"))

        let ai = try paste(claude, selection: "clipboard")
        #expect(ai.status != 0)
        #expect(ai.stdout.isEmpty)
        try waitFor(EventType.paste("blocked"))
        usleep(300_000)
        let blocked = events().filter { $0.type == EventType.paste("blocked") }
        #expect(blocked.count == 1)  // UTF8_STRING, then STRING: one incident
        let incident = blocked.first?.data
        #expect(incident?["app"] == .string("claude-code"))
        #expect(incident?["rule"] == .string("no-cards-to-ai"))
        #expect(incident?["requestor_exe"] == .string(claude))
        guard case .string(let id)? = incident?["incident_id"] else {
            Issue.record("no incident id")
            return
        }
        #expect(id.hasPrefix("BW-") && id.count == 13)
        for (type, data) in events() {
            try EventCatalog.standard.validate(Event(seq: 1, time: Date(), type: type, v: 1, data: data))
        }

        // Harmless text is left with its owner: everyone gets it, no paste events.
        let harmless = "lunch at noon?"
        let plain = try copy(harmless, selection: "clipboard", name: "plain.txt")
        defer { plain.kill9() }
        try waitFor(EventType.clipboardCopy, count: 2)
        #expect(plain.isRunning)  // still the owner: harmless content is not taken over
        let pastesBefore = events().filter { $0.type.hasPrefix("paste.") }.count
        #expect(try paste(claude, selection: "clipboard").stdout == harmless)
        #expect(events().filter { $0.type.hasPrefix("paste.") }.count == pastesBefore)

        // 3 MB of sensitive content in PRIMARY: the guard serves it INCR, byte for byte.
        let big = "card 4556 7375 8689 9855\n" + String(repeating: "Lorem ipsum dolor sit amet — ünïcödé ✓\n", count: 3 * 1024 * 1024 / 44)
        let bigOwner = try copy(big, selection: "primary", name: "big.txt")
        defer { bigOwner.kill9() }
        try waitFor(EventType.clipboardCopy, count: 3)
        try waitForTakeover(bigOwner)
        let bigPaste = try paste("/usr/bin/xclip", selection: "primary")
        #expect(bigPaste.stdout.utf8.count == big.utf8.count)
        #expect(bigPaste.stdout == big)
        #expect(try paste(claude, selection: "primary").stdout.isEmpty)

        // The log holds events, never content.
        for secret in ["4556", "Zoë", "Lorem"] { #expect(!guardian.log.contains(secret)) }
    }

    @Test("a paste into a terminal goes to what runs in it: xterm with Claude Code in its shell is refused, xterm with an ordinary program is served")
    func terminalPaste() throws {
        let scratch = try ScratchDirectory("bulwark-terminal")
        defer { scratch.remove() }
        let directory = scratch.path
        let x = try XServer(directory: directory)
        defer { x.stop() }
        defer { killProcesses(mentioning: directory) }
        let harness = try GuardHarness(directory: directory, x: x, policy: Self.policy)
        defer { harness.stop() }
        // Claude Code stands in as a renamed `sleep` running under the terminal's shell.
        let claudeTool = directory + "/tools/claude"
        try FileManager.default.createDirectory(atPath: directory + "/tools", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/usr/bin/sleep", toPath: claudeTool)

        let owner = try harness.copy("card 4556 7375 8689 9855 exp 12/28", selection: "primary", name: "card.txt")
        defer { owner.kill9() }
        try harness.waitFor(EventType.clipboardCopy)
        try harness.waitForTakeover(owner)

        func terminal(running program: String, title: String) throws -> (ChildProcess, String) {
            let terminal = try x.client("/usr/bin/xterm", ["-T", title, "-e", "/bin/sh", "-c", "\(program) 300"], logPath: directory + "/\(title).log")
            return (terminal, try x.window(titled: title))
        }
        /// A middle click pastes PRIMARY into the terminal.
        func middleClick(_ window: String) throws {
            _ = try run("/usr/bin/xdotool", ["mousemove", "--window", window, "20", "20", "click", "2"], environment: ["DISPLAY": x.display], timeout: 10)
        }

        let (aiTerminal, aiWindow) = try terminal(running: claudeTool, title: "ai-term")
        defer { aiTerminal.kill9() }
        try middleClick(aiWindow)
        try harness.waitFor(EventType.paste("blocked"))
        let blocked = harness.events(EventType.paste("blocked"))[0]
        #expect(blocked["app"] == .string("claude-code"))
        #expect(blocked["identified_by"] == .string("terminal_process"))
        #expect(blocked["requestor_exe"] == .string("/usr/bin/xterm"))
        #expect(blocked["selection"] == .string("PRIMARY"))

        let (plainTerminal, plainWindow) = try terminal(running: "/usr/bin/sleep", title: "plain-term")
        defer { plainTerminal.kill9() }
        try middleClick(plainWindow)
        try harness.waitFor(EventType.paste("allowed"))
        #expect(harness.events(EventType.paste("allowed"))[0]["requestor_exe"] == .string("/usr/bin/xterm"))
        #expect(harness.events(EventType.paste("blocked")).count == 1)
    }

    @Test("time in AI apps: a stretch with Claude Code's terminal focused becomes one ai.focus event when the focus moves on or the guard stops; a glance does not")
    func focusTime() throws {
        let scratch = try ScratchDirectory("bulwark-focus")
        defer { scratch.remove() }
        let directory = scratch.path
        let x = try XServer(directory: directory)
        defer { x.stop() }
        defer { killProcesses(mentioning: directory) }
        let environment = ["DISPLAY": x.display, "PATH": "/usr/bin:/bin", "HOME": directory]
        let windowManager = try x.windowManager(directory: directory)
        defer { windowManager.kill9() }
        let harness = try GuardHarness(directory: directory, x: x, policy: Self.policy)
        defer { harness.stop() }
        try FileManager.default.createDirectory(atPath: directory + "/tools", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/usr/bin/sleep", toPath: directory + "/tools/claude")
        var terminals: [ChildProcess] = []  // alive until the test ends
        defer { for terminal in terminals { terminal.kill9() } }
        func terminal(running program: String, title: String) throws -> String {
            terminals.append(try x.client("/usr/bin/xterm", ["-T", title, "-e", "/bin/sh", "-c", "\(program) 300"], logPath: directory + "/\(title).log"))
            return try x.window(titled: title)
        }
        func activate(_ window: String) throws {
            try x.activate(window)
        }
        let ai = try terminal(running: directory + "/tools/claude", title: "ai-term")
        let plain = try terminal(running: "/usr/bin/sleep", title: "plain-term")
        try activate(ai)
        usleep(1_600_000)
        try activate(plain)
        try harness.waitFor(EventType.aiFocus)
        let stretch = harness.events(EventType.aiFocus)[0]
        #expect(stretch["app"] == .string("claude-code"))
        #expect(stretch["identified_by"] == .string("terminal_process"))
        if case .number(let seconds)? = stretch["seconds"] { #expect(seconds >= 1 && seconds <= 5) } else { Issue.record("no seconds") }
        #expect(stretch["title"] == nil)
        // A glance (under a second) is not a stretch.
        try activate(ai)
        try activate(plain)
        usleep(500_000)
        #expect(harness.events(EventType.aiFocus).count == 1)
        // Stopping the guard (SIGTERM, as a logout does) ends the stretch in progress: recorded, clean exit.
        try activate(ai)
        usleep(1_600_000)
        #expect(harness.guardian.stop() == 0)
        #expect(harness.events(EventType.aiFocus).count == 2)
        #expect(harness.events(EventType.aiFocus).last?["app"] == .string("claude-code"))
        for (type, data) in harness.events() { try EventCatalog.standard.validate(Event(seq: 1, time: Date(), type: type, v: 1, data: data)) }
    }
}
