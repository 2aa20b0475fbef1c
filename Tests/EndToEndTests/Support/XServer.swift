import Foundation

/// A real X server (Xvfb) on a display of its own, for the clipboard tests.
final class XServer: @unchecked Sendable {
    let display: String
    private let number: Int
    private let server: ChildProcess

    /// Starts Xvfb and lets it pick a free display itself (`-displayfd`), so tests running at the
    /// same time never share a server.
    init(directory: String) throws {
        let log = directory + "/xvfb-\(UUID().uuidString.prefix(8)).log"
        server = try ChildProcess("/usr/bin/Xvfb", ["-displayfd", "1", "-nolisten", "tcp", "-screen", "0", "1280x800x24"], logPath: log)
        let deadline = Date().addingTimeInterval(15)
        var chosen: Int?
        while chosen == nil {
            chosen = server.log.split(separator: "\n").first { $0.allSatisfy(\.isNumber) }.flatMap { Int($0) }
            if chosen != nil { break }
            if !server.isRunning { throw TestFailure.command("Xvfb exited:\n\(server.log)") }
            if Date() > deadline { throw TestFailure.timeout("Xvfb choosing a display") }
            usleep(20_000)
        }
        number = chosen ?? 0
        display = ":\(number)"
    }

    /// An X client (xclip, ...) on this display, logging to `logPath`, with `environment` added.
    func client(_ executable: String, _ arguments: [String], logPath: String, environment: [String: String] = [:]) throws -> ChildProcess {
        try ChildProcess(executable, arguments, logPath: logPath, environment: ["DISPLAY": display, "PATH": "/usr/bin:/bin"].merging(environment) { $1 })
    }

    /// A window manager (openbox): focus, `_NET_ACTIVE_WINDOW`, what xdotool's windowactivate needs.
    func windowManager(directory: String) throws -> ChildProcess {
        try ChildProcess("/usr/bin/openbox", [], logPath: directory + "/openbox.log", environment: ["DISPLAY": display, "PATH": "/usr/bin:/bin", "HOME": directory])
    }

    /// Gives `window` the focus and waits until `_NET_ACTIVE_WINDOW` says so. A window manager
    /// that has just been started may not handle activation yet (xdotool then fails at once),
    /// so this retries rather than trusting one attempt.
    func activate(_ window: String, timeout: Double = 20) throws {
        let environment = ["DISPLAY": display]
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let attempt = try run("/usr/bin/xdotool", ["windowactivate", "--sync", window], environment: environment, timeout: 10)
            let active = try run("/usr/bin/xdotool", ["getactivewindow"], environment: environment, timeout: 10)
            if attempt.status == 0, active.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == window { return }
            if Date() > deadline { throw TestFailure.timeout("window \(window) getting the focus: \(attempt.output)") }
            usleep(100_000)
        }
    }

    /// The id of the window titled exactly `title` (xdotool), once it is mapped.
    func window(titled title: String, timeout: Double = 20, whileWaiting describe: () -> String = { "" }) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            // UTF-8, so titles with characters beyond Latin-1 (Firefox's "—") match as written.
            let found = try run("/usr/bin/xdotool", ["search", "--name", "^\(title)$"], environment: ["DISPLAY": display, "LC_ALL": "C.UTF-8"], timeout: 10).stdout
            if let window = found.split(separator: "\n").first { return String(window) }
            if Date() > deadline { throw TestFailure.timeout("a window titled \(title)\n\(describe())") }
            usleep(100_000)
        }
    }

    /// Test children inherit a signal mask that holds SIGTERM back, so the server is killed
    /// outright and its lock and socket removed.
    func stop() {
        server.kill9()
        try? FileManager.default.removeItem(atPath: "/tmp/.X\(number)-lock")
        try? FileManager.default.removeItem(atPath: "/tmp/.X11-unix/X\(number)")
    }
}
