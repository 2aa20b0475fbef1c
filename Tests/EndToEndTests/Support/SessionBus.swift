import BulwarkAgent
import Foundation

/// A real D-Bus session bus (`dbus-daemon --session`) on a socket of its own.
final class SessionBus: @unchecked Sendable {
    let address: String
    private let daemon: ChildProcess

    init(directory: String) throws {
        let socket = directory + "/bus-\(UUID().uuidString.prefix(8))"
        daemon = try ChildProcess(
            "/usr/bin/dbus-daemon", ["--session", "--nofork", "--print-address=1", "--address=unix:path=\(socket)"],
            logPath: directory + "/dbus-daemon.log")
        let deadline = Date().addingTimeInterval(15)
        var printed: String?
        while printed == nil {
            printed = daemon.log.split(separator: "\n").first { $0.hasPrefix("unix:") }.map(String.init)
            if printed != nil { break }
            if !daemon.isRunning { throw TestFailure.command("dbus-daemon exited:\n\(daemon.log)") }
            if Date() > deadline { throw TestFailure.timeout("dbus-daemon printing its address") }
            usleep(20_000)
        }
        address = printed ?? ""
    }

    func stop() { daemon.kill9() }
}

/// A notification server (org.freedesktop.Notifications) on a real session bus that records
/// what it is asked to show and sends the signals a user's click or reply would.
final class TestNotificationServer: @unchecked Sendable {
    struct Shown: Sendable {
        var id: UInt32
        var appName: String
        var summary: String
        var body: String
        var actions: [String]
        var hints: [String: DBusValue]
    }

    let connection: DBusConnection
    private let lock = NSLock()
    private var shown: [Shown] = []
    private var nextID: UInt32 = 1

    init(address: String, capabilities: [String]) throws {
        connection = try DBusConnection(address: address)
        let capabilityList = capabilities
        connection.setMessageHandler { [weak self] message in self?.handle(message, capabilities: capabilityList) }
        let reply = try connection.call(
            .methodCall(
                destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus", member: "RequestName",
                body: [.string("org.freedesktop.Notifications"), .uint32(4)]))  // DO_NOT_QUEUE
        guard reply.body.first == .uint32(1) else { throw TestFailure.command("could not own org.freedesktop.Notifications: \(reply.body)") }
    }

    var notifications: [Shown] { lock.withLock { shown } }

    func stop() { connection.disconnect() }

    /// What a click on the action `key` of notification `id` makes the server emit.
    func invokeAction(_ id: UInt32, key: String) throws {
        try connection.send(.signal(path: "/org/freedesktop/Notifications", interface: "org.freedesktop.Notifications", member: "ActionInvoked",
                                    body: [.uint32(id), .string(key)]))
        try connection.send(.signal(path: "/org/freedesktop/Notifications", interface: "org.freedesktop.Notifications", member: "NotificationClosed",
                                    body: [.uint32(id), .uint32(2)]))
    }

    /// What typing `text` into an inline reply (KDE) makes the server emit.
    func reply(_ id: UInt32, text: String) throws {
        try connection.send(.signal(path: "/org/freedesktop/Notifications", interface: "org.freedesktop.Notifications", member: "NotificationReplied",
                                    body: [.uint32(id), .string(text)]))
    }

    private func handle(_ message: DBusMessage, capabilities: [String]) {
        guard message.kind == .methodCall, message.interface == "org.freedesktop.Notifications" else { return }
        var body: [DBusValue] = []
        switch message.member {
        case "GetCapabilities":
            body = [.stringArray(capabilities)]
        case "GetServerInformation":
            body = [.string("bulwark-test"), .string("Bulwark"), .string("1"), .string("1.2")]
        case "Notify":
            let values = message.body
            guard values.count == 8 else { return }
            var actions: [String] = []
            if case .array(_, let items) = values[5] { actions = items.compactMap(\.stringValue) }
            var hints: [String: DBusValue] = [:]
            if case .array(_, let entries) = values[6] {
                for case .entry(let key, .variant(let value)) in entries { if let key = key.stringValue { hints[key] = value } }
            }
            let id = lock.withLock { () -> UInt32 in
                defer { nextID += 1 }
                shown.append(Shown(id: nextID, appName: values[0].stringValue ?? "", summary: values[3].stringValue ?? "",
                                   body: values[4].stringValue ?? "", actions: actions, hints: hints))
                return nextID
            }
            body = [.uint32(id)]
        case "CloseNotification":
            body = []
        default:
            return
        }
        _ = try? connection.send(.reply(to: message, body: body))
    }
}
