import ArgumentParser
import BulwarkAgent
import BulwarkCore
import Foundation

struct SessionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "session",
        abstract: "Run as the logged-in user: guard the user's clipboard with the agent's policy and send the events to the agent.")
    @Option(help: "The agent's session socket.") var socket = "/run/bulwark-agent/session.sock"
    @OptionGroup var displayOptions: DisplayOptions
    @Option(help: "Where browser extensions reach this helper (through `bulwark-agent native-host`); default $XDG_RUNTIME_DIR/bulwark/browser.sock; 'none' for no browser bridge.")
    var browserSocket: String?
    @Flag(help: "Do not guard the clipboard: enforce in browsers through the extension only.") var noClipboard = false

    /// The last policy and catalog the agent sent, so the helper enforces them even when the
    /// agent is down.
    static var cacheDirectory: String {
        let base = ProcessInfo.processInfo.environment["XDG_CACHE_HOME"] ?? (NSHomeDirectory() as NSString).appendingPathComponent(".cache")
        return (base as NSString).appendingPathComponent("bulwark")
    }
    static var cachePath: String { (cacheDirectory as NSString).appendingPathComponent("policy.yaml") }
    static var catalogCachePath: String { (cacheDirectory as NSString).appendingPathComponent("catalog.json") }
    /// When this user accepted each monitored AI site's terms.
    static var termsAcceptancePath: String { (cacheDirectory as NSString).appendingPathComponent("terms-accepted.json") }

    func run() async throws {
        let user = ProcessInfo.processInfo.environment["USER"]
        let cached = (try? PolicyParser.load(path: Self.cachePath)) ?? DefaultPolicy.policy()
        // The session helper has no deployment key (a user process must not hold it), so its
        // events carry no keyed hashes, and it applies the policy's inline classifiers
        // (keywords, regex) but not those backed by the agent's files (EDM, fingerprints).
        let clientBox = ClientBox()
        let bridgeBox = BridgeBox()
        let cachedCatalog = (try? Data(contentsOf: URL(fileURLWithPath: Self.catalogCachePath)))
            .flatMap { try? JSONDecoder().decode([AIApp].self, from: $0) }.map { AIAppCatalog(apps: $0) } ?? AIAppCatalog()
        let notifier = DesktopNotifier()
        let browserFocus = BrowserFocus()
        let servedToBrowsers = ServedPasteLedger()
        // One policy for the clipboard guard and the browser guard: each push reaches both.
        let enforced = SessionPolicy(policy: cached, classifier: Self.classifier(for: cached), catalog: cachedCatalog)
        let guardian = ClipboardGuard(
            policy: enforced, keyedHash: nil, user: user, notifier: notifier, browserFocus: browserFocus, servedToBrowsers: servedToBrowsers
        ) { type, data in
            clientBox.client?.send(type: type, data: data)
        }
        // Browser extensions (native messaging → this helper): exact sites, in-page checks.
        let browserGuard = BrowserGuard(
            policy: enforced, user: user, acceptancePath: Self.termsAcceptancePath, servedByClipboardGuard: servedToBrowsers
        ) { type, data in
            clientBox.client?.send(type: type, data: data)
        }
        var bridge: BrowserBridge?
        if browserSocket != "none" {
            let candidate = BrowserBridge(path: browserSocket ?? BrowserBridge.defaultPath(), guard: browserGuard, focus: browserFocus) { line in
                FileHandle.standardError.write(Data((line + "\n").utf8))
            }
            do {
                try candidate.start()
                bridge = candidate
                FileHandle.standardError.write(Data("browser extensions connect at \(candidate.path)\n".utf8))
            } catch {
                FileHandle.standardError.write(Data("browser extensions cannot connect: \(error)\n".utf8))
            }
        }
        defer { bridge?.stop() }
        let focus = FocusTracker(catalog: cachedCatalog, user: user) { type, data in clientBox.client?.send(type: type, data: data) }
        let cachePath = Self.cachePath
        let catalogCachePath = Self.catalogCachePath
        // What the agent stopped outside the clipboard (an AI tool reading a file, starting).
        let client = SessionClient(socketPath: socket, onNotice: { notice in notifier.show(notice) { _ in } }) { push in
            guard let policy = (try? PolicyParser(source: "agent policy").parse(push.yaml))?.granting(push.exceptions ?? []) else {
                FileHandle.standardError.write(Data("policy '\(push.name)' from the agent does not parse; keeping the one in force\n".utf8))
                return
            }
            enforced.update(policy: policy, classifier: Self.classifier(for: policy))
            try? FileManager.default.createDirectory(atPath: (cachePath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try? Data(push.yaml.utf8).write(to: URL(fileURLWithPath: cachePath), options: .atomic)
            if let states = push.appStates { enforced.update(appStates: states) }
            enforced.update(userRisk: user.flatMap { push.userRisk?[$0] } ?? .low)
            if let apps = push.catalog, !apps.isEmpty {
                enforced.update(catalog: AIAppCatalog(apps: apps))
                focus.update(catalog: AIAppCatalog(apps: apps))
                try? JSONEncoder().encode(apps).write(to: URL(fileURLWithPath: catalogCachePath), options: .atomic)
            }
            bridgeBox.bridge?.broadcastConfig()
            FileHandle.standardError.write(Data("policy '\(push.name)' from the agent\n".utf8))
        }
        clientBox.client = client
        bridgeBox.bridge = bridge
        focus.onFocus = { app in client.focused(app: app) }
        // Logging out or `systemctl --user stop` sends SIGTERM: the current stretch in an AI app
        // and queued events still reach the agent (within 2 s) before the helper exits.
        let signals = TerminationSignals {
            focus.flush()
            client.drain(timeout: .seconds(2))
            client.stop()
        }
        defer { signals.retain() }
        // Events of the first moments queue in the client until it has connected.
        if noClipboard {
            client.start(clipboard: "not guarded (--no-clipboard)")
            FileHandle.standardError.write(Data("session helper for \(user ?? "this user"): browser extensions only, the clipboard is not guarded\n".utf8))
            while !Task.isCancelled { try await Task.sleep(for: .seconds(3600)) }
        } else {
            let (watcher, described) = try displayOptions.open(guarding: guardian, focus: focus)
            client.start(clipboard: described)
            FileHandle.standardError.write(Data("session helper guarding the clipboard of \(user ?? "this user") on \(described)\n".utf8))
            for await _ in watcher.contents() {}
            focus.flush()  // the last stretch in an AI app counts too
        }
        client.stop()
    }

    /// The built-in types plus the policy's inline custom classifiers.
    static func classifier(for policy: Policy) -> ContentClassifier {
        let inline = policy.classifiers.filter { definition in
            switch definition.kind {
            case .keywords, .regex: true
            case .edm, .fingerprint: false
            }
        }
        return ContentClassifier(custom: (try? CustomClassifiers.load(inline, directory: "/", keyedHash: nil)) ?? .none)
    }

    /// Lets the agent's policy pushes reach the bridge started after the client is made.
    final class BridgeBox: @unchecked Sendable {
        // Set once before the client starts; read afterwards.
        var bridge: BrowserBridge?
    }

    /// Lets the guard's recorder reach the client created after it.
    final class ClientBox: @unchecked Sendable {
        // Set once before the watcher starts; read afterwards.
        var client: SessionClient?
    }
}
