import BulwarkCore
import Foundation

/// `bulwark-agent clipboard guard` on a real X server, with xclip as owner and requestor: the
/// helpers every clipboard test needs.
final class GuardHarness: @unchecked Sendable {
    let directory: String
    let x: XServer
    let guardian: ChildProcess
    /// A renamed copy of xclip: Claude Code's executable is `claude`.
    let claude: String

    init(directory: String, x: XServer, policy: String, environment: [String: String] = [:]) throws {
        self.directory = directory
        self.x = x
        try Data(policy.utf8).write(to: URL(fileURLWithPath: directory + "/policy.yaml"))
        claude = directory + "/claude"
        if !FileManager.default.fileExists(atPath: claude) { try FileManager.default.copyItem(atPath: "/usr/bin/xclip", toPath: claude) }
        var variables = ["DISPLAY": x.display, "PATH": "/usr/bin:/bin"]
        variables.merge(environment) { $1 }
        guardian = try ChildProcess(
            Binaries.path("bulwark-agent"), ["clipboard", "guard", "--display", x.display, "--policy", directory + "/policy.yaml"],
            logPath: directory + "/guard-\(UUID().uuidString.prefix(6)).log", environment: variables)
        try guardian.waitForLog("guarding CLIPBOARD and PRIMARY")
    }

    func stop() { guardian.kill9() }

    /// The events the guard printed (JSON lines), in order.
    func events() -> [(type: String, data: [String: JSONValue])] { guardian.guardEvents() }

    func events(_ type: String) -> [[String: JSONValue]] { guardian.guardEvents(type) }

    func waitFor(_ type: String, count: Int = 1) throws { try guardian.waitForGuardEvent(type, count: count) }

    /// xclip owning `selection` with `text`; it exits when it loses the selection.
    func copy(_ text: String, selection: String, name: String) throws -> ChildProcess {
        let file = directory + "/" + name
        try Data(text.utf8).write(to: URL(fileURLWithPath: file))
        return try x.client("/usr/bin/xclip", ["-selection", selection, "-quiet", file], logPath: directory + "/\(name).log")
    }

    /// Waits until `owner` lost its selection: the guard has taken it over.
    func waitForTakeover(_ owner: ChildProcess) throws {
        let deadline = Date().addingTimeInterval(20)
        while owner.isRunning {
            if Date() > deadline { throw TestFailure.timeout("the guard taking the selection from pid \(owner.pid):\n\(guardian.log)") }
            usleep(20_000)
        }
    }

    /// Copies sensitive `text` to CLIPBOARD and waits until the guard holds it.
    func copyGuarded(_ text: String, name: String) throws -> ChildProcess {
        let before = events(EventType.clipboardCopy).count
        let owner = try copy(text, selection: "clipboard", name: name)
        try waitFor(EventType.clipboardCopy, count: before + 1)
        try waitForTakeover(owner)
        return owner
    }

    func paste(_ program: String, selection: String = "clipboard") throws -> CommandResult {
        try run(program, ["-o", "-selection", selection], environment: ["DISPLAY": x.display], timeout: 20)
    }

    /// Pastes until something comes back (an answer the guard is still processing, such as an
    /// override, may take a moment), for up to ten seconds.
    func pasteUntilServed(_ program: String) throws -> CommandResult {
        // Generous: on a loaded 2-core machine the click's D-Bus signal, the reason prompt's
        // search for a dialog program and the grant once took longer than 10 s.
        let deadline = Date().addingTimeInterval(20)
        var result = try paste(program)
        while result.stdout.isEmpty, Date() < deadline {
            usleep(100_000)
            result = try paste(program)
        }
        return result
    }
}

extension ChildProcess {
    /// The events a `clipboard guard` process printed (JSON lines), in order.
    func guardEvents() -> [(type: String, data: [String: JSONValue])] {
        log.split(separator: "\n").compactMap { line in
            guard line.hasPrefix("{"), case .object(let event)? = try? JSONDecoder().decode(JSONValue.self, from: Data(line.utf8)),
                  case .string(let type)? = event["type"], case .object(let data)? = event["data"] else { return nil }
            return (type, data)
        }
    }

    func guardEvents(_ type: String) -> [[String: JSONValue]] { guardEvents().filter { $0.type == type }.map(\.data) }

    func waitForGuardEvent(_ type: String, count: Int = 1) throws {
        let deadline = Date().addingTimeInterval(20)
        while guardEvents(type).count < count {
            if Date() > deadline { throw TestFailure.timeout("\(count) × \(type):\n\(log)") }
            usleep(50_000)
        }
    }
}
