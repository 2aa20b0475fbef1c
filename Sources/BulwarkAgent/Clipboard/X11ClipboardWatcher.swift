import CBulwarkLinux
import Foundation

/// Something copied to an X11 selection, as text, ready to classify.
public struct ClipboardContent: Sendable {
    public enum Selection: String, Sendable, Codable {
        case clipboard = "CLIPBOARD"
        case primary = "PRIMARY"
    }

    public var selection: Selection
    /// The formats the owner offers (`UTF8_STRING`, `text/html`, `chromium/x-source-url`, ...).
    public var targets: [String]
    /// The text, as UTF-8.
    public var text: [UInt8]
    /// The `text/html` flavour when the owner offers it (within the size cap).
    public var html: [UInt8]?
    /// The process that owns the selection (X-Resource), when the server can tell.
    public var ownerPID: pid_t?
    /// More than `maxBytes` was offered; `text` holds the start.
    public var truncated: Bool
}

/// Watches CLIPBOARD and PRIMARY on an X server with XFixes selection-owner notifications and
/// reads each new selection's text (TARGETS first, then `UTF8_STRING`, `text/plain;charset=utf-8`
/// or `STRING`; INCR transfers for large content), so content is classified when it is copied
/// and a paste needs no classification.
///
/// Xlib is not thread-safe; everything happens on the watcher's own thread, which owns the
/// display connection. An owner that does not answer within `timeout` is skipped, never waited
/// for: copy/paste between other apps is never held up by the watcher.
public final class X11ClipboardWatcher: @unchecked Sendable {
    // Mutable state is touched only on `thread`, except `stopRequested` (behind `lock`).

    public enum Failure: Error, CustomStringConvertible {
        case unavailable(String)
        case noDisplay(String)
        case noXFixes

        public var description: String {
            switch self {
            case .unavailable(let reason): reason
            case .noDisplay(let name): "cannot open X display \(name); is DISPLAY set and the X server running?"
            case .noXFixes: "the X server lacks the XFIXES extension; copies cannot be watched"
            }
        }
    }

    public let maxBytes: Int
    public let timeout: Duration
    private let lib: X11Library
    private let display: OpaquePointer
    private let window: Window
    private let atoms: Atoms
    private let fixesEventBase: Int32
    private let lock = NSLock()
    private var stopRequested = false
    private var pendingOwnerChanges: [(selection: Atom, owner: Window)] = []

    struct Atoms {
        var clipboard: Atom, primary: Atom, targets: Atom, utf8: Atom, textPlainUTF8: Atom, string: Atom, html: Atom, incr: Atom,
            property: Atom
    }

    // Protocol constants (X.h); spelled out because the C macros clash with Swift names.
    private static let selectionNotify: Int32 = 31
    private static let propertyNotify: Int32 = 28
    private static let propertyNewValue: Int32 = 0
    private static let propertyChangeMask = 1 << 22
    private static let setSelectionOwnerNotifyMask: UInt = 1 << 0
    private static let atomType: Atom = 4  // XA_ATOM

    /// Connects to `displayName` (nil: `$DISPLAY`).
    public init(displayName: String? = nil, maxBytes: Int = 16 * 1024 * 1024, timeout: Duration = .seconds(1)) throws(Failure) {
        let lib: X11Library
        do { lib = try X11Library() } catch { throw .unavailable(error.description) }
        self.lib = lib
        let opened = displayName.map { name in name.withCString { lib.openDisplay($0) } } ?? lib.openDisplay(nil)
        guard let display = opened else {
            throw .noDisplay(displayName ?? ProcessInfo.processInfo.environment["DISPLAY"] ?? "(DISPLAY not set)")
        }
        var eventBase: Int32 = 0
        var errorBase: Int32 = 0
        guard lib.fixesQueryExtension(display, &eventBase, &errorBase) != 0 else {
            _ = lib.closeDisplay(display)
            throw .noXFixes
        }
        self.display = display
        self.maxBytes = maxBytes
        self.timeout = timeout
        fixesEventBase = eventBase
        let root = lib.defaultRootWindow(display)
        window = lib.createSimpleWindow(display, root, -10, -10, 1, 1, 0, 0, 0)
        func atom(_ name: String) -> Atom { name.withCString { lib.internAtom(display, $0, 0) } }
        atoms = Atoms(
            clipboard: atom("CLIPBOARD"), primary: atom("PRIMARY"), targets: atom("TARGETS"), utf8: atom("UTF8_STRING"),
            textPlainUTF8: atom("text/plain;charset=utf-8"), string: atom("STRING"), html: atom("text/html"), incr: atom("INCR"),
            property: atom("BULWARK_SELECTION"))
        _ = lib.selectInput(display, window, Self.propertyChangeMask)
        lib.fixesSelectSelectionInput(display, window, atoms.clipboard, Self.setSelectionOwnerNotifyMask)
        lib.fixesSelectSelectionInput(display, window, atoms.primary, Self.setSelectionOwnerNotifyMask)
        _ = lib.flush(display)
    }

    deinit {
        _ = lib.destroyWindow(display, window)
        _ = lib.closeDisplay(display)
    }

    /// Copies as they happen, until `stop()`. Call once.
    public func contents() -> AsyncStream<ClipboardContent> {
        AsyncStream(bufferingPolicy: .bufferingNewest(64)) { continuation in
            let thread = Thread { [self] in
                run { continuation.yield($0) }
                continuation.finish()
            }
            thread.name = "bulwark-x11-clipboard"
            thread.start()
            continuation.onTermination = { [weak self] _ in self?.stop() }
        }
    }

    /// Ends the watcher's thread within one poll interval.
    public func stop() {
        lock.withLock { stopRequested = true }
    }

    private var stopping: Bool { lock.withLock { stopRequested } }

    // MARK: Event loop (watcher thread only)

    private func run(_ deliver: (ClipboardContent) -> Void) {
        while !stopping {
            if pendingOwnerChanges.isEmpty, !wait(upTo: .milliseconds(100)) { continue }
            var event = XEvent()
            while pendingOwnerChanges.isEmpty, lib.pending(display) > 0 {
                _ = lib.nextEvent(display, &event)
                if let change = ownerChange(event) { pendingOwnerChanges.append(change) }
            }
            guard !pendingOwnerChanges.isEmpty else { continue }
            let change = pendingOwnerChanges.removeFirst()
            guard change.owner != 0, change.owner != window else { continue }
            if let content = read(selection: change.selection, owner: change.owner) { deliver(content) }
        }
    }

    /// Waits until the connection has data or `duration` passes.
    private func wait(upTo duration: Duration) -> Bool {
        if lib.pending(display) > 0 { return true }
        var descriptor = pollfd(fd: lib.connectionNumber(display), events: Int16(POLLIN), revents: 0)
        let milliseconds = Int32(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)
        return poll(&descriptor, 1, milliseconds) > 0 && lib.pending(display) > 0
    }

    private func ownerChange(_ event: XEvent) -> (selection: Atom, owner: Window)? {
        guard event.type == fixesEventBase else { return nil }  // XFixesSelectionNotify is event base + 0
        var copy = event
        return withUnsafePointer(to: &copy) { pointer in
            pointer.withMemoryRebound(to: XFixesSelectionNotifyEvent.self, capacity: 1) { ($0.pointee.selection, $0.pointee.owner) }
        }
    }

    private func read(selection: Atom, owner: Window) -> ClipboardContent? {
        let which: ClipboardContent.Selection = selection == atoms.clipboard ? .clipboard : .primary
        guard let targetList = convert(selection, to: atoms.targets), targetList.type == Self.atomType else { return nil }
        let targetAtoms = targetList.data.withUnsafeBytes { Array($0.bindMemory(to: Atom.self)) }
        let names = targetAtoms.compactMap(name)
        let textTarget = [atoms.utf8, atoms.textPlainUTF8, atoms.string].first { targetAtoms.contains($0) }
        guard let textTarget, let text = convert(selection, to: textTarget) else { return nil }
        var html: [UInt8]?
        if targetAtoms.contains(atoms.html), let markup = convert(selection, to: atoms.html) { html = markup.data }
        var bytes = text.data
        if textTarget == atoms.string {
            // STRING is Latin-1.
            bytes = Array(String(bytes.map { Character(Unicode.Scalar($0)) }).utf8)
        }
        return ClipboardContent(
            selection: which, targets: names, text: bytes, html: html, ownerPID: clientPID(of: owner), truncated: text.truncated)
    }

    private func name(_ atom: Atom) -> String? {
        guard let pointer = lib.getAtomName(display, atom) else { return nil }
        defer { _ = lib.free(pointer) }
        return String(cString: pointer)
    }

    /// The process behind the client that created `window`, via X-Resource (server-side, so a
    /// client cannot claim another's PID).
    func clientPID(of window: Window) -> pid_t? {
        guard let query = lib.resQueryClientIds, let pidOf = lib.resGetClientPid, let destroy = lib.resClientIdsDestroy else { return nil }
        var spec = XResClientIdSpec(client: XID(window), mask: UInt32(XRES_CLIENT_ID_PID_MASK.rawValue))
        var count = 0
        var values: UnsafeMutablePointer<XResClientIdValue>?
        guard query(display, 1, &spec, &count, &values) == 0, let values else { return nil }
        defer { destroy(count, values) }
        for index in 0..<count {
            let pid = pidOf(values + index)
            if pid > 0 { return pid }
        }
        return nil
    }

    /// Asks the owner to convert `selection` to `target` on our window and reads the result
    /// (following INCR), or nil when the owner refuses or does not answer in time.
    private func convert(_ selection: Atom, to target: Atom) -> (type: Atom, data: [UInt8], truncated: Bool)? {
        _ = lib.deleteProperty(display, window, atoms.property)
        _ = lib.convertSelection(display, selection, target, atoms.property, window, 0)
        _ = lib.flush(display)
        let deadline = ContinuousClock.now + timeout
        var notified: XSelectionEvent?
        while notified == nil {
            guard let event = nextEvent(before: deadline) else { return nil }
            if event.type == Self.selectionNotify, event.xselection.selection == selection, event.xselection.target == target {
                notified = event.xselection
            }
        }
        guard let notified, notified.property != 0 else { return nil }
        guard let first = property(delete: true) else { return nil }
        guard first.type == atoms.incr else { return (first.type, first.data, first.data.count > maxBytes) }
        // INCR: the owner sends chunks, each after we delete the previous one; an empty chunk ends it.
        var data: [UInt8] = []
        var type = first.type
        var truncated = false
        while true {
            guard let event = nextEvent(before: ContinuousClock.now + timeout) else { return nil }
            guard event.type == Self.propertyNotify, event.xproperty.atom == atoms.property, event.xproperty.state == Self.propertyNewValue else { continue }
            guard let chunk = property(delete: true) else { return nil }
            if chunk.data.isEmpty { break }
            type = chunk.type
            if data.count < maxBytes { data += chunk.data.prefix(maxBytes - data.count) } else { truncated = true }
        }
        return (type, data, truncated)
    }

    /// The next event before `deadline`; owner changes seen meanwhile are kept for later.
    private func nextEvent(before deadline: ContinuousClock.Instant) -> XEvent? {
        while true {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return nil }
            guard wait(upTo: min(left, .milliseconds(100))) else { continue }
            var event = XEvent()
            _ = lib.nextEvent(display, &event)
            if let change = ownerChange(event) {
                pendingOwnerChanges.append(change)
                continue
            }
            return event
        }
    }

    /// Reads (and deletes) our property.
    private func property(delete: Bool) -> (type: Atom, data: [UInt8])? {
        var type: Atom = 0
        var format: Int32 = 0
        var items: UInt = 0
        var after: UInt = 0
        var value: UnsafeMutablePointer<UInt8>?
        // Length is in 32-bit units; ask for a little over the cap.
        let length = (maxBytes + 4) / 4 + 1
        guard lib.getWindowProperty(display, window, atoms.property, 0, length, delete ? 1 : 0, 0, &type, &format, &items, &after, &value) == 0
        else { return nil }
        defer { if let value { _ = lib.free(value) } }
        guard let value else { return (type, []) }
        // Format 32 items are C longs in memory.
        let size = format == 32 ? MemoryLayout<Int>.size : Int(format) / 8
        return (type, Array(UnsafeBufferPointer(start: value, count: Int(items) * max(1, size))))
    }
}
