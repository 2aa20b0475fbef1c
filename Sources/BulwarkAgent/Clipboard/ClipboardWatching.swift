import Foundation

/// A display server's clipboard, watched (and, with a `ClipboardGuarding` delegate, guarded):
/// the seam between the guard's policy side and X11 or Wayland.
public protocol ClipboardWatching: AnyObject, Sendable {
    /// Copies as they happen, until `stop()`. Call once.
    func contents() -> AsyncStream<ClipboardContent>
    func stop()
}

extension X11ClipboardWatcher: ClipboardWatching {}
extension WaylandClipboardWatcher: ClipboardWatching {}

/// Which display server's clipboard to watch.
public enum ClipboardBackend: String, Sendable, CaseIterable {
    /// Wayland when the session has a Wayland display, else X11; a Wayland compositor without
    /// data-control (GNOME) falls back to X11 for XWayland apps, saying so.
    case auto
    case x11
    case wayland

    /// Opens the chosen backend; `notice` receives what a fallback means for protection.
    /// - Parameter focus: told of focus changes (X11; on Wayland, sway and i3-compatible
    ///   compositors, whose IPC says so).
    public func open(
        x11Display: String?, waylandDisplay: String?, guarding: (any ClipboardGuarding)?, focus: (any FocusObserving)? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment, notice: (String) -> Void = { _ in }
    ) throws -> (watcher: any ClipboardWatching, description: String) {
        switch self {
        case .x11:
            return (try X11ClipboardWatcher(displayName: x11Display, guarding: guarding, focus: focus), "X11 display \(x11Display ?? environment["DISPLAY"] ?? "")")
        case .wayland:
            let name = waylandDisplay ?? environment["WAYLAND_DISPLAY"] ?? "wayland-0"
            let watcher = try WaylandClipboardWatcher(displayName: waylandDisplay, guarding: guarding, focus: focus)
            return (watcher, "Wayland display \(name) via \(watcher.dataControlProtocol)")
        case .auto:
            guard waylandDisplay != nil || environment["WAYLAND_DISPLAY"].map({ !$0.isEmpty }) == true else {
                return try ClipboardBackend.x11.open(x11Display: x11Display, waylandDisplay: nil, guarding: guarding, focus: focus, environment: environment)
            }
            do {
                return try ClipboardBackend.wayland.open(x11Display: x11Display, waylandDisplay: waylandDisplay, guarding: guarding, focus: focus, environment: environment)
            } catch let failure as WaylandClipboardWatcher.Failure {
                guard x11Display != nil || environment["DISPLAY"] != nil else { throw failure }
                notice("\(failure); guarding X11 (XWayland) apps only")
                let (watcher, described) = try ClipboardBackend.x11.open(x11Display: x11Display, waylandDisplay: nil, guarding: guarding, focus: focus, environment: environment)
                return (watcher, described + " (XWayland only: the Wayland compositor offers no data-control protocol)")
            }
        }
    }
}

/// How a watcher's thread, asleep in poll(), is told to stop: a flag and a pipe to wake it.
/// Also runs that thread and turns what it delivers into an `AsyncStream`.
final class WatcherThread: @unchecked Sendable {
    // `requested` is behind `lock`; the descriptors are immutable.

    struct Unavailable: Error, CustomStringConvertible {
        var description: String
    }

    /// Readable once `stop()` was called: poll it next to the display connection.
    let wakeDescriptor: Int32
    private let writeDescriptor: Int32
    private let lock = NSLock()
    private var requested = false

    init() throws(Unavailable) {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { throw Unavailable(description: "cannot create a pipe: \(String(cString: strerror(errno)))") }
        _ = fcntl(ends[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(ends[1], F_SETFD, FD_CLOEXEC)
        wakeDescriptor = ends[0]
        writeDescriptor = ends[1]
    }

    deinit {
        close(wakeDescriptor)
        close(writeDescriptor)
    }

    var stopRequested: Bool { lock.withLock { requested } }

    func stop() {
        lock.withLock { requested = true }
        var byte: UInt8 = 1
        _ = write(writeDescriptor, &byte, 1)
    }

    /// Runs `loop` on a thread named `name`; what it delivers is the stream; ending the stream
    /// stops it.
    func stream(name: String, _ loop: @escaping @Sendable (_ deliver: (ClipboardContent) -> Void) -> Void) -> AsyncStream<ClipboardContent> {
        AsyncStream(bufferingPolicy: .bufferingNewest(64)) { continuation in
            let thread = Thread {
                loop { continuation.yield($0) }
                continuation.finish()
            }
            thread.name = name
            thread.start()
            continuation.onTermination = { [weak self] _ in self?.stop() }
        }
    }
}
