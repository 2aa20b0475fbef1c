import BulwarkCore
import Foundation
import Testing

/// The X11 clipboard watcher against a real X server (Xvfb) and a real clipboard owner (xclip).
@Suite("End to end: X11 clipboard watcher", .serialized)
struct ClipboardWatchTests {
    @Test("copies to CLIPBOARD and PRIMARY are read (INCR for 3 MB, UTF-8 intact), classified and attributed, never recorded")
    func watchCopies() throws {
        let scratch = try ScratchDirectory("bulwark-clipboard")
        defer { scratch.remove() }
        let directory = scratch.path
        let x = try XServer(directory: directory)
        defer { x.stop() }
        let key = directory + "/hash.key"
        try Data((0..<32).map { UInt8($0) }).write(to: URL(fileURLWithPath: key))

        let watcher = try x.client(Binaries.path("bulwark-agent"), ["clipboard", "watch", "--display", x.display, "--json", "--count", "4", "--key", key],
                                   logPath: directory + "/watch.log")
        defer { watcher.stop() }
        try watcher.waitForLog("watching CLIPBOARD and PRIMARY")

        func copy(_ text: String, selection: String, name: String) throws -> ChildProcess {
            let file = directory + "/" + name
            try Data(text.utf8).write(to: URL(fileURLWithPath: file))
            return try x.client("/usr/bin/xclip", ["-selection", selection, "-quiet", file], logPath: directory + "/\(name).log")
        }
        func events() -> [[String: JSONValue]] {
            watcher.log.split(separator: "\n").compactMap { line in
                guard line.hasPrefix("{"), case .object(let object)? = try? JSONDecoder().decode(JSONValue.self, from: Data(line.utf8)) else { return nil }
                return object
            }
        }
        func waitForEvents(_ count: Int) throws -> [[String: JSONValue]] {
            let deadline = Date().addingTimeInterval(20)
            while events().count < count {
                if Date() > deadline { throw TestFailure.timeout("\(count) clipboard events:\n\(watcher.log)") }
                usleep(50_000)
            }
            return events()
        }

        let card = "Refund card 4556 7375 8689 9855 exp 12/28"
        let first = try copy(card, selection: "clipboard", name: "card.txt")
        defer { first.kill9() }
        var seen = try waitForEvents(1)
        let cardEvent = seen[0]
        #expect(cardEvent["selection"] == .string("CLIPBOARD"))
        #expect(cardEvent["bytes"] == .number(Double(card.utf8.count)))
        #expect(cardEvent["source_pid"] == .number(Double(first.pid)))
        #expect(cardEvent["source_exe"] == .string("/usr/bin/xclip"))
        guard case .array(let findings)? = cardEvent["findings"], case .object(let finding)? = findings.first else {
            Issue.record("no findings in \(cardEvent)")
            return
        }
        #expect(finding["type"] == .string("credit_card"))
        #expect(finding["confidence"] == .number(85))
        try EventCatalog.standard.validate(Event(seq: 1, time: Date(), type: EventType.clipboardCopy, v: 1, data: cardEvent))

        // 3 MB is far over one X request: the owner sends it INCR, in chunks.
        let big = "SSN 536-22-1904.\n" + String(repeating: "lorem ipsum dolor sit amet, ", count: 3 * 1024 * 1024 / 28)
        let second = try copy(big, selection: "primary", name: "big.txt")
        defer { second.kill9() }
        seen = try waitForEvents(2)
        #expect(seen[1]["selection"] == .string("PRIMARY"))
        #expect(seen[1]["bytes"] == .number(Double(big.utf8.count)))
        #expect(seen[1]["truncated"] == .bool(false))
        guard case .array(let bigFindings)? = seen[1]["findings"] else { return }
        #expect(bigFindings.contains { $0 == .object(["type": .string("us_ssn"), "count": .number(1), "confidence": .number(85)]) })

        let unicode = "naïve café 😀 漢字 — harmless"
        let third = try copy(unicode, selection: "clipboard", name: "unicode.txt")
        defer { third.kill9() }
        seen = try waitForEvents(3)
        #expect(seen[2]["bytes"] == .number(Double(unicode.utf8.count)))
        #expect(seen[2]["findings"] == .array([]))

        // The same text again hashes the same: repeats are countable without the content.
        let fourth = try copy(card, selection: "clipboard", name: "card-again.txt")
        defer { fourth.kill9() }
        seen = try waitForEvents(4)
        #expect(seen[3]["content_hash"] != nil)
        #expect(seen[3]["content_hash"] == cardEvent["content_hash"])
        #expect(seen[3]["content_hash"] != seen[2]["content_hash"])

        // Nothing copied is in the output.
        for secret in ["4556", "536-22-1904", "naïve", "lorem"] { #expect(!watcher.log.contains(secret)) }
    }

    @Test("without an X server the watcher says so and exits non-zero")
    func noDisplay() throws {
        let result = try run(Binaries.path("bulwark-agent"), ["clipboard", "watch", "--display", ":7777"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("cannot open X display :7777"))
    }
}
