import ArgumentParser
import BulwarkAgent
import Foundation

struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check this user session: can the clipboard be guarded (X11, Wayland data-control; GNOME's gap), notifications, override prompts, the agent.")
    @Option(help: "The agent's session socket.") var socket = "/run/bulwark-agent/session.sock"

    func run() async throws {
        let checks = SessionDoctor(socketPath: socket).run()
        for check in checks { print("[\(check.status.rawValue)] \(check.name): \(check.detail)") }
        if checks.contains(where: { $0.status == .failure }) { throw ExitCode(1) }
    }
}
