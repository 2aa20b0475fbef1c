import BulwarkCore
import CBulwarkLinux
import Foundation

/// The session helper's end of the browser extensions' native messaging: a Unix socket in the
/// user's runtime directory (0700 directory, 0600 socket, and the kernel's word that the peer
/// is this user) that `bulwark-agent native-host` relays to. Each connection is one browser:
/// it gets `config` at once and again whenever the policy, catalog or sanction states change,
/// reports its focused tab, and asks `BrowserGuard` for verdicts (docs/BROWSER.md).
public final class BrowserBridge: @unchecked Sendable {
    // `connections` and `stopped` are shared between the accept and connection threads, behind `lock`.

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public let path: String
    private let browserGuard: BrowserGuard
    private let focus: BrowserFocus
    private let log: @Sendable (String) -> Void
    private let lock = NSLock()
    private let writeLock = NSLock()
    private var listener: Int32 = -1
    private var connections: [Int32: String] = [:]  // → browser name (after hello)
    private var stopped = false

    /// `$XDG_RUNTIME_DIR/bulwark/browser.sock` (`/run/user/UID/…` without it).
    public static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let runtime = environment["XDG_RUNTIME_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/run/user/\(getuid())"
        return runtime + "/bulwark/browser.sock"
    }

    public init(path: String, guard browserGuard: BrowserGuard, focus: BrowserFocus, log: @escaping @Sendable (String) -> Void) {
        self.path = path
        self.browserGuard = browserGuard
        self.focus = focus
        self.log = log
    }

    public func start() throws {
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        chmod(directory, 0o700)
        // The directory is the user's alone (0700), so the socket is never reachable by others.
        let descriptor: Int32
        do { descriptor = try listenOnUnixSocket(path, mode: 0o600, backlog: 8, what: "browser socket") } catch { throw Failure(description: error.description) }
        lock.withLock { listener = descriptor }
        let thread = Thread { [self] in acceptLoop(descriptor) }
        thread.name = "bulwark-browser-accept"
        thread.start()
    }

    public func stop() {
        let (listening, open) = lock.withLock { () -> (Int32, [Int32]) in
            stopped = true
            defer { listener = -1 }
            return (listener, Array(connections.keys))
        }
        if listening >= 0 {
            shutdown(listening, Int32(SHUT_RDWR))
            close(listening)
        }
        for connection in open { shutdown(connection, Int32(SHUT_RDWR)) }
        unlink(path)
    }

    /// Sends every connected browser the current `config` (after a policy, catalog or sanction change).
    public func broadcastConfig() {
        let targets = lock.withLock { connections.filter { !$0.value.isEmpty }.map(\.key) }
        let config = JSONValue.object(browserGuard.config())
        for connection in targets { send(config, to: connection) }
    }

    /// Browsers connected (after their hello), by name.
    public var connectedBrowsers: [String] { lock.withLock { connections.values.filter { !$0.isEmpty }.sorted() } }

    private func acceptLoop(_ descriptor: Int32) {
        while true {
            let connection = accept(descriptor, nil, nil)
            if connection < 0 {
                if errno == EINTR { continue }
                return
            }
            _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
            var timeout = timeval(tv_sec: 2, tv_usec: 0)
            setsockopt(connection, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let accepted = lock.withLock { () -> Bool in
                guard !stopped else { return false }
                connections[connection] = ""
                return true
            }
            guard accepted else {
                close(connection)
                return
            }
            let thread = Thread { [self] in
                serve(connection)
                focus.forget(connection: connection)
                lock.withLock { _ = connections.removeValue(forKey: connection) }
                close(connection)
            }
            thread.name = "bulwark-browser"
            thread.start()
        }
    }

    private func send(_ message: JSONValue, to connection: Int32) {
        let body = Data(message.jsonText.utf8)
        _ = writeLock.withLock { NativeMessageFrame.write(body, to: connection) }
    }

    private func serve(_ connection: Int32) {
        var pid: pid_t = 0, uid: uid_t = 0, gid: gid_t = 0
        guard cbulwark_peer_credentials(connection, &pid, &uid, &gid) == 0 else { return }
        // The socket is the user's own (0600 in a 0700 directory); the kernel confirms it.
        guard uid == getuid() else {
            log("browser bridge refused pid \(pid): uid \(uid) is not this session's user (uid \(getuid()))")
            return
        }
        focus.register(connection: connection, browserPIDs: Self.browserProcess(ofHost: pid))
        var browser = "unknown"
        while true {
            let body: Data
            do { body = try NativeMessageFrame.read(from: connection) } catch {
                if case .closed = error {} else { log("browser connection dropped: \(error)") }
                break
            }
            guard case .object(let message)? = try? JSONReader.parse(String(decoding: body, as: UTF8.self)),
                  let type = message["type"]?.stringValue
            else {
                log("browser sent something that is not a message (\(body.count) bytes); ignored")
                continue
            }
            switch type {
            case "hello":
                browser = message["browser"]?.stringValue.map { String($0.prefix(32)) } ?? "unknown"
                lock.withLock { connections[connection] = browser }
                log("browser extension connected: \(browser) \(message["version"]?.stringValue ?? "")")
                send(.object(browserGuard.config()), to: connection)
            case "status":  // bulwark-agent doctor --session
                send(.object(["type": .string("status"), "browsers": .array(connectedBrowsers.map(JSONValue.string))]), to: connection)
            case "focus":
                focus.report(connection: connection, origin: message["origin"]?.stringValue)
            case "check":
                do {
                    let check = try JSONDecoder().decode(BrowserGuard.Check.self, from: body)
                    send(.object(browserGuard.decide(check, browser: browser)), to: connection)
                } catch {
                    log("browser check not understood: \(error)")
                    if let id = message["id"] {
                        send(.object(["type": .string("verdict"), "id": id, "action": .string("error"), "message": .string("Bulwark could not read this request.")]), to: connection)
                    }
                }
            case "override":
                let incident = message["incident_id"]?.stringValue ?? ""
                if !browserGuard.override(incidentID: incident, justification: message["justification"]?.stringValue ?? "") {
                    log("override for \(incident.isEmpty ? "no incident" : incident) refused: not a warning this helper gave (or it expired)")
                }
            case "navigation":
                let raw = message["outcome"]?.stringValue ?? ""
                guard let origin = message["origin"]?.stringValue, let outcome = BrowserGuard.NavigationOutcome(rawValue: raw) else {
                    log("browser sent a navigation without an origin or with an unknown outcome '\(raw.prefix(40))'; ignored")
                    break
                }
                if browserGuard.navigation(origin: origin, outcome: outcome, browser: browser) { broadcastConfig() }
            default:
                log("browser sent an unknown message type '\(type.prefix(40))'; ignored")
            }
        }
        if browser != "unknown" { log("browser extension disconnected: \(browser)") }
    }

    /// The browser a native host speaks for: its parent (browsers start hosts themselves), or
    /// the parent's parent when a shell stands between (a wrapper script without `exec`). Never
    /// further up: whatever started the browser (a terminal, the session) is not the browser.
    static func browserProcess(ofHost pid: pid_t) -> Set<pid_t> {
        let chain = ProcessLineage.ancestors(of: pid, limit: 2)
        guard let parent = chain.first else { return [] }
        let shells: Set<String> = ["sh", "dash", "bash", "zsh"]
        if let program = ProcessLineage.executablePath(of: parent).map({ ($0 as NSString).lastPathComponent }), shells.contains(program), chain.count > 1 {
            return [parent, chain[1]]
        }
        return [parent]
    }

    /// The browsers connected to the helper listening at `socketPath`, or why it cannot be asked.
    public static func status(socketPath: String) -> Result<[String], StatusFailure> {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return .failure(StatusFailure(description: "cannot create a socket")) }
        defer { close(descriptor) }
        var timeout = timeval(tv_sec: 3, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard withUnixAddress(socketPath, { connect(descriptor, $0, $1) }) == 0 else {
            return .failure(StatusFailure(description: "\(socketPath): \(String(cString: strerror(errno)))"))
        }
        guard NativeMessageFrame.write(Data(#"{"type":"status"}"#.utf8), to: descriptor),
              let answer = try? NativeMessageFrame.read(from: descriptor),
              case .object(let status)? = try? JSONReader.parse(String(decoding: answer, as: UTF8.self)),
              case .array(let browsers)? = status["browsers"]
        else { return .failure(StatusFailure(description: "\(socketPath): the helper did not answer")) }
        return .success(browsers.compactMap(\.stringValue))
    }

    public struct StatusFailure: Error, Equatable, CustomStringConvertible {
        public var description: String
    }

    /// Browsers installed here (by their program) with no native messaging host manifest for
    /// the extension, system-wide or in `home`.
    public static func nativeHostGaps(home: String, fileManager: FileManager = .default) -> [String] {
        let name = "dev.bulwark.agent.json"
        let browsers: [(browser: String, programs: [String], directories: [String])] = [
            ("Chromium", ["/usr/bin/chromium"], ["/etc/chromium/native-messaging-hosts", home + "/.config/chromium/NativeMessagingHosts"]),
            ("Chrome", ["/usr/bin/google-chrome", "/opt/google/chrome/chrome"],
             ["/etc/opt/chrome/native-messaging-hosts", home + "/.config/google-chrome/NativeMessagingHosts"]),
            ("Brave", ["/usr/bin/brave-browser", "/opt/brave.com/brave/brave"],
             ["/etc/opt/brave/native-messaging-hosts", "/etc/opt/chrome/native-messaging-hosts", "/etc/chromium/native-messaging-hosts",
              home + "/.config/BraveSoftware/Brave-Browser/NativeMessagingHosts"]),
            ("Edge", ["/usr/bin/microsoft-edge", "/opt/microsoft/msedge/msedge"],
             ["/etc/opt/edge/native-messaging-hosts", home + "/.config/microsoft-edge/NativeMessagingHosts"]),
            ("Firefox", ["/usr/bin/firefox", "/usr/bin/firefox-esr"],
             ["/usr/lib/mozilla/native-messaging-hosts", home + "/.mozilla/native-messaging-hosts"]),
        ]
        return browsers.filter { browser in
            browser.programs.contains { fileManager.isExecutableFile(atPath: $0) }
                && !browser.directories.contains { fileManager.fileExists(atPath: $0 + "/" + name) }
        }.map(\.browser)
    }
}
