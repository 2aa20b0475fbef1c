import ArgumentParser
import BulwarkAgent
import BulwarkCore
import Foundation

struct SessionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "session",
        abstract: "Run as the logged-in user: guard the user's clipboard with the agent's policy and send the events to the agent.")
    @Option(help: "The agent's session socket.") var socket = "/run/bulwark-agent/session.sock"
    @Option(help: "X display (default: $DISPLAY).") var display: String?

    /// The last policy the agent sent, so the helper enforces it even when the agent is down.
    static var cachePath: String {
        let base = ProcessInfo.processInfo.environment["XDG_CACHE_HOME"] ?? (NSHomeDirectory() as NSString).appendingPathComponent(".cache")
        return (base as NSString).appendingPathComponent("bulwark/policy.yaml")
    }

    func run() async throws {
        let user = ProcessInfo.processInfo.environment["USER"]
        let cached = (try? PolicyParser.load(path: Self.cachePath)) ?? DefaultPolicy.policy()
        // The session helper has no deployment key: hashes are added by the agent's side only
        // where it can; custom classifiers needing files are not applied here yet.
        let clientBox = ClientBox()
        let guardian = ClipboardGuard(policy: cached, classifier: ContentClassifier(), keyedHash: nil, user: user, notifier: DesktopNotifier()) { type, data in
            clientBox.client?.send(type: type, data: data)
        }
        let cachePath = Self.cachePath
        let client = SessionClient(socketPath: socket) { push in
            guard let policy = try? PolicyParser(source: "agent policy").parse(push.yaml) else { return }
            guardian.update(policy: policy, classifier: ContentClassifier())
            try? FileManager.default.createDirectory(atPath: (cachePath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try? Data(push.yaml.utf8).write(to: URL(fileURLWithPath: cachePath), options: .atomic)
            FileHandle.standardError.write(Data("policy '\(push.name)' from the agent\n".utf8))
        }
        clientBox.client = client
        client.start()
        let watcher: X11ClipboardWatcher
        do { watcher = try X11ClipboardWatcher(displayName: display, guarding: guardian) } catch { throw CommandFailure("\(error)") }
        FileHandle.standardError.write(Data("session helper guarding the clipboard of \(user ?? "this user")\n".utf8))
        for await _ in watcher.contents() {}
        client.stop()
    }

    /// Lets the guard's recorder reach the client created after it.
    final class ClientBox: @unchecked Sendable {
        // Set once before the watcher starts; read afterwards.
        var client: SessionClient?
    }
}
