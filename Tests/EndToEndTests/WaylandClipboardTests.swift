import BulwarkCore
import Foundation
import Testing

/// The clipboard guard on a real Wayland compositor (headless sway, wlr-data-control) with
/// real clients: wl-copy owns selections, wl-paste reads them, and a renamed copy of wl-paste
/// stands in for an AI tool (Claude Code's executable is `claude`; wl-paste reads through a
/// `cat` child, so the guard must look above the pipe's holder).
@Suite("End to end: Wayland clipboard guard", .serialized)
struct WaylandClipboardTests {
    /// Headless sway with `bulwark-agent clipboard guard` (the clipboard tests' policy) on it.
    static func guardOnSway(_ directory: String) throws -> (sway: Sway, guardian: ChildProcess) {
        let sway = try Sway(directory: directory)
        do {
            try Data(ClipboardGuardTests.policy.utf8).write(to: URL(fileURLWithPath: directory + "/policy.yaml"))
            let guardian = try ChildProcess(
                Binaries.path("bulwark-agent"), ["clipboard", "guard", "--no-notify", "--policy", directory + "/policy.yaml"],
                logPath: directory + "/guard.log", environment: sway.environment)
            // The protocol is named (what `bulwark-agent doctor` reports per session helper).
            try guardian.waitForLog("guarding CLIPBOARD and PRIMARY on Wayland display \(sway.display) via ")
            #expect(guardian.log.contains("_data_control_manager_v1"), "\(guardian.log)")
            return (sway, guardian)
        } catch {
            sway.stop()
            throw error
        }
    }

    @Test("sensitive copies are taken over; an AI reader gets nothing and one block incident, others the exact bytes (3 MB, UTF-8, primary); harmless copies are left alone")
    func guardPastes() throws {
        let scratch = try ScratchDirectory("bulwark-wayland")
        defer { scratch.remove() }
        let directory = scratch.path
        let (sway, guardian) = try Self.guardOnSway(directory)
        defer { sway.stop() }
        defer { killProcesses(mentioning: directory) }
        defer { guardian.kill9() }
        let claude = directory + "/claude"
        try FileManager.default.copyItem(atPath: "/usr/bin/wl-paste", toPath: claude)

        func copy(_ text: String, primary: Bool = false, name: String) throws -> ChildProcess {
            let file = directory + "/" + name
            try Data(text.utf8).write(to: URL(fileURLWithPath: file))
            return try ChildProcess(
                "/bin/sh", ["-c", "exec /usr/bin/wl-copy --foreground \(primary ? "--primary " : "")< '\(file)'"], logPath: file + ".log",
                environment: sway.environment)
        }
        func paste(_ program: String, primary: Bool = false) throws -> CommandResult {
            try run(program, ["--no-newline"] + (primary ? ["--primary"] : []), environment: sway.environment, timeout: 20)
        }
        /// wl-copy --foreground exits when its selection is replaced: the guard took it over.
        func waitForTakeover(_ owner: ChildProcess) throws {
            let deadline = Date().addingTimeInterval(20)
            while owner.isRunning {
                if Date() > deadline { throw TestFailure.timeout("the guard taking the selection over:\n\(guardian.log)") }
                usleep(20_000)
            }
        }

        let card = "Kunde Zoë — 漢字 😀 card 4556 7375 8689 9855 exp 12/28"
        let owner = try copy(card, name: "card.txt")
        defer { owner.kill9() }
        try guardian.waitForGuardEvent(EventType.clipboardCopy)
        try waitForTakeover(owner)
        #expect(try run("/usr/bin/wl-paste", ["--list-types"], environment: sway.environment).stdout.contains("application/x-bulwark-guarded"))

        #expect(try paste("/usr/bin/wl-paste").stdout == card)
        try guardian.waitForGuardEvent(EventType.paste("allowed"))
        let ai = try paste(claude)
        #expect(ai.stdout.isEmpty)
        try guardian.waitForGuardEvent(EventType.paste("blocked"))
        usleep(300_000)
        let blocked = guardian.guardEvents(EventType.paste("blocked"))
        #expect(blocked.count == 1)
        #expect(blocked.first?["app"] == .string("claude-code"))
        #expect(blocked.first?["rule"] == .string("no-cards-to-ai"))
        #expect(blocked.first?["requestor_pid"] != nil)
        if case .string(let id)? = blocked.first?["incident_id"] { #expect(id.hasPrefix("BW-")) } else { Issue.record("no incident id") }

        // Harmless text stays with its owner.
        let plain = try copy("lunch at noon?", name: "plain.txt")
        defer { plain.kill9() }
        try guardian.waitForGuardEvent(EventType.clipboardCopy, count: 2)
        usleep(300_000)
        #expect(plain.isRunning)
        #expect(try paste(claude).stdout == "lunch at noon?")

        // 3 MB of sensitive content in the primary selection: byte for byte, and guarded.
        let big = "card 4556 7375 8689 9855\n" + String(repeating: "Lorem ipsum dolor sit amet — ünïcödé ✓\n", count: 3 * 1024 * 1024 / 44)
        let bigOwner = try copy(big, primary: true, name: "big.txt")
        defer { bigOwner.kill9() }
        try guardian.waitForGuardEvent(EventType.clipboardCopy, count: 3)
        try waitForTakeover(bigOwner)
        let bigPaste = try paste("/usr/bin/wl-paste", primary: true)
        #expect(bigPaste.stdout.utf8.count == big.utf8.count)
        #expect(bigPaste.stdout == big)
        #expect(try paste(claude, primary: true).stdout.isEmpty)

        for (type, data) in guardian.guardEvents() {
            try EventCatalog.standard.validate(Event(seq: 1, time: Date(), type: type, v: 1, data: data))
        }
        for secret in ["4556", "Zoë", "Lorem"] { #expect(!guardian.log.contains(secret)) }
    }

    @Test("time in AI apps on sway: Claude Code started in the focused foot terminal is one ai.focus stretch, ended when the focus moves to another window")
    func focusTime() throws {
        let scratch = try ScratchDirectory("bulwark-wayland-focus")
        defer { scratch.remove() }
        let directory = scratch.path
        let (sway, guardian) = try Self.guardOnSway(directory)
        defer { sway.stop() }
        defer { killProcesses(mentioning: directory) }
        defer { guardian.kill9() }
        let tools = directory + "/tools"
        try FileManager.default.createDirectory(atPath: tools, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/usr/bin/sleep", toPath: tools + "/claude")

        // A terminal gets the focus with a shell in it; Claude Code starts there a second later,
        // with no focus change (the guard looks at a focused terminal again within 5 s).
        var environment = sway.environment
        environment["HOME"] = directory
        let ai = try ChildProcess("/usr/bin/foot", ["-T", "ai-term", "/bin/sh", "-c", "sleep 1; exec \(tools)/claude 300"], logPath: directory + "/foot-ai.log", environment: environment)
        defer { ai.kill9() }
        usleep(8_000_000)
        #expect(guardian.guardEvents(EventType.aiFocus).isEmpty, "the stretch is still going")
        // Another window takes the focus (sway focuses new windows): the stretch ends.
        let plain = try ChildProcess("/usr/bin/foot", ["-T", "plain-term", "/usr/bin/sleep", "300"], logPath: directory + "/foot-plain.log", environment: environment)
        defer { plain.kill9() }
        try guardian.waitForGuardEvent(EventType.aiFocus)
        let stretch = guardian.guardEvents(EventType.aiFocus)[0]
        #expect(stretch["app"] == .string("claude-code"))
        #expect(stretch["identified_by"] == .string("terminal_process"))
        if case .number(let seconds)? = stretch["seconds"] { #expect(seconds >= 2 && seconds <= 10) } else { Issue.record("no seconds") }
        #expect(stretch["title"] == nil)
    }
}

