import Foundation

/// What `bulwark-agent doctor` checks in a user's session: can the clipboard be guarded on this
/// display server, will the user be told about refused pastes, can a warning be overridden with
/// a reason, and is the agent there. Each check says what it found and what to do.
public struct SessionDoctor: Sendable {
    public typealias Check = DoctorCheck

    public var environment: [String: String]
    public var socketPath: String
    /// The session helper's browser socket (default: `BrowserBridge.defaultPath`).
    public var browserSocketPath: String

    public init(socketPath: String, browserSocketPath: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.socketPath = socketPath
        self.environment = environment
        self.browserSocketPath = browserSocketPath ?? BrowserBridge.defaultPath(environment: environment)
    }

    public func run() -> [Check] {
        clipboardChecks() + [notifications(), justification(), agent(), browserExtensions()]
    }

    /// Whether browser extensions reach this user's helper, and which browsers lack the native host.
    func browserExtensions() -> Check {
        let missingHosts = BrowserBridge.nativeHostGaps(home: environment["HOME"] ?? NSHomeDirectory())
        let hostNote = missingHosts.isEmpty ? "" : "; no native messaging host for \(missingHosts.joined(separator: ", ")) (install the bulwark-agent package)"
        switch BrowserBridge.status(socketPath: browserSocketPath) {
        case .failure(let reason):
            return Check(name: "browser extension", status: .warning,
                         detail: "\(reason): the session helper is not taking browser extensions, so browsers fall back to window titles\(hostNote)")
        case .success(let browsers) where browsers.isEmpty:
            return Check(name: "browser extension", status: .warning,
                         detail: "no browser extension connected to \(browserSocketPath): force-install it (docs/BROWSER.md) or start the browser\(hostNote)")
        case .success(let browsers):
            return Check(name: "browser extension", status: missingHosts.isEmpty ? .ok : .warning,
                         detail: "connected: \(browsers.joined(separator: ", "))\(hostNote)")
        }
    }

    func clipboardChecks() -> [Check] {
        var checks: [Check] = []
        let x11Display = environment["DISPLAY"].flatMap { $0.isEmpty ? nil : $0 }
        if let wayland = environment["WAYLAND_DISPLAY"], !wayland.isEmpty {
            do {
                let watcher = try WaylandClipboardWatcher(displayName: wayland)
                watcher.stop()
                checks.append(Check(name: "wayland clipboard", status: .ok, detail: "\(wayland): data-control available; native Wayland apps are guarded"))
            } catch WaylandClipboardWatcher.Failure.noDataControl(let compositor) {
                checks.append(Check(
                    name: "wayland clipboard", status: .failure,
                    detail: "\(wayland): the compositor (\(compositor)) offers no data-control protocol, so copies and pastes of native Wayland apps "
                        + "cannot be guarded (GNOME). X11 apps under XWayland are guarded through \(x11Display ?? "DISPLAY (not set)"); for browsers "
                        + "install the Bulwark browser extension; see docs/CLIPBOARD.md"))
            } catch {
                checks.append(Check(name: "wayland clipboard", status: .failure, detail: "\(wayland): \(error)"))
            }
        }
        if let x11Display {
            do {
                let watcher = try X11ClipboardWatcher(displayName: x11Display)
                let identifies = watcher.canIdentifyClients
                watcher.stop()
                checks.append(identifies
                    ? Check(name: "x11 clipboard", status: .ok, detail: "\(x11Display): XFixes and X-Resource available; X11 apps are guarded")
                    : Check(name: "x11 clipboard", status: .warning,
                            detail: "\(x11Display): XFixes available, but not X-Resource (libXRes): pasting programs cannot be identified, "
                                + "so every paste counts as going to an unknown app; install libxres1"))
            } catch {
                checks.append(Check(name: "x11 clipboard", status: .failure, detail: "\(x11Display): \(error)"))
            }
        }
        if checks.isEmpty {
            checks.append(Check(name: "clipboard", status: .failure, detail: "neither WAYLAND_DISPLAY nor DISPLAY is set: no graphical session to guard"))
        }
        return checks
    }

    func notifications() -> Check {
        do {
            let server = try DesktopNotifier.serverInformation(busAddress: DBusConnection.sessionBusAddress(environment: environment))
            let actions = server.capabilities.contains("actions")
            return Check(
                name: "notifications", status: actions ? .ok : .warning,
                detail: "\(server.name) \(server.version) (\(server.capabilities.sorted().joined(separator: ", ")))"
                    + (actions ? "" : ": no actions, so warnings cannot be overridden from the notification and stay refused"))
        } catch {
            let fallback = findProgram("notify-send") != nil ? "notify-send will be used (no actions: warnings stay refused)" : "the user will not be told"
            return Check(name: "notifications", status: .warning, detail: "no notification server (\(error)); \(fallback)")
        }
    }

    func justification() -> Check {
        if let dialog = ["zenity", "kdialog", "yad"].first(where: { findProgram($0) != nil }) {
            return Check(name: "override reason", status: .ok, detail: "asked with \(dialog) (or typed into the notification where the server supports inline replies)")
        }
        return Check(
            name: "override reason", status: .warning,
            detail: "no zenity, kdialog or yad: unless the notification server supports inline replies, \"Paste anyway\" is recorded without a reason")
    }

    func agent() -> Check {
        switch SessionClient.probe(socketPath: socketPath) {
        case .success(let policy): Check(name: "agent", status: .ok, detail: "\(socketPath): policy '\(policy)'")
        case .failure(let failure):
            Check(name: "agent", status: .warning, detail: "\(failure); the helper enforces its cached policy and keeps events in memory until the agent is back")
        }
    }

    private func findProgram(_ name: String) -> String? { ProgramSearch.find(name, in: environment["PATH"]) }
}
