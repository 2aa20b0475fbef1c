import BulwarkCore
import Foundation
import Testing

/// A real browser: Chromium windows under a window manager (openbox) on Xvfb, pasting with a
/// real Ctrl+V (xdotool). The page reports what it received in its title; the guard knows the
/// tab's site only from the active window's title, as on a real desktop.
@Suite("End to end: clipboard guard and a real browser", .serialized)
struct ClipboardBrowserTests {
    static let policy = """
    version: 1
    name: test-browser
    rules:
      - id: no-cards-to-ai
        when: {types: credit_card, min_confidence: medium}
        destinations: {categories: [consumer_ai]}
        action: block
        message: Cards stay out of AI chats.
    """

    /// A page titled `title` whose text box reports each paste in the title: `<title> - pasted N: [text]`.
    static func page(title: String) -> String {
        """
        <!doctype html><html><head><meta charset="utf-8"><title>\(title)</title></head><body>
        <textarea id="box" autofocus></textarea>
        <script>
        document.getElementById('box').addEventListener('paste', event => {
          const text = event.clipboardData.getData('text/plain');
          setTimeout(() => { document.title = '\(title) - pasted ' + text.length + ': [' + text + ']'; }, 0);
        });
        </script></body></html>
        """
    }

    @Test("Chromium showing a page titled ChatGPT gets nothing and a block incident names chatgpt; a page titled Notes gets the exact text; a copy out of an AI site names it")
    func chromiumPaste() throws {
        let scratch = try ScratchDirectory("bulwark-browser")
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

        // Le Chat's page comes from "chat.mistral.ai" (a local server the browser resolves it to;
        // chatgpt.com is HSTS-preloaded, so plain HTTP cannot stand in for it), so copying out of
        // it names the site. The others are local files.
        let site = try LocalWebServer(page: Self.page(title: "Le Chat"))
        defer { site.stop() }
        func browser(_ title: String) throws -> (ChildProcess, String) {
            let file = directory + "/\(title).html"
            try Data(Self.page(title: title).utf8).write(to: URL(fileURLWithPath: file))
            let url = title == "Le Chat" ? "http://chat.mistral.ai/" : "file://\(file)"
            let chromium = try ChildProcess(
                "/usr/bin/chromium",
                ["--no-sandbox", "--user-data-dir=\(directory)/profile-\(title)", "--no-first-run", "--no-default-browser-check",
                 "--disable-gpu", "--password-store=basic", "--disable-extensions", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-crash-reporter", "--host-resolver-rules=MAP chat.mistral.ai 127.0.0.1:\(site.port)", "--app=\(url)"],
                logPath: directory + "/chromium-\(title).log", environment: environment)
            return (chromium, try x.window(titled: title, timeout: 60) { chromium.log })
        }
        /// Activates the window, presses Ctrl+V and waits for the page to report the paste.
        func pasteInto(_ window: String, title: String) throws -> String {
            try x.activate(window)
            usleep(300_000)
            _ = try run("/usr/bin/xdotool", ["key", "--clearmodifiers", "ctrl+v"], environment: environment, timeout: 10)
            let deadline = Date().addingTimeInterval(20)
            while Date() < deadline {
                let name = try run("/usr/bin/xdotool", ["getwindowname", window], environment: environment, timeout: 10).stdout
                    .trimmingCharacters(in: .newlines)
                if name.hasPrefix("\(title) - pasted ") { return String(name.dropFirst("\(title) - pasted ".count)) }
                usleep(100_000)
            }
            throw TestFailure.timeout("the \(title) page reporting a paste")
        }

        let card = "Zoë's card 4556 7375 8689 9855 exp 12/28 — 漢字"
        let owner = try harness.copyGuarded(card, name: "card.txt")
        defer { owner.kill9() }

        let (chatgpt, chatWindow) = try browser("ChatGPT")
        defer { chatgpt.killGroup() }
        #expect(try pasteInto(chatWindow, title: "ChatGPT") == "0: []")
        try harness.waitFor(EventType.paste("blocked"))
        let blocked = harness.events(EventType.paste("blocked"))[0]
        #expect(blocked["app"] == .string("chatgpt"))
        #expect(blocked["identified_by"] == .string("window_title"))
        #expect(blocked["rule"] == .string("no-cards-to-ai"))
        #expect(blocked["window_class"] == .string("Chromium"))
        #expect(blocked["requestor_exe"].flatMap { if case .string(let exe) = $0 { exe.hasSuffix("/chromium") } else { false } } == true)

        let (notes, notesWindow) = try browser("Notes")
        defer { notes.killGroup() }
        #expect(try pasteInto(notesWindow, title: "Notes") == "\(card.utf16.count): [\(card)]")
        try harness.waitFor(EventType.paste("allowed"))
        let allowed = harness.events(EventType.paste("allowed"))[0]
        #expect(allowed["app"] == nil)
        #expect(allowed["identified_by"] == .string("unknown"))
        #expect(harness.events(EventType.paste("blocked")).count == 1)

        // Copying out of an AI chat: the copy event names the site (host only) and the app.
        let (leChat, leChatWindow) = try browser("Le Chat")
        defer { leChat.killGroup() }
        try x.activate(leChatWindow)
        usleep(300_000)
        _ = try run("/usr/bin/xdotool", ["type", "--delay", "5", "an answer from the assistant"], environment: environment, timeout: 20)
        _ = try run("/usr/bin/xdotool", ["key", "--clearmodifiers", "ctrl+a", "ctrl+c"], environment: environment, timeout: 10)
        // Select-all also sets PRIMARY (no source URL there); the Ctrl+C copy is CLIPBOARD's.
        func browserCopies() -> [[String: JSONValue]] {
            harness.events(EventType.clipboardCopy).filter { $0["selection"] == .string("CLIPBOARD") && $0["source_exe"] != .string("/usr/bin/xclip") }
        }
        let deadline = Date().addingTimeInterval(20)
        while browserCopies().isEmpty {
            if Date() > deadline { throw TestFailure.timeout("the copy out of Le Chat:\n\(harness.guardian.log)") }
            usleep(50_000)
        }
        let copied = browserCopies()[0]
        #expect(copied["source_host"] == .string("chat.mistral.ai"))
        #expect(copied["source_app"] == .string("mistral-le-chat"))
        #expect(copied["source_exe"].flatMap { if case .string(let exe) = $0 { exe.hasSuffix("/chromium") } else { false } } == true)
    }
}
