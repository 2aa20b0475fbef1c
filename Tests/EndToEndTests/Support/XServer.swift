import Foundation

/// A real X server (Xvfb) on a display of its own, for the clipboard tests.
final class XServer: @unchecked Sendable {
    let display: String
    private let number: Int
    private let server: ChildProcess

    /// Starts Xvfb on the first free display from :90 and waits for its socket.
    init(directory: String) throws {
        var number = 90
        while FileManager.default.fileExists(atPath: "/tmp/.X11-unix/X\(number)") || FileManager.default.fileExists(atPath: "/tmp/.X\(number)-lock") {
            number += 1
        }
        display = ":\(number)"
        self.number = number
        server = try ChildProcess("/usr/bin/Xvfb", [display, "-nolisten", "tcp", "-screen", "0", "1280x800x24"], logPath: directory + "/xvfb.log")
        let deadline = Date().addingTimeInterval(15)
        while !FileManager.default.fileExists(atPath: "/tmp/.X11-unix/X\(number)") {
            if !server.isRunning { throw TestFailure.command("Xvfb exited:\n\(server.log)") }
            if Date() > deadline { throw TestFailure.timeout("Xvfb socket for \(display)") }
            usleep(20_000)
        }
    }

    /// An X client (xclip, ...) on this display, logging to `logPath`.
    func client(_ executable: String, _ arguments: [String], logPath: String) throws -> ChildProcess {
        try ChildProcess(executable, arguments, logPath: logPath, environment: ["DISPLAY": display, "PATH": "/usr/bin:/bin"])
    }

    /// Test children inherit a signal mask that holds SIGTERM back, so the server is killed
    /// outright and its lock and socket removed for the next test.
    func stop() {
        server.kill9()
        try? FileManager.default.removeItem(atPath: "/tmp/.X\(number)-lock")
        try? FileManager.default.removeItem(atPath: "/tmp/.X11-unix/X\(number)")
    }
}
