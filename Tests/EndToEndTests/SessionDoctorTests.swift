import BulwarkCore
import Foundation
import Testing

/// `bulwark-agent doctor` and the display-server choice on real compositors: GNOME's (mutter,
/// no data-control) and sway (data-control), with a real X server and notification server.
@Suite("End to end: session doctor and display servers", .serialized)
struct SessionDoctorTests {
    @Test("GNOME (mutter): doctor says native Wayland apps cannot be guarded and fails; the guard falls back to XWayland apps and says why")
    func gnome() throws {
        let scratch = try ScratchDirectory("bulwark-doctor")
        defer { scratch.remove() }
        let root = scratch.path
        let mutter = try Mutter(directory: root)
        defer { mutter.stop() }
        let doctor = try run(Binaries.path("bulwark-agent"), ["doctor", "--session", "--socket", root + "/none.sock"], environment: mutter.environment, timeout: 30)
        #expect(doctor.status == 1)
        #expect(doctor.stdout.contains("[FAIL] wayland clipboard: wayland-gnome: the compositor (mutter) offers no data-control protocol"))
        #expect(doctor.stdout.contains("(GNOME)"))
        #expect(doctor.stdout.contains("[warn] agent:"))

        // With an X server as well (XWayland's role), the guard falls back to it and says so.
        let x = try XServer(directory: root)
        defer { x.stop() }
        var environment = mutter.environment
        environment["DISPLAY"] = x.display
        let guardian = try ChildProcess(Binaries.path("bulwark-agent"), ["clipboard", "guard", "--no-notify"], logPath: root + "/guard.log", environment: environment)
        defer { guardian.kill9() }
        try guardian.waitForLog("guarding CLIPBOARD and PRIMARY on X11 display \(x.display)")
        #expect(guardian.log.contains("offers no data-control protocol"))
        #expect(guardian.log.contains("guarding X11 (XWayland) apps only"))
    }

    @Test("sway + X11 + dunst: doctor reports every piece working")
    func healthy() throws {
        let scratch = try ScratchDirectory("bulwark-doctor")
        defer { scratch.remove() }
        let root = scratch.path
        let sway = try Sway(directory: root)
        defer { sway.stop() }
        let x = try XServer(directory: root)
        defer { x.stop() }
        let bus = try SessionBus(directory: root)
        defer { bus.stop() }
        var environment = sway.environment
        environment["DISPLAY"] = x.display
        environment["DBUS_SESSION_BUS_ADDRESS"] = bus.address
        environment["HOME"] = root
        let dunst = try ChildProcess("/usr/bin/dunst", [], logPath: root + "/dunst.log", environment: environment)
        defer { dunst.kill9() }
        var doctor = try run(Binaries.path("bulwark-agent"), ["doctor", "--session", "--socket", root + "/none.sock"], environment: environment, timeout: 30)
        let deadline = Date().addingTimeInterval(20)
        while !doctor.stdout.contains("[ok] notifications"), Date() < deadline {  // dunst takes a moment to own its name
            usleep(200_000)
            doctor = try run(Binaries.path("bulwark-agent"), ["doctor", "--session", "--socket", root + "/none.sock"], environment: environment, timeout: 30)
        }
        #expect(doctor.status == 0, "\(doctor.output)")
        #expect(doctor.stdout.contains("[ok] wayland clipboard: \(sway.display): data-control available"))
        #expect(doctor.stdout.contains("[ok] x11 clipboard: \(x.display): XFixes and X-Resource available"))
        #expect(doctor.stdout.contains("[ok] notifications: dunst"))
        #expect(doctor.stdout.contains("actions"))
    }
}
