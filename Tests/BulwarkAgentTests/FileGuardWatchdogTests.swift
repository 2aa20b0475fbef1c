@testable import BulwarkAgent
import BulwarkCore
import Foundation
import Logging
import Synchronization
import Testing

/// The file guard's watchdog with real fanotify on a tmpfs mounted for the test (as root): a
/// decision that hangs (here the recorder, the guard's seam to the spool, stalls as a full or
/// locked disk would) must not freeze the program waiting on it, and the guard must come back.
@Suite("File guard watchdog (fanotify)", .serialized)
struct FileGuardWatchdogTests {
    /// What the guard recorded, and whether the next `file.blocked` should hang.
    final class Recorder: Sendable {
        let events = Mutex<[(type: String, data: [String: JSONValue])]>([])
        let stallNextBlock = Mutex<Duration?>(nil)

        func record(_ type: String, _ data: [String: JSONValue]) {
            if type == EventType.file("blocked"), let stall = stallNextBlock.withLock({ value -> Duration? in defer { value = nil }; return value }) {
                Thread.sleep(forTimeInterval: Double(stall.components.seconds))
            }
            events.withLock { $0.append((type, data)) }
        }

        func contains(_ type: String, where matches: ([String: JSONValue]) -> Bool = { _ in true }) -> Bool {
            events.withLock { $0.contains { $0.type == type && matches($0.data) } }
        }
    }

    @Test("a decision stuck past the watchdog: the waiting open is let through long before the stall ends, the guard says so, and it guards again after its re-arm delay")
    func watchdogReleasesAndRearms() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("watchdog-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let mounted = Self.shell("mount -t tmpfs -o size=16m bulwark-test '\(root)'")
        try #require(mounted.status == 0, "mounting a tmpfs needs root: \(mounted.output)")
        defer {
            _ = Self.shell("umount -l '\(root)'")
            try? FileManager.default.removeItem(atPath: root)
        }
        let card = root + "/customers.txt"
        try Data("Customer card 4556 7375 8689 9855 exp 12/28, CVV on file.\n".utf8).write(to: URL(fileURLWithPath: card))
        let ollama = root + "/ollama"
        try FileManager.default.copyItem(atPath: URL(fileURLWithPath: "/bin/cat").resolvingSymlinksInPath().path, toPath: ollama)

        let recorder = Recorder()
        let guardian = FileGuard(
            settings: .init(roots: [root]), policy: DefaultPolicy.policy(), classifier: ContentClassifier(), appStates: [:], catalog: CatalogSource(),
            record: { recorder.record($0, $1) }, notify: { _, _ in })
        let service = FileGuardService(
            guard: guardian, options: .init(paths: [root], watchdog: .seconds(2), rearmDelay: .seconds(2)), logger: Logger(label: "test"))
        let running = Task { try await service.run() }
        defer { running.cancel() }

        // Guarding: the AI tool is refused.
        try await Self.eventually("the guard blocking the AI tool") { Self.shell("'\(ollama)' '\(card)'").status != 0 }

        // The next block's record hangs for 12 s: the watchdog (2 s) gives up on it, the group
        // is closed and the open goes through well before the stall ends.
        recorder.stallNextBlock.withLock { $0 = .seconds(12) }
        let started = ContinuousClock.now
        let stuck = Self.shell("'\(ollama)' '\(card)'")
        let waited = ContinuousClock.now - started
        #expect(stuck.status == 0 && stuck.output.contains("4556"), "released by closing the group: \(stuck.output)")
        #expect(waited < .seconds(9), "released after \(waited)")
        #expect(recorder.contains(EventType.agentHealth) { $0["status"] == "failed" && "\($0["message"] ?? .null)".contains("late") })

        // Re-armed: health says so and the AI tool is refused again.
        try await Self.eventually("the guard re-armed") { recorder.contains(EventType.agentHealth) { $0["status"] == "ok" } }
        try await Self.eventually("the AI tool refused again") { Self.shell("'\(ollama)' '\(card)'").status != 0 }
    }

    static func shell(_ command: String) -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command + " 2>&1"]
        let output = Pipe()
        process.standardOutput = output
        do { try process.run() } catch { return (-1, "\(error)") }
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text)
    }

    static func eventually(_ what: String, timeout: Duration = .seconds(20), _ condition: () throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try condition() { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("timed out waiting for \(what)")
    }
}
