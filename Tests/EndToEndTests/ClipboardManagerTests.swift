import BulwarkCore
import Foundation
import Testing

/// The guard and the desktop's clipboard machinery: a real clipboard manager (parcellite) that
/// polls the selection, MULTIPLE requests as managers make them (python3-xlib peer), and a
/// client that keeps taking the selection back.
@Suite("End to end: clipboard guard with clipboard managers", .serialized)
struct ClipboardManagerTests {
    static let card = "card 4556 7375 8689 9855 exp 12/28 ✓"
    static let peer = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Peers/multiple_request.py").path

    func withHarness(_ body: (GuardHarness, String) throws -> Void) throws {
        let scratch = try ScratchDirectory("bulwark-managers")
        defer { scratch.remove() }
        let directory = scratch.path
        let x = try XServer(directory: directory)
        defer { x.stop() }
        defer { killProcesses(mentioning: directory) }
        let harness = try GuardHarness(directory: directory, x: x, policy: ClipboardGuardTests.policy)
        defer { harness.stop() }
        try body(harness, directory)
    }

    func multiple(_ interpreter: String, _ targets: [String], display: String) throws -> [String: JSONValue] {
        let result = try run(interpreter, [Self.peer] + targets, environment: ["DISPLAY": display], timeout: 20)
        guard case .object(let answer)? = try? JSONDecoder().decode(JSONValue.self, from: Data(result.stdout.utf8)) else {
            throw TestFailure.command("MULTIPLE peer: \(result.output)")
        }
        return answer
    }

    @Test("MULTIPLE: an ordinary requestor gets every target; an AI requestor gets the target list but no data, and one incident")
    func multipleTargets() throws {
        try withHarness { harness, directory in
            let owner = try harness.copyGuarded(Self.card, name: "card.txt")
            defer { owner.kill9() }
            let ordinary = try multiple("/usr/bin/python3", ["TARGETS", "UTF8_STRING", "text/plain;charset=utf-8", "STRING"], display: harness.x.display)
            #expect(ordinary["UTF8_STRING"] == .string(Self.card))
            #expect(ordinary["text/plain;charset=utf-8"] == .string(Self.card))
            #expect(ordinary["STRING"] == .string("card 4556 7375 8689 9855 exp 12/28 ?"))
            guard case .array(let targets)? = ordinary["TARGETS"] else { throw TestFailure.command("no TARGETS: \(ordinary)") }
            #expect(targets.contains(.string("MULTIPLE")) && targets.contains(.string("UTF8_STRING")))

            let claude = directory + "/claude-python/claude"
            try FileManager.default.createDirectory(atPath: directory + "/claude-python", withIntermediateDirectories: true)
            // A copy of the Python interpreter named like Claude Code's executable.
            try FileManager.default.copyItem(atPath: URL(fileURLWithPath: "/usr/bin/python3").resolvingSymlinksInPath().path, toPath: claude)
            let ai = try multiple(claude, ["TARGETS", "UTF8_STRING", "text/plain"], display: harness.x.display)
            #expect(ai["UTF8_STRING"] == .null)
            #expect(ai["text/plain"] == .null)
            #expect(ai["TARGETS"] != .null)
            try harness.waitFor(EventType.paste("blocked"))
            usleep(300_000)
            #expect(harness.events(EventType.paste("blocked")).count == 1)
            #expect(harness.events(EventType.paste("blocked"))[0]["app"] == .string("claude-code"))
        }
    }

    @Test("a polling clipboard manager (parcellite) coexists: it reads the guarded copy (one event, not one per poll), pastes keep working")
    func parcellite() throws {
        try withHarness { harness, directory in
            let manager = try ChildProcess("/usr/bin/parcellite", ["-n"], logPath: directory + "/parcellite.log",
                                           environment: ["DISPLAY": harness.x.display, "HOME": directory, "PATH": "/usr/bin:/bin"])
            defer { manager.kill9() }
            usleep(1_000_000)
            let owner = try harness.copyGuarded(Self.card, name: "card.txt")
            defer { owner.kill9() }
            usleep(3_000_000)  // parcellite polls the clipboard about twice a second
            let managerReads = harness.events(EventType.paste("allowed")).filter { $0["requestor_exe"] == .string("/usr/bin/parcellite") }
            #expect(managerReads.count == 1)
            #expect(try harness.paste("/usr/bin/xclip").stdout == Self.card)
            #expect(try harness.paste(harness.claude).stdout.isEmpty)
            #expect(harness.events(EventType.clipboardCopy).count == 1)  // the manager did not take the selection back
        }
    }

    @Test("a client that keeps taking the selection back ends the tug of war within seconds; later copies are guarded again")
    func tugOfWar() throws {
        try withHarness { harness, directory in
            let owner = try harness.copyGuarded(Self.card, name: "card.txt")
            defer { owner.kill9() }
            // Re-owns whatever the clipboard holds, over and over.
            let grabber = try ChildProcess(
                "/bin/sh", ["-c", "while true; do /usr/bin/xclip -o -selection clipboard | /usr/bin/xclip -selection clipboard -i; sleep 0.1; done"],
                logPath: directory + "/grabber.log", environment: ["DISPLAY": harness.x.display, "PATH": "/usr/bin:/bin"])
            try harness.guardian.waitForLog("keeps being taken back", timeout: 20)
            grabber.killGroup()
            killProcesses(mentioning: "-selection clipboard -i")
            usleep(6_000_000)  // the tug-of-war window passes
            let copies = harness.events(EventType.clipboardCopy).count
            let next = try harness.copy(Self.card + " again", selection: "clipboard", name: "again.txt")
            defer { next.kill9() }
            try harness.waitFor(EventType.clipboardCopy, count: copies + 1)
            try harness.waitForTakeover(next)
            #expect(try harness.paste(harness.claude).stdout.isEmpty)
        }
    }
}
