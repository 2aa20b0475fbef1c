import Foundation

/// DLP notices as desktop notifications (org.freedesktop.Notifications on the user's session
/// bus), with "Paste anyway" / "Cancel" actions on warnings where the server supports actions,
/// and KDE's inline reply for the justification where offered. Falls back to `notify-send`
/// when there is no bus or no notification server (then warnings cannot be answered: fail
/// closed, the paste stays refused).
///
/// Throttled: a retry storm (the same destination, rule and kind within `throttle`) shows one
/// notification.
public final class DesktopNotifier: UserNotifier, @unchecked Sendable {
    // Everything mutable is behind `lock`; D-Bus work runs on `queue`, never on the caller's
    // (paste-path) thread.

    static let service = "org.freedesktop.Notifications"
    static let path = "/org/freedesktop/Notifications"
    static let overrideAction = "paste-anyway"
    static let cancelAction = "cancel"
    static let inlineReplyAction = "inline-reply"

    private let busAddress: String?
    private let prompt: JustificationPrompt
    private let throttle: Duration
    private let warningTimeout: Duration
    private let queue = DispatchQueue(label: "bulwark-notifier")
    private let lock = NSLock()
    private var connection: DBusConnection?
    /// The notification server's unique bus name: only it may answer (a signal from anyone
    /// else is ignored, so another program on the bus cannot forge "Paste anyway").
    private var server: String?
    private var capabilities: Set<String> = []
    private var waiting: [UInt32: (notice: DLPNotice, respond: @Sendable (NoticeResponse) -> Void)] = [:]
    private var lastShown: [String: ContinuousClock.Instant] = [:]
    /// Notices the throttle held back (for diagnostics).
    public private(set) var suppressed = 0

    /// - Parameters:
    ///   - busAddress: the session bus (default: `DBusConnection.sessionBusAddress()`).
    ///   - throttle: one notification per destination, rule and kind within this time.
    ///   - warningTimeout: how long a warning stays up waiting for an answer.
    public init(
        busAddress: String? = DBusConnection.sessionBusAddress(), prompt: JustificationPrompt = JustificationPrompt(),
        throttle: Duration = .seconds(10), warningTimeout: Duration = .seconds(120)
    ) {
        self.busAddress = busAddress
        self.prompt = prompt
        self.throttle = throttle
        self.warningTimeout = warningTimeout
    }

    public func show(_ notice: DLPNotice, respond: @escaping @Sendable (NoticeResponse) -> Void) {
        let key = "\(notice.kind.rawValue)|\(notice.destination)|\(notice.rule ?? "")"
        let now = ContinuousClock.now
        let allowed = lock.withLock { () -> Bool in
            if let last = lastShown[key], now - last < throttle {
                suppressed += 1
                return false
            }
            lastShown[key] = now
            lastShown = lastShown.filter { now - $0.value < throttle }
            return true
        }
        guard allowed else { return }
        queue.async { [self] in deliver(notice, respond: respond) }
    }

    /// The notification server on the bus: its name, version and capabilities (`actions`,
    /// `inline-reply`, `body-markup`...), or why there is none.
    public static func serverInformation(busAddress: String?) throws(DBusConnection.Failure) -> (name: String, version: String, capabilities: [String]) {
        guard let busAddress else { throw .noAddress }
        let connection = try DBusConnection(address: busAddress)
        defer { connection.disconnect() }
        let information = try connection.call(.methodCall(destination: service, path: path, interface: service, member: "GetServerInformation"))
        let capabilities = try connection.call(.methodCall(destination: service, path: path, interface: service, member: "GetCapabilities"))
        var list: [String] = []
        if case .array(_, let values)? = capabilities.body.first { list = values.compactMap(\.stringValue) }
        return (information.body.first?.stringValue ?? "?", information.body.count > 2 ? information.body[2].stringValue ?? "?" : "?", list)
    }


    // MARK: Delivery (on `queue`)

    private func deliver(_ notice: DLPNotice, respond: @escaping @Sendable (NoticeResponse) -> Void) {
        do {
            let connection = try connected()
            let capabilities = lock.withLock { self.capabilities }
            var actions: [String] = []
            if notice.kind == .warned, capabilities.contains("actions") {
                if capabilities.contains("inline-reply") {
                    actions += [Self.inlineReplyAction, "Paste anyway (type the reason)"]
                } else {
                    actions += [Self.overrideAction, "Paste anyway…"]
                }
                actions += [Self.cancelAction, "Cancel"]
            }
            let markup = capabilities.contains("body-markup")
            let body = markup ? Self.escapeMarkup(notice.body) : notice.body
            let timeout = notice.kind == .warned ? Int32(warningTimeout.components.seconds * 1000) : -1
            let hints = DBusValue.variantDictionary([
                ("urgency", .byte(notice.kind == .blocked ? 2 : 1)),
                ("category", .string("device")),
                ("desktop-entry", .string("bulwark-session")),
                ("x-bulwark-incident", .string(notice.incidentID)),
            ])
            let reply = try connection.call(
                .methodCall(
                    destination: Self.service, path: Self.path, interface: Self.service, member: "Notify",
                    body: [
                        .string("Bulwark"), .uint32(0), .string(notice.kind == .blocked ? "dialog-error" : "dialog-warning"), .string(notice.summary),
                        .string(body), .stringArray(actions), hints, .int32(timeout),
                    ]))
            guard let id = reply.body.first?.uint32Value else { throw DBusConnection.Failure.remote(name: "Notify", message: "no notification id") }
            lock.withLock {
                if server == nil { server = reply.sender }
            }
            if actions.isEmpty {
                if notice.kind == .warned { respond(.dismissed) }  // nothing to click: stays refused
            } else {
                lock.withLock { waiting[id] = (notice, respond) }
            }
        } catch {
            lock.withLock {
                connection?.disconnect()
                connection = nil
                server = nil
            }
            fallback(notice)
            if notice.kind == .warned { respond(.dismissed) }
        }
    }

    private func connected() throws(DBusConnection.Failure) -> DBusConnection {
        if let existing = lock.withLock({ self.connection }), !existing.isClosed { return existing }
        guard let busAddress else { throw .noAddress }
        let connection = try DBusConnection(address: busAddress)
        connection.setMessageHandler { [weak self] message in self?.received(message) }
        try connection.addMatch("type='signal',interface='\(Self.service)',path='\(Self.path)'")
        let reply = try connection.call(.methodCall(destination: Self.service, path: Self.path, interface: Self.service, member: "GetCapabilities"))
        var capabilities: Set<String> = []
        if case .array(_, let values)? = reply.body.first { capabilities = Set(values.compactMap(\.stringValue)) }
        lock.withLock {
            self.connection = connection
            self.capabilities = capabilities
            server = reply.sender
        }
        return connection
    }

    /// A signal from the notification server (reader thread): the user's answer.
    private func received(_ message: DBusMessage) {
        guard message.kind == .signal, message.interface == Self.service, let id = message.body.first?.uint32Value else { return }
        let entry = lock.withLock { () -> (notice: DLPNotice, respond: @Sendable (NoticeResponse) -> Void)? in
            guard message.sender != nil, message.sender == server else { return nil }
            switch message.member {
            case "ActionInvoked", "NotificationReplied", "NotificationClosed": return waiting.removeValue(forKey: id)
            default: return nil
            }
        }
        guard let entry else { return }
        let argument = message.body.count > 1 ? message.body[1].stringValue : nil
        switch message.member {
        case "ActionInvoked" where argument == Self.overrideAction:
            // The prompt waits for the user: not on the bus's reader thread.
            let prompt = self.prompt
            Thread.detachNewThread {
                entry.respond(prompt.ask(entry.notice).map { .override(justification: $0) } ?? .cancelled)
            }
        case "ActionInvoked" where argument == Self.inlineReplyAction:
            lock.withLock { waiting[id] = entry }  // the reply itself follows in NotificationReplied
        case "NotificationReplied":
            let text = (argument ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            entry.respond(text.isEmpty ? .cancelled : .override(justification: String(text.prefix(1024))))
        case "ActionInvoked":
            entry.respond(.cancelled)
        default:
            entry.respond(.dismissed)
        }
    }

    /// No notification server: `notify-send`, if installed (no actions, so a warning stays a
    /// refusal), else nothing but the event the agent records.
    private func fallback(_ notice: DLPNotice) {
        guard let program = ProgramSearch.find("notify-send", in: ProcessInfo.processInfo.environment["PATH"]) else { return }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = ["--app-name=Bulwark", "--urgency=\(notice.kind == .blocked ? "critical" : "normal")", notice.summary, notice.body]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try? process.run()
    }

    /// Servers with `body-markup` read a subset of HTML: our text must not be taken for tags.
    static func escapeMarkup(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
