import BulwarkCollector
import BulwarkCore
import Foundation
import Testing

/// The browser extension in real browsers on Xvfb with openbox — Debian's Chromium (loaded
/// unpacked, driven over DevTools) and Firefox ESR (a temporary add-on, driven over WebDriver
/// BiDi) — talking through its native messaging host (`bulwark-agent native-host`) to the
/// session helper of an enrolled agent that sends to a collector. AI sites are a local HTTPS
/// server the browser resolves their names to; pastes are real Ctrl+V and typing is real keys
/// (xdotool) from a real X clipboard owner (xclip); the page's DOM is read through the driver.
@Suite("End to end: browser extension", .serialized)
struct BrowserExtensionTests {
    static let extensionDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("agent/browser-extension").path

    static let policy = """
        version: 1
        name: browser-test
        classifiers:
          - {id: falcon, kind: keywords, words: [Project Falcon]}
          - {id: osprey, kind: keywords, words: [Project Osprey]}
        rules:
          - id: osprey-stays-off-unsanctioned-ai
            when: {types: "keywords:osprey"}
            destinations: {sanction: [unsanctioned]}
            action: block
          - id: confirm-falcon-to-ai
            when: {types: "keywords:falcon"}
            destinations: {categories: [consumer_ai]}
            action: warn
          - id: no-cards-to-ai
            when: {types: credit_card, min_confidence: medium}
            destinations: {categories: [consumer_ai]}
            activities: [paste, file_upload]
            action: block
            message: Cards stay out of AI chats.
        browser:
          typed_prompts: true
          terms:
            text: "Acme's AI rules: no customer data, no code."
            every: 30d
          request_access: "Ask for access at https://it.acme.example/ai (helpdesk 4242)."
        """

    @Test("exact origin: a card pasted (Ctrl+V) into chatgpt.com is blocked with the DOM unchanged, the same paste into an intranet page arrives; a sensitive file chosen for upload is taken back, a harmless one passes; an unsanctioned site shows the block page, a monitored one its terms once; every decision reaches the collector with the origin", arguments: [ExtensionBrowser.Kind.chromium, .firefox])
    func extensionEnforces(kind: ExtensionBrowser.Kind) async throws {
        let scenario = try BrowserScenario(kind, policy: Self.policy)
        defer { scenario.stop() }
        let (cluster, x, browser, store, agentID, root) = (scenario.cluster, scenario.x, scenario.browser, scenario.store, scenario.agentID, scenario.cluster.root)
        let (helper, site, devtools) = (browser.helper, browser.site, browser.devtools)
        // A real paste: xclip owns the clipboard, the guard takes it over, Ctrl+V in the page.
        let card = "Zoë's card 4556 7375 8689 9855 exp 12/28"
        try Data(card.utf8).write(to: URL(fileURLWithPath: root + "/card.txt"))
        let owner = try x.client("/usr/bin/xclip", ["-selection", "clipboard", "-quiet", root + "/card.txt"], logPath: root + "/xclip.log")
        defer { owner.kill9() }
        let blocked = try browser.pasteInto("https://chatgpt.com/c/budget-review")
        #expect(blocked.value == "", "the text box stays empty")
        #expect(blocked.pastes == "0", "the page never saw a paste with the card")
        let blockedEvents = try await scenario.arrived(EventType.paste("blocked")) { $0["origin"] == .string("https://chatgpt.com") }
        #expect(blockedEvents[0].data["app"] == .string("chatgpt"))
        #expect(blockedEvents[0].data["identified_by"] == .string("browser_extension"))
        #expect(blockedEvents[0].data["rule"] == .string("no-cards-to-ai"))
        let allowed = try browser.pasteInto("https://intranet.example/wiki")
        let pastes = try await store.events(EventQuery(agent: agentID)).filter { $0.type.hasPrefix("paste.") }.map { "\($0.type) \($0.data)" }
        #expect(allowed.value == card, "an intranet page gets the exact text; pastes: \(pastes)\n\(helper.log)")

        // Guarded content (it may not go to unsanctioned AI) pasted into a site it may go to: the
        // clipboard guard serves and records it; the extension's own look at the same paste in
        // the page does not make it two.
        owner.kill9()
        let osprey = "Project Osprey roadmap, draft 2"
        try Data(osprey.utf8).write(to: URL(fileURLWithPath: root + "/osprey.txt"))
        let ospreyOwner = try x.client("/usr/bin/xclip", ["-selection", "clipboard", "-quiet", root + "/osprey.txt"], logPath: root + "/xclip-osprey.log")
        defer { ospreyOwner.kill9() }
        usleep(500_000)
        #expect(try browser.pasteInto("https://chatgpt.com/c/osprey").value == osprey)
        let served = try await scenario.arrived(EventType.paste("allowed")) { $0["origin"] == .string("https://chatgpt.com") }
        usleep(1_000_000)
        let allowedToChatGPT = try await store.events(EventQuery(type: EventType.paste("allowed"), agent: agentID)).filter { $0.data["origin"] == .string("https://chatgpt.com") }
        #expect(allowedToChatGPT.count == 1, "one paste, one event: \(allowedToChatGPT.map(\.data))")
        #expect(served[0].data["selection"] == .string("CLIPBOARD"), "decided by the clipboard guard")

        // Uploads: a file chosen in a file input of chatgpt.com.
        try devtools.navigate("https://chatgpt.com/")
        try Data("customer card 4556 7375 8689 9855 exp 12/28\n".utf8).write(to: URL(fileURLWithPath: root + "/customers.csv"))
        try Data("meeting notes: nothing to see\n".utf8).write(to: URL(fileURLWithPath: root + "/notes.txt"))
        try devtools.setFiles("#file", [root + "/customers.csv"])
        let uploads = try await scenario.arrived(EventType.upload("blocked"))
        #expect(uploads[0].data["origin"] == .string("https://chatgpt.com"))
        #expect(uploads[0].data["channel"] == .string("upload"))
        #expect(uploads[0].data["rule"] == .string("no-cards-to-ai"))
        usleep(500_000)
        #expect(try devtools.evaluate("document.getElementById('file').files.length") == .number(0), "the chosen file is taken back")
        #expect(try devtools.string("document.body.dataset.files") == "", "the page never saw it")
        try devtools.setFiles("#file", [root + "/notes.txt"])
        usleep(1_500_000)
        #expect(try devtools.string("document.body.dataset.files") == "notes.txt", "a harmless file reaches the page")

        // Sanction states from the collector: DeepSeek unsanctioned, Claude monitored.
        let analyst = ProcessInfo.processInfo.environment.merging([
            "BULWARK_API": cluster.apiURL, "BULWARK_CA": cluster.caPath, "BULWARK_TOKEN": try cluster.apiToken(role: "analyst"),
        ]) { $1 }
        for (app, state) in [("deepseek", "unsanctioned"), ("claude", "monitored")] {
            let set = try run(Binaries.path("bulwark"), ["apps", "set-state", app, state, "--reason", "browser test"], environment: analyst)
            #expect(set.status == 0, "\(set.output)")
        }
        let deadline = Date().addingTimeInterval(30)
        var landed = ""
        while !landed.contains("/blocked.html#") {
            if Date() > deadline { throw TestFailure.timeout("the block page for chat.deepseek.com (at \(landed)):\n\(helper.log)") }
            usleep(500_000)
            landed = try devtools.navigate("https://chat.deepseek.com/a/chat")
        }
        #expect(landed.hasSuffix("/blocked.html#https://chat.deepseek.com/a/chat"))
        if kind == .chromium { #expect(landed.hasPrefix("chrome-extension://gbjfkmfmmaheijbapiinpghlpfialnjn/"), "the id the manifest's key fixes") }
        usleep(500_000)
        #expect(try devtools.string("document.title") == "Blocked: DeepSeek")
        #expect(try devtools.string("document.getElementById('request').textContent") == "Ask for access at https://it.acme.example/ai (helpdesk 4242).")
        // Navigations before the policy arrived may have reached the site; once the rule is in, a
        // navigation never does.
        usleep(1_000_000)
        let asked = site.log.components(separatedBy: "chat.deepseek.com").count
        #expect(try devtools.navigate("https://chat.deepseek.com/a/chat/2").hasSuffix("/blocked.html#https://chat.deepseek.com/a/chat/2"))
        usleep(500_000)
        #expect(site.log.components(separatedBy: "chat.deepseek.com").count == asked, "the blocked site is never asked for anything:\n\(site.log)")

        let terms = try devtools.navigate("https://claude.ai/new")
        #expect(terms.contains("/terms.html#https://claude.ai/new"))
        usleep(500_000)
        #expect(try devtools.string("document.getElementById('terms').textContent") == "Acme's AI rules: no customer data, no code.")
        _ = try devtools.evaluate("document.getElementById('agree').click(); document.getElementById('accept').click()")
        let afterTerms = Date().addingTimeInterval(20)
        while try devtools.string("location.href") != "https://claude.ai/new" {
            if Date() > afterTerms { throw TestFailure.timeout("claude.ai after accepting the terms") }
            usleep(200_000)
        }
        #expect(try devtools.navigate("https://claude.ai/chat/2") == "https://claude.ai/chat/2", "the terms are shown once")

        let navigation = try await scenario.arrived(EventType.browserNavigation, count: 4) { $0["outcome"] != .string("visited") }
        let outcomes = navigation.map { "\($0.data["app"]?.stringValue ?? "?") \($0.data["outcome"]?.stringValue ?? "?")" }
        #expect(outcomes == ["deepseek blocked", "deepseek blocked", "claude terms_shown", "claude terms_accepted"], "each blocked navigation is one event")
        #expect(navigation.allSatisfy { $0.data["user"] == .string("root") && $0.data["browser"] == .string(kind.name) })
        // Discovery without history files: the visits (and the pastes, uploads) put the sites in the inventory.
        _ = try await scenario.arrived(EventType.browserNavigation) { $0["outcome"] == .string("visited") && $0["app"] == .string("chatgpt") }
        let inventory = try await store.inventoryApps(InventoryQuery())
        let chatgpt = try #require(inventory.first { $0.id == "chatgpt" })
        #expect(chatgpt.evidence["browser_extension"] ?? 0 >= 1 && chatgpt.evidence["upload"] ?? 0 >= 1, "\(chatgpt.evidence)")
        let incidents = try await store.incidents(IncidentQuery())
        #expect(incidents.contains { $0.type == EventType.upload("blocked") && $0.file == "customers.csv" && $0.activity == "file_upload" })
    }

    @Test("without the clipboard guard (--no-clipboard) the extension itself holds a Ctrl+V in chatgpt.com: a card is blocked (paste.blocked, selection browser, the origin), harmless text arrives, a warning's in-page dialog takes a reason (warned → overridden); typed prompts: Enter with a card is held and blocked, a harmless prompt goes; with the helper gone it fails open as the policy says", arguments: [ExtensionBrowser.Kind.chromium, .firefox])
    func extensionAlone(kind: ExtensionBrowser.Kind) async throws {
        let scenario = try BrowserScenario(kind, policy: Self.policy, helperArguments: ["--no-clipboard"])
        defer { scenario.stop() }
        let (x, browser, root) = (scenario.x, scenario.browser, scenario.cluster.root)

        func file(_ text: String) throws -> String {
            let file = root + "/clip-\(UUID().uuidString.prefix(6)).txt"
            try Data(text.utf8).write(to: URL(fileURLWithPath: file))
            return file
        }
        func paste(_ text: String, into url: String) throws -> (value: String, pastes: String) {
            let file = try file(text)
            let owner = try x.client("/usr/bin/xclip", ["-selection", "clipboard", "-quiet", file], logPath: file + ".log")
            defer { owner.kill9() }
            usleep(300_000)
            return try browser.pasteInto(url)
        }
        let card = "card 4556 7375 8689 9855 exp 12/28"
        let blocked = try paste(card, into: "https://chatgpt.com/")
        #expect(blocked.value == "" && blocked.pastes == "0", "\(blocked)")
        let events = try await scenario.arrived(EventType.paste("blocked"))
        #expect(events[0].data["selection"] == .string("browser"))
        #expect(events[0].data["target"] == .string("paste"))
        #expect(events[0].data["origin"] == .string("https://chatgpt.com"))
        #expect(events[0].data["identified_by"] == .string("browser_extension"))
        #expect(events[0].data["browser"] == .string(kind.name))

        let harmless = "the quarterly plan looks fine"
        let passed = try paste(harmless, into: "https://chatgpt.com/c/2")
        #expect(passed.value == harmless, "held, checked and handed on: \(passed)")
        #expect(passed.pastes == "1", "the page saw one paste")

        // A warning: the in-page dialog asks why; the reason lets the paste through, recorded.
        let falcon = "Project Falcon budget for Q3"
        let owner = try x.client("/usr/bin/xclip", ["-selection", "clipboard", "-quiet", try file(falcon)], logPath: root + "/xclip-falcon.log")
        defer { owner.kill9() }
        usleep(300_000)
        _ = try browser.pasteInto("https://chatgpt.com/c/4")
        _ = try run("/usr/bin/xdotool", ["type", "--delay", "20", "customer asked for it"], environment: ["DISPLAY": x.display], timeout: 20)
        _ = try run("/usr/bin/xdotool", ["key", "Tab", "Return"], environment: ["DISPLAY": x.display], timeout: 10)
        usleep(1_500_000)
        #expect(try browser.devtools.string("document.getElementById('box').value") == falcon, "handed on after the reason")
        let overridden = try await scenario.arrived(EventType.paste("overridden"))
        let warned = try await scenario.arrived(EventType.paste("warned"))
        #expect(overridden[0].data["justification"] == .string("customer asked for it"))
        #expect(overridden[0].data["incident_id"] == warned[0].data["incident_id"])
        #expect(overridden[0].data["rule"] == .string("confirm-falcon-to-ai"))

        // Typed prompts (browser.typed_prompts): Enter with a card typed in is held and blocked.
        #expect(try browser.devtools.navigate("https://chatgpt.com/c/5") == "https://chatgpt.com/c/5")
        _ = try run("/usr/bin/xdotool", ["mousemove", "--window", try x.window(titled: browser.pageWindowTitle), "300", "300", "click", "1"],
                    environment: ["DISPLAY": x.display], timeout: 10)
        _ = try run("/usr/bin/xdotool", ["type", "--delay", "10", card], environment: ["DISPLAY": x.display], timeout: 20)
        _ = try run("/usr/bin/xdotool", ["key", "Return"], environment: ["DISPLAY": x.display], timeout: 10)
        let prompts = try await scenario.arrived(EventType.paste("blocked")) { $0["target"] == .string("prompt") }
        #expect(prompts[0].data["origin"] == .string("https://chatgpt.com"))
        #expect(try browser.devtools.evaluate("document.body.dataset.sent ?? null") == .null, "the page never got the Enter")
        _ = try run("/usr/bin/xdotool", ["key", "ctrl+a", "BackSpace"], environment: ["DISPLAY": x.display], timeout: 10)
        _ = try run("/usr/bin/xdotool", ["type", "--delay", "10", "what is a good name for a cat"], environment: ["DISPLAY": x.display], timeout: 20)
        _ = try run("/usr/bin/xdotool", ["key", "Return"], environment: ["DISPLAY": x.display], timeout: 10)
        let sentDeadline = Date().addingTimeInterval(10)
        while try browser.devtools.evaluate("document.body.dataset.sent ?? null") == .null {
            if Date() > sentDeadline {
                throw TestFailure.timeout("a harmless prompt reaching the page (box: \(try browser.devtools.string("document.getElementById('box').value")))")
            }
            usleep(200_000)
        }
        #expect(try browser.devtools.string("document.body.dataset.sent") == "what is a good name for a cat")

        // Files a page submits with a form without a file choice the extension saw (set by script).
        #expect(try browser.devtools.navigate("https://chatgpt.com/c/6") == "https://chatgpt.com/c/6")
        _ = try browser.devtools.evaluate("submitWith('cards.txt', 'card 4556 7375 8689 9855 exp 12/28')")
        let submitted = try await scenario.arrived(EventType.upload("blocked")) { $0["files"].map { "\($0)".contains("cards.txt") } == true }
        #expect(submitted[0].data["origin"] == .string("https://chatgpt.com"))
        #expect(try browser.devtools.evaluate("document.getElementById('file').files.length") == .number(0), "taken back")
        #expect(!browser.site.log.contains("POST"), "nothing was sent")
        _ = try browser.devtools.evaluate("submitWith('notes.txt', 'nothing to see')")
        let posted = Date().addingTimeInterval(15)
        while !browser.site.log.contains("POST chatgpt.com /upload") {
            if Date() > posted { throw TestFailure.timeout("the harmless form reaching the site:\n\(browser.site.log)") }
            usleep(200_000)
        }
        if kind == .chromium {
            // A drop (made in the page: Firefox does not show page-made drag data to extensions,
            // while a real drag is the browser's own and is).
            #expect(try browser.devtools.navigate("https://chatgpt.com/c/7") == "https://chatgpt.com/c/7")
            _ = try browser.devtools.evaluate("""
                (() => { const data = new DataTransfer(); data.setData('text/plain', 'card 4556 7375 8689 9855 exp 12/28');
                  document.getElementById('box').dispatchEvent(new DragEvent('drop', {dataTransfer: data, bubbles: true, cancelable: true})); })()
                """)
            let drops = try await scenario.arrived(EventType.paste("blocked")) { $0["target"] == .string("drop") }
            #expect(drops[0].data["origin"] == .string("https://chatgpt.com"))
            #expect(try browser.devtools.string("document.body.dataset.drops") == "0", "the page never saw the drop")
        }

        // bulwark-agent doctor --session sees the connected browser.
        let doctor = try run(Binaries.path("bulwark-agent"), ["doctor", "--session", "--browser-socket", root + "/xdg-runtime/bulwark/browser.sock"],
                             environment: ["DISPLAY": x.display, "HOME": root, "PATH": "/usr/bin:/bin"])
        // ok, or warn when this machine has no system-wide native host for an installed browser (the test installs its own per profile).
        #expect(doctor.stdout.contains("] browser extension: connected: \(kind.name)"), "\(doctor.output)")

        // The helper gone: the extension lets pastes through (without_helper: allow, the default).
        browser.helper.kill9()
        usleep(1_000_000)
        let unchecked = try paste(card, into: "https://chatgpt.com/c/3")
        #expect(unchecked.value == card, "fails open as the policy says: \(unchecked)")
    }
}

/// A collector, an enrolled agent with a session socket, an X server with openbox, and an
/// `ExtensionBrowser` whose helper runs `policy` (installed on the agent) and whose extension
/// has connected.
final class BrowserScenario {
    let cluster: Cluster
    let agent: AgentHandle
    let x: XServer
    let windowManager: ChildProcess
    let browser: ExtensionBrowser
    let store: SQLiteStore
    let agentID: String

    init(_ kind: ExtensionBrowser.Kind, policy: String, helperArguments: [String] = []) throws {
        cluster = try Cluster.started(name: "browser-\(kind.name)-\(UUID().uuidString.prefix(6))")
        let root = cluster.root
        let socket = root + "/run/session.sock"
        agent = try cluster.enrollAgent(configuration: Cluster.fastAgentConfig.replacingOccurrences(of: "session_socket: \"\"", with: "session_socket: \(socket)"))
        try agent.startAndSelftest()
        x = try XServer(directory: root)
        windowManager = try x.windowManager(directory: root)
        browser = try ExtensionBrowser(kind, root: root, x: x, socket: socket, helperArguments: helperArguments)
        try browser.helper.waitForLog("policy 'bulwark-default' from the agent")
        try Data(policy.utf8).write(to: URL(fileURLWithPath: root + "/browser.yaml"))
        let installed = try agent.cli(["policy", "install", root + "/browser.yaml"])
        guard installed.status == 0 else { throw TestFailure.command("policy install: \(installed.output)") }
        try browser.helper.waitForLog("policy 'browser-test' from the agent")
        try browser.helper.waitForLog("browser extension connected: \(kind.name)", timeout: 60)
        store = try cluster.store()
        agentID = try agent.agentID
    }

    func stop() {
        browser.stop()
        windowManager.kill9()
        x.stop()
        killProcesses(mentioning: cluster.root)
        cluster.shutdown()
    }

    /// At least `count` events of `type` (matching) at the collector, within 30 s.
    func arrived(_ type: String, count: Int = 1, where match: @escaping ([String: JSONValue]) -> Bool = { _ in true }) async throws -> [StoredEvent] {
        let deadline = Date().addingTimeInterval(30)
        while true {
            let events = try await store.events(EventQuery(type: type, agent: agentID)).filter { match($0.data) }
            if events.count >= count { return events }
            if Date() > deadline { throw TestFailure.timeout("\(count) × \(type) at the collector:\n\(browser.helper.log)") }
            usleep(200_000)
        }
    }
}

/// A session helper, the HTTPS stand-in for AI sites, and a real browser (Chromium or Firefox
/// ESR, on the X server) with the extension loaded and its native messaging host installed for
/// the user, driven over DevTools (Chromium) or WebDriver BiDi (Firefox).
final class ExtensionBrowser {
    enum Kind: Sendable, CustomTestStringConvertible {
        case chromium, firefox

        /// As the extension names it in its hello.
        var name: String { self == .chromium ? "chromium" : "firefox" }
        var testDescription: String { name }
    }

    let kind: Kind
    let helper: ChildProcess
    let site: ChildProcess
    let browser: ChildProcess
    let devtools: DevTools
    let x: XServer

    static let hosts = ["chatgpt.com", "chat.deepseek.com", "claude.ai", "intranet.example"]

    /// The title of the browser window showing the test page: nothing in it names the AI site.
    var pageWindowTitle: String { kind == .chromium ? "Budget review - Chromium" : "Budget review — Mozilla Firefox" }

    init(_ kind: Kind = .chromium, root: String, x: XServer, socket: String, helperArguments: [String] = []) throws {
        self.kind = kind
        self.x = x
        let runtime = root + "/xdg-runtime"
        try FileManager.default.createDirectory(atPath: runtime, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let session = ["XDG_RUNTIME_DIR": runtime, "XDG_CACHE_HOME": root + "/cache", "HOME": root]
        helper = try x.client(Binaries.path("bulwark-agent"), ["session", "--socket", socket, "--display", x.display] + helperArguments,
                              logPath: root + "/session.log", environment: session)
        // The AI sites (and an intranet page), over HTTPS with a certificate the browser is told to accept.
        let made = try run("/usr/bin/openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", root + "/site.key",
                                                "-out", root + "/site.pem", "-days", "2", "-subj", "/CN=chatgpt.com",
                                                "-addext", "subjectAltName=" + Self.hosts.map { "DNS:" + $0 }.joined(separator: ",")])
        guard made.status == 0 else { throw TestFailure.command("openssl: \(made.output)") }
        // Chromium maps names to any port; Firefox can only send every name to one address, so
        // its sites listen on port 443 of a loopback address of their own.
        let address = kind == .chromium ? "127.0.0.1" : "127.\(Int.random(in: 1...254)).\(Int.random(in: 1...254)).\(Int.random(in: 2...254))"
        site = try ChildProcess("/usr/bin/python3", [DevTools.peers.appendingPathComponent("ai_site.py").path, root + "/site.pem", root + "/site.key",
                                                     address, kind == .chromium ? "0" : "443"], logPath: root + "/site.log")
        try site.waitForLog("listening ")
        guard let port = site.log.split(separator: "\n").first(where: { $0.hasPrefix("listening ") })?.dropFirst("listening ".count) else {
            throw TestFailure.command("no port from ai_site.py")
        }
        // The native messaging host, as the agent package installs it (here for the user).
        let wrapper = root + "/native-host"
        try Data("#!/bin/sh\nexec \(Binaries.path("bulwark-agent")) native-host \"$@\"\n".utf8).write(to: URL(fileURLWithPath: wrapper))
        chmod(wrapper, 0o755)
        let profile = root + "/profile"
        let (manifestName, hostDirectory) = kind == .chromium ? ("chromium.json", profile + "/NativeMessagingHosts") : ("firefox.json", root + "/.mozilla/native-messaging-hosts")
        try FileManager.default.createDirectory(atPath: hostDirectory, withIntermediateDirectories: true)
        let manifest = try String(contentsOfFile: BrowserExtensionTests.extensionDirectory + "/native-host/" + manifestName, encoding: .utf8)
            .replacingOccurrences(of: "/usr/lib/bulwark-agent/native-host", with: wrapper)
        try Data(manifest.utf8).write(to: URL(fileURLWithPath: hostDirectory + "/dev.bulwark.agent.json"))
        // A UTF-8 locale, as desktop sessions have (Firefox's "—" in window titles needs it).
        let environment = ["DISPLAY": x.display, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"].merging(session) { $1 }
        switch kind {
        case .chromium:
            browser = try ChildProcess(
                "/usr/bin/chromium",
                ["--no-sandbox", "--user-data-dir=\(profile)", "--no-first-run", "--no-default-browser-check", "--disable-gpu", "--password-store=basic",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync", "--ignore-certificate-errors",
                 "--remote-debugging-port=0", "--load-extension=\(BrowserExtensionTests.extensionDirectory)",
                 "--host-resolver-rules=" + Self.hosts.map { "MAP \($0) 127.0.0.1:\(port)" }.joined(separator: ", "), "about:blank"],
                logPath: root + "/chromium.log", environment: environment)
            try browser.waitForLog("DevTools listening on ", timeout: 60)
        case .firefox:
            try FileManager.default.createDirectory(atPath: profile, withIntermediateDirectories: true)
            try Data("""
                user_pref("network.dns.forceResolve", "\(address)");
                user_pref("browser.shell.checkDefaultBrowser", false);
                user_pref("datareporting.policy.dataSubmissionEnabled", false);
                user_pref("browser.aboutwelcome.enabled", false);
                user_pref("datareporting.policy.firstRunURL", "");
                user_pref("browser.startup.homepage_override.mstone", "ignore");
                user_pref("startup.homepage_welcome_url", "");
                user_pref("app.update.auto", false);

                """.utf8).write(to: URL(fileURLWithPath: profile + "/user.js"))
            browser = try ChildProcess("/usr/bin/firefox-esr", ["--no-remote", "--profile", profile, "--remote-debugging-port", "0", "about:blank"],
                                       logPath: root + "/firefox.log", environment: environment)
            try browser.waitForLog("WebDriver BiDi listening on ", timeout: 60)
        }
        let log = browser.log
        guard let endpoint = log.split(separator: "\n").compactMap({ line in line.range(of: "ws://").map { String(line[$0.lowerBound...]) } }).first else {
            throw TestFailure.command("no DevTools or BiDi endpoint in the browser's log")
        }
        devtools = try kind == .chromium
            ? DevTools(endpoint: endpoint, logPath: root + "/devtools.log")
            : DevTools(driver: "bidi.py", arguments: [endpoint, BrowserExtensionTests.extensionDirectory], logPath: root + "/bidi.log")
    }

    func stop() {
        devtools.stop()
        browser.killGroup()
        site.kill9()
        helper.kill9()
    }

    /// Loads `url`, clicks into its text box (which fills most of the page, so the keys go to
    /// the page and not the address bar), presses Ctrl+V and reads what the page got.
    func pasteInto(_ url: String) throws -> (value: String, pastes: String) {
        let landed = try devtools.navigate(url)
        guard landed == url else { throw TestFailure.command("\(url) landed at \(landed)") }
        let window = try x.window(titled: pageWindowTitle, timeout: 30) {
            let ids = (try? run("/usr/bin/xdotool", ["search", "--name", "."], environment: ["DISPLAY": self.x.display], timeout: 10).stdout) ?? ""
            let names = ids.split(separator: "\n").compactMap { id in
                try? run("/usr/bin/xdotool", ["getwindowname", String(id)], environment: ["DISPLAY": self.x.display], timeout: 10).stdout
            }
            return "windows: \(names)\n" + self.browser.log
        }
        try x.activate(window)
        _ = try run("/usr/bin/xdotool", ["mousemove", "--window", window, "300", "300", "click", "1"], environment: ["DISPLAY": x.display], timeout: 10)
        usleep(500_000)  // the extension reports the front tab's origin
        _ = try run("/usr/bin/xdotool", ["key", "--clearmodifiers", "ctrl+v"], environment: ["DISPLAY": x.display], timeout: 10)
        usleep(1_500_000)
        return (try devtools.string("document.getElementById('box').value"), try devtools.string("document.body.dataset.pastes"))
    }
}
