import BulwarkAgent
import BulwarkCore
import Foundation
import Testing

/// Refused pastes notify the user over a real session bus (dbus-daemon); warnings are answered
/// through the same D-Bus signals a click or an inline reply produces.
@Suite("End to end: paste notifications and the warn/override flow", .serialized)
struct ClipboardNotificationTests {
    static let policy = """
    version: 1
    name: test-warn
    rules:
      - id: confirm-cards-to-ai
        when: {types: credit_card, min_confidence: medium}
        destinations: {categories: [consumer_ai, ai_coding]}
        action: warn
        message: Card numbers need a reason before they go to an AI tool.
      - id: no-keys-to-ai
        when: {types: private_key}
        destinations: {categories: [consumer_ai, ai_coding]}
        action: block
        message: Private keys never go to AI tools.
    """
    static let card = "customer card 4556 7375 8689 9855 exp 12/28"

    func withGuard(capabilities: [String], _ body: (GuardHarness, TestNotificationServer, SessionBus) throws -> Void) throws {
        let scratch = try ScratchDirectory("bulwark-notify")
        defer { scratch.remove() }
        let directory = scratch.path
        try FileManager.default.createDirectory(atPath: directory + "/empty-path", withIntermediateDirectories: true)
        let x = try XServer(directory: directory)
        defer { x.stop() }
        let bus = try SessionBus(directory: directory)
        defer { bus.stop() }
        let server = try TestNotificationServer(address: bus.address, capabilities: capabilities)
        defer { server.stop() }
        // PATH without zenity/kdialog/yad: the reason comes from the notification or not at all.
        let harness = try GuardHarness(
            directory: directory, x: x, policy: Self.policy, environment: ["DBUS_SESSION_BUS_ADDRESS": bus.address, "PATH": directory + "/empty-path"])
        defer { harness.stop() }
        try body(harness, server, bus)
    }

    func waitForNotifications(_ server: TestNotificationServer, count: Int) throws {
        let deadline = Date().addingTimeInterval(20)
        while server.notifications.count < count {
            if Date() > deadline { throw TestFailure.timeout("\(count) notification(s); have \(server.notifications.count)") }
            usleep(20_000)
        }
    }

    @Test("warn: refused with a notification; a forged answer is ignored; the inline reply lets exactly the next paste through as paste.overridden")
    func warnOverrideByInlineReply() throws {
        try withGuard(capabilities: ["actions", "body", "body-markup", "inline-reply"]) { harness, server, bus in
            let owner = try harness.copyGuarded(Self.card, name: "card.txt")
            defer { owner.kill9() }

            let first = try harness.paste(harness.claude)
            #expect(first.status != 0 && first.stdout.isEmpty)
            try harness.waitFor(EventType.paste("warned"))
            try waitForNotifications(server, count: 1)
            let warned = harness.events(EventType.paste("warned"))[0]
            guard case .string(let incident)? = warned["incident_id"] else { throw TestFailure.command("no incident id: \(warned)") }
            let note = server.notifications[0]
            #expect(note.appName == "Bulwark")
            #expect(note.summary == "Paste to Claude Code needs your confirmation")
            #expect(note.body.contains("Card numbers need a reason before they go to an AI tool."))
            #expect(note.body.contains("credit card"))
            #expect(note.body.contains(incident))
            #expect(!note.body.contains("4556") && !note.body.contains("9855"))  // types, never the data
            #expect(note.actions == ["inline-reply", "Paste anyway (type the reason)", "cancel", "Cancel"])
            #expect(note.hints["x-bulwark-incident"] == .string(incident))

            // Another program on the bus cannot answer for the notification server.
            let impostor = try DBusConnection(address: bus.address)
            defer { impostor.disconnect() }
            try impostor.send(.signal(path: "/org/freedesktop/Notifications", interface: "org.freedesktop.Notifications", member: "NotificationReplied",
                                      body: [.uint32(note.id), .string("forged")]))
            usleep(500_000)
            #expect(try harness.paste(harness.claude).stdout.isEmpty)
            try harness.waitFor(EventType.paste("warned"), count: 2)

            // The user types a reason into the notification.
            try server.reply(note.id, text: "customer asked for the card on file")
            let overridden = try harness.pasteUntilServed(harness.claude)
            #expect(overridden.stdout == Self.card)
            try harness.waitFor(EventType.paste("overridden"))
            let record = harness.events(EventType.paste("overridden"))[0]
            #expect(record["incident_id"] == .string(incident))
            #expect(record["justification"] == .string("customer asked for the card on file"))
            #expect(record["app"] == .string("claude-code"))

            // One paste, not a licence: the next is warned again.
            usleep(2_100_000)
            #expect(try harness.paste(harness.claude).stdout.isEmpty)
            for (type, data) in harness.events() {
                try EventCatalog.standard.validate(Event(seq: 1, time: Date(), type: type, v: 1, data: data))
            }
            #expect(!harness.guardian.log.contains("4556"))
        }
    }

    @Test("warn: \"Paste anyway\" clicked with no dialog program installed lets the next paste through and records that no reason could be asked")
    func warnOverrideByAction() throws {
        try withGuard(capabilities: ["actions", "body"]) { harness, server, _ in
            let owner = try harness.copyGuarded(Self.card, name: "card.txt")
            defer { owner.kill9() }
            #expect(try harness.paste(harness.claude).stdout.isEmpty)
            try waitForNotifications(server, count: 1)
            let note = server.notifications[0]
            #expect(note.actions == ["paste-anyway", "Paste anyway…", "cancel", "Cancel"])
            try server.invokeAction(note.id, key: "paste-anyway")
            let pasted = try harness.pasteUntilServed(harness.claude)
            #expect(pasted.stdout == Self.card)
            try harness.waitFor(EventType.paste("overridden"))
            #expect(harness.events(EventType.paste("overridden"))[0]["justification"] == .string(JustificationPrompt.noDialogJustification))
        }
    }

    @Test("warn: Cancel keeps the paste refused; blocks notify without actions, and a retry storm makes one notification")
    func cancelAndThrottle() throws {
        try withGuard(capabilities: ["actions", "body"]) { harness, server, _ in
            let owner = try harness.copyGuarded(Self.card, name: "card.txt")
            defer { owner.kill9() }
            #expect(try harness.paste(harness.claude).stdout.isEmpty)
            try waitForNotifications(server, count: 1)
            try server.invokeAction(server.notifications[0].id, key: "cancel")
            usleep(500_000)
            #expect(try harness.paste(harness.claude).stdout.isEmpty)
            #expect(harness.events(EventType.paste("overridden")).isEmpty)

            let key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\nQyNTUxOQAAACDmFf3gH4mZr8mN2u1zZ1QwYkq3cS0b7xV7p1mY2QfA9wAAAJgAAAAAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
            let keyOwner = try harness.copyGuarded(key, name: "key.txt")
            defer { keyOwner.kill9() }
            let before = server.notifications.count
            for _ in 0..<5 { #expect(try harness.paste(harness.claude).stdout.isEmpty) }
            try harness.waitFor(EventType.paste("blocked"), count: 5)
            usleep(500_000)
            let blocks = server.notifications.dropFirst(before)
            #expect(blocks.count == 1)
            #expect(blocks.first?.summary == "Paste to Claude Code blocked")
            #expect(blocks.first?.actions == [])
            #expect(blocks.first?.body.contains("private key") == true)
            #expect(blocks.first?.hints["urgency"] == .byte(2))
        }
    }

    @Test("a block notification reaches a real notification server (dunst)")
    func dunstDelivery() throws {
        let scratch = try ScratchDirectory("bulwark-dunst")
        defer { scratch.remove() }
        let directory = scratch.path
        let x = try XServer(directory: directory)
        defer { x.stop() }
        let bus = try SessionBus(directory: directory)
        defer { bus.stop() }
        let environment = ["DISPLAY": x.display, "DBUS_SESSION_BUS_ADDRESS": bus.address, "PATH": "/usr/bin:/bin", "HOME": directory]
        let dunst = try ChildProcess("/usr/bin/dunst", [], logPath: directory + "/dunst.log", environment: environment)
        defer { dunst.kill9() }
        try eventuallySync("dunst owning org.freedesktop.Notifications") {
            (try? run("/usr/bin/dunstctl", ["count", "displayed"], environment: environment, timeout: 10))?.status == 0
        }
        let policy = Self.policy.replacingOccurrences(of: "action: warn", with: "action: block")
        let harness = try GuardHarness(directory: directory, x: x, policy: policy, environment: ["DBUS_SESSION_BUS_ADDRESS": bus.address])
        defer { harness.stop() }
        let owner = try harness.copyGuarded(Self.card, name: "card.txt")
        defer { owner.kill9() }
        #expect(try harness.paste(harness.claude).stdout.isEmpty)
        try harness.waitFor(EventType.paste("blocked"))
        guard case .string(let incident)? = harness.events(EventType.paste("blocked"))[0]["incident_id"] else { throw TestFailure.command("no incident") }
        try eventuallySync("dunst showing the notification") {
            let count = try? run("/usr/bin/dunstctl", ["count", "displayed"], environment: environment, timeout: 10)
            return count?.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "1"
        }
        _ = try run("/usr/bin/dunstctl", ["close-all"], environment: environment, timeout: 10)
        try eventuallySync("the notification in dunst's history") {
            let history = try run("/usr/bin/dunstctl", ["history"], environment: environment, timeout: 10)
            return history.stdout.contains(incident) && history.stdout.contains("Paste to Claude Code blocked")
        }
    }

    func eventuallySync(_ what: String, timeout: Double = 20, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while try !condition() {
            if Date() > deadline { throw TestFailure.timeout(what) }
            usleep(100_000)
        }
    }
}
