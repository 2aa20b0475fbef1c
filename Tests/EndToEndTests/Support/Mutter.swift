import Foundation

/// GNOME's compositor, headless (`mutter --headless --wayland --no-x11`), as `nobody` with a
/// session bus of its own (mutter needs one): a Wayland session without data-control.
final class Mutter: @unchecked Sendable {
    let runtimeDirectory: String
    let display = "wayland-gnome"
    private let bus: ChildProcess
    private let compositor: ChildProcess

    init(directory: String) throws {
        runtimeDirectory = directory + "/gnome-run-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: runtimeDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        guard chown(runtimeDirectory, 65534, 65534) == 0 else { throw TestFailure.command("cannot chown \(runtimeDirectory) to nobody") }
        chmod(directory, 0o755)
        let nobody = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        bus = try ChildProcess(
            nobody[0], Array(nobody.dropFirst()) + ["/usr/bin/dbus-daemon", "--session", "--nofork", "--address=unix:path=\(runtimeDirectory)/bus"],
            logPath: directory + "/gnome-bus.log", environment: ["PATH": "/usr/bin:/bin"])
        compositor = try ChildProcess(
            nobody[0],
            Array(nobody.dropFirst()) + ["/usr/bin/mutter", "--headless", "--wayland", "--no-x11", "--virtual-monitor", "1024x768", "--wayland-display=\(display)"],
            logPath: directory + "/mutter.log",
            environment: [
                "PATH": "/usr/bin:/bin", "HOME": runtimeDirectory, "XDG_RUNTIME_DIR": runtimeDirectory,
                "DBUS_SESSION_BUS_ADDRESS": "unix:path=\(runtimeDirectory)/bus",
            ])
        let deadline = Date().addingTimeInterval(30)
        while !FileManager.default.fileExists(atPath: runtimeDirectory + "/" + display) {
            if !compositor.isRunning { throw TestFailure.command("mutter exited:\n\(compositor.log)") }
            if Date() > deadline { throw TestFailure.timeout("mutter creating its socket:\n\(compositor.log)") }
            usleep(50_000)
        }
    }

    var environment: [String: String] {
        ["WAYLAND_DISPLAY": display, "XDG_RUNTIME_DIR": runtimeDirectory, "PATH": "/usr/bin:/bin"]
    }

    func stop() {
        compositor.killGroup()
        bus.killGroup()
    }
}
