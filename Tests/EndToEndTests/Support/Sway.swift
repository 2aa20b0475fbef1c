import Foundation

/// A real Wayland compositor: headless sway (wlroots, with wlr-data-control), run as `nobody`
/// because sway refuses to run as root. Clients running as root may still connect.
final class Sway: @unchecked Sendable {
    let runtimeDirectory: String
    let display: String
    private let compositor: ChildProcess

    init(directory: String) throws {
        runtimeDirectory = directory + "/run-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: runtimeDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        guard chown(runtimeDirectory, 65534, 65534) == 0 else { throw TestFailure.command("cannot chown \(runtimeDirectory) to nobody") }
        let config = directory + "/sway.conf"
        try Data("# empty: defaults only\n".utf8).write(to: URL(fileURLWithPath: config))
        chmod(config, 0o644)
        chmod(directory, 0o755)
        compositor = try ChildProcess(
            "/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/sway", "-c", config],
            logPath: directory + "/sway.log",
            environment: [
                "PATH": "/usr/bin:/bin", "HOME": runtimeDirectory, "XDG_RUNTIME_DIR": runtimeDirectory, "WLR_BACKENDS": "headless",
                "WLR_LIBINPUT_NO_DEVICES": "1", "WLR_RENDERER": "pixman",
            ])
        let deadline = Date().addingTimeInterval(20)
        var socket: String?
        while socket == nil {
            socket = (try? FileManager.default.contentsOfDirectory(atPath: runtimeDirectory))?.first { $0.hasPrefix("wayland-") && !$0.hasSuffix(".lock") }
            if socket != nil { break }
            if !compositor.isRunning { throw TestFailure.command("sway exited:\n\(compositor.log)") }
            if Date() > deadline { throw TestFailure.timeout("sway creating its socket:\n\(compositor.log)") }
            usleep(20_000)
        }
        display = socket ?? ""
    }

    /// What a client of this compositor needs in its environment.
    var environment: [String: String] {
        ["WAYLAND_DISPLAY": display, "XDG_RUNTIME_DIR": runtimeDirectory, "PATH": "/usr/bin:/bin"]
    }

    func stop() { compositor.killGroup() }
}
