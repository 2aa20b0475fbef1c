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
    /// The page a browser copied from (Chromium's `chromium/x-source-url`), when offered.
    public var sourceURL: String? = nil
    /// More than `maxBytes` was offered; `text` holds the start.
    public var truncated: Bool
}

/// The window the user is pasting into, as the window manager and the app describe it.
public struct WindowIdentity: Sendable, Equatable {
    /// `_NET_WM_NAME` (or `WM_NAME`): a browser shows the page title here.
    public var title: String?
    /// `WM_CLASS` instance and class (`chromium`, `Chromium`).
    public var wmClass: [String]

    public init(title: String?, wmClass: [String]) {
        self.title = title
        self.wmClass = wmClass
    }
}

/// A paste of a guarded selection: who asks, for what.
public struct PasteRequest: Sendable {
    public var selection: ClipboardContent.Selection
    /// The format asked for (`UTF8_STRING`, `text/html`, ...).
    public var target: String
    /// The requesting client's process, from the X server (X-Resource), when it can tell.
    public var requestorPID: pid_t?
    /// The active window, when it belongs to the requesting process (or the requestor is
    /// unknown): how a browser tab's site is recognised.
    public var window: WindowIdentity?
    /// What the selection holds (as read at copy time).
    public var content: ClipboardContent
    public var received: ContinuousClock.Instant

    public init(
        selection: ClipboardContent.Selection, target: String, requestorPID: pid_t?, window: WindowIdentity? = nil, content: ClipboardContent,
        received: ContinuousClock.Instant = .now
    ) {
        self.selection = selection
        self.target = target
        self.requestorPID = requestorPID
        self.window = window
        self.content = content
        self.received = received
    }
}

/// The policy side of the clipboard guard, shared by display-server backends: decides at copy
/// time whether to guard a selection, and per paste whether to hand the content over.
public protocol ClipboardGuarding: Sendable {
    /// Called for every copy; true takes the selection over (sensitive content).
    func copied(_ content: ClipboardContent) -> Bool
    /// Called for every data request on a guarded selection.
    func pasteRequested(_ request: PasteRequest) -> PasteVerdict
}

/// What to do with one paste request.
public struct PasteVerdict: Sendable {
    /// Hand the content over, or refuse (property None).
    public var serve: Bool
    /// Called once the reply is sent, with the time since the request arrived.
    public var answered: (@Sendable (_ latency: Duration) -> Void)?

    public init(serve: Bool, answered: (@Sendable (_ latency: Duration) -> Void)? = nil) {
        self.serve = serve
        self.answered = answered
    }
}

/// Watches CLIPBOARD and PRIMARY on an X server with XFixes selection-owner notifications and
/// reads each new selection's text (TARGETS first, then `UTF8_STRING`, `text/plain;charset=utf-8`
/// or `STRING`; INCR transfers for large content), so content is classified when it is copied
/// and a paste needs no classification.
///
/// With a `ClipboardGuarding` delegate it also guards: a selection the delegate wants guarded
/// is taken over (the watcher becomes its owner and serves all text targets, `text/html` when
/// the original had it, INCR for large content), and every data request is decided by the
/// delegate — served, or refused with property None so the requestor never hangs. Copying
/// something else releases it.
///
/// Xlib is not thread-safe; everything happens on the watcher's own thread, which owns the
/// display connection. An owner that does not answer within `timeout` is skipped, never waited
/// for: copy/paste between other apps is never held up by the watcher.
public final class X11ClipboardWatcher: @unchecked Sendable {
    // Mutable state is touched only on the watcher's thread.

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
    /// Wakes the watcher out of poll() to stop: it sleeps without a timeout.
    private let thread: WatcherThread
    private var pendingOwnerChanges: [(selection: Atom, owner: Window)] = []
    private let guarding: (any ClipboardGuarding)?
    private let focus: (any FocusObserving)?
    private let root: Window
    /// Selections we own on the delegate's behalf, with what they hold.
    private var guarded: [Atom: (content: ClipboardContent, since: Time)] = [:]
    /// When each selection was last taken over, to notice a tug of war with another client.
    private var takeovers: [Atom: [ContinuousClock.Instant]] = [:]
    /// Outgoing INCR transfers: (requestor, property) → remaining data.
    private var transfers: [OutgoingKey: OutgoingTransfer] = [:]

    struct OutgoingKey: Hashable {
        var requestor: Window
        var property: Atom
    }

    struct OutgoingTransfer {
        var type: Atom
        var data: [UInt8]
        var offset: Int
        var lastActivity: ContinuousClock.Instant
    }

    /// Above this a reply goes INCR, in chunks of this size.
    static let incrChunk = 256 * 1024

    struct Atoms {
        var clipboard: Atom, primary: Atom, targets: Atom, utf8: Atom, textPlainUTF8: Atom, string: Atom, html: Atom, incr: Atom,
            property: Atom, timestamp: Atom, text: Atom, textPlain: Atom, multiple: Atom, activeWindow: Atom, wmName: Atom, sourceURL: Atom
    }

    // Protocol constants (X.h); spelled out because the C macros clash with Swift names.
    private static let selectionNotify: Int32 = 31
    private static let selectionRequest: Int32 = 30
    private static let selectionClear: Int32 = 29
    private static let propertyNotify: Int32 = 28
    private static let propertyNewValue: Int32 = 0
    private static let propertyDelete: Int32 = 1
    private static let integerType: Atom = 19  // XA_INTEGER
    private static let propertyChangeMask = 1 << 22
    private static let setSelectionOwnerNotifyMask: UInt = 1 << 0
    private static let atomType: Atom = 4  // XA_ATOM
    private static let windowType: Atom = 33  // XA_WINDOW
    private static let legacyNameAtom: Atom = 39  // XA_WM_NAME
    private static let classAtom: Atom = 67  // XA_WM_CLASS

    /// Whether the X server and libXRes can say which process a client belongs to (without it,
    /// pasting programs cannot be identified and every paste is to an unknown app).
    public var canIdentifyClients: Bool { lib.resQueryClientIds != nil && lib.resGetClientPid != nil }

    /// Connects to `displayName` (nil: `$DISPLAY`).
    public init(
        displayName: String? = nil, maxBytes: Int = 16 * 1024 * 1024, timeout: Duration = .seconds(1), guarding: (any ClipboardGuarding)? = nil,
        focus: (any FocusObserving)? = nil
    ) throws(Failure) {
        self.guarding = guarding
        self.focus = focus
        do { thread = try WatcherThread() } catch { throw .unavailable(error.description) }
        let lib: X11Library
        do { lib = try X11Library() } catch { throw .unavailable(error.description) }
        self.lib = lib
        // Xlib's default error handler exits the process. Protocol errors here are expected and
        // harmless — a requestor window destroyed mid-paste (BadWindow), a title read racing a
        // closing window — and each call that can fail is checked, so errors are ignored.
        _ = lib.setErrorHandler { _, _ in 0 }
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
        self.root = root
        window = lib.createSimpleWindow(display, root, -10, -10, 1, 1, 0, 0, 0)
        func atom(_ name: String) -> Atom { name.withCString { lib.internAtom(display, $0, 0) } }
        atoms = Atoms(
            clipboard: atom("CLIPBOARD"), primary: atom("PRIMARY"), targets: atom("TARGETS"), utf8: atom("UTF8_STRING"),
            textPlainUTF8: atom("text/plain;charset=utf-8"), string: atom("STRING"), html: atom("text/html"), incr: atom("INCR"),
            property: atom("BULWARK_SELECTION"), timestamp: atom("TIMESTAMP"), text: atom("TEXT"), textPlain: atom("text/plain"),
            multiple: atom("MULTIPLE"), activeWindow: atom("_NET_ACTIVE_WINDOW"), wmName: atom("_NET_WM_NAME"),
            sourceURL: atom("chromium/x-source-url"))
        _ = lib.selectInput(display, window, Self.propertyChangeMask)
        // The window manager announces focus changes as _NET_ACTIVE_WINDOW on the root window.
        if focus != nil { _ = lib.selectInput(display, root, Self.propertyChangeMask) }
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
        thread.stream(name: "bulwark-x11-clipboard") { [self] deliver in run(deliver) }
    }

    /// Ends the watcher's thread at once.
    public func stop() { thread.stop() }

    private var stopping: Bool { thread.stopRequested }

    // MARK: Event loop (watcher thread only)

    private func run(_ deliver: (ClipboardContent) -> Void) {
        focus?.focusChanged(to: focusedWindow())
        while !stopping {
            // Idle means asleep: no timeout unless an INCR transfer may need expiring or the
            // focused terminal or browser needs looking at again.
            let recheck = focus?.recheckInterval
            let timeout = transfers.isEmpty ? recheck : min(recheck ?? .seconds(1), .seconds(1))
            if pendingOwnerChanges.isEmpty, !wait(upTo: timeout) {
                expireTransfers()
                if recheck != nil, !stopping { focus?.focusChanged(to: focusedWindow()) }
                continue
            }
            var event = XEvent()
            while pendingOwnerChanges.isEmpty, lib.pending(display) > 0 {
                _ = lib.nextEvent(display, &event)
                dispatch(event)
            }
            guard !pendingOwnerChanges.isEmpty else { continue }
            let change = pendingOwnerChanges.removeFirst()
            guard change.owner != 0, change.owner != window else { continue }
            guard let content = read(selection: change.selection, owner: change.owner) else { continue }
            deliver(content)
            if let guarding, guarding.copied(content) {
                if contended(change.selection) {
                    // Another client keeps taking the selection back (an aggressive clipboard
                    // manager): stop the tug of war rather than flood the X server.
                    let owner = content.ownerPID.map { " (pid \($0))" } ?? ""
                    FileHandle.standardError.write(Data("clipboard guard: \(content.selection.rawValue) keeps being taken back by its owner\(owner); not guarding this copy\n".utf8))
                } else {
                    takeOver(change.selection, content: content)
                }
            }
        }
    }

    /// Handles an event that is not part of reading a selection: owner changes are queued;
    /// requests for guarded selections are answered; INCR transfers advance.
    private func dispatch(_ event: XEvent) {
        if let change = ownerChange(event) {
            pendingOwnerChanges.append(change)
            return
        }
        switch event.type {
        case Self.selectionRequest: answer(event.xselectionrequest)
        case Self.selectionClear: guarded[event.xselectionclear.selection] = nil
        case Self.propertyNotify where event.xproperty.window == root:
            if event.xproperty.atom == atoms.activeWindow { focus?.focusChanged(to: focusedWindow()) }
        case Self.propertyNotify where event.xproperty.window != window && event.xproperty.state == Self.propertyDelete:
            continueTransfer(OutgoingKey(requestor: event.xproperty.window, property: event.xproperty.atom))
        default: break
        }
    }

    // MARK: Guarding (watcher thread only)

    /// True when the guard has taken `selection` over five times in five seconds.
    private func contended(_ selection: Atom) -> Bool {
        let now = ContinuousClock.now
        takeovers[selection, default: []].removeAll { now - $0 > .seconds(5) }
        return takeovers[selection, default: []].count >= 5
    }

    private func takeOver(_ selection: Atom, content: ClipboardContent) {
        takeovers[selection, default: []].append(.now)
        _ = lib.setSelectionOwner(display, selection, window, 0)
        guard lib.getSelectionOwner(display, selection) == window else { return }
        guarded[selection] = (content, 0)
        _ = lib.flush(display)
    }

    private func answer(_ request: XSelectionRequestEvent) {
        // Obsolete clients pass None as the property: the target names it.
        let property = request.property != 0 ? request.property : request.target
        let received = ContinuousClock.now
        var served = false
        var verdict: PasteVerdict?
        defer {
            notify(request, property: served ? property : 0)
            verdict?.answered?(ContinuousClock.now - received)
        }
        guard let entry = guarded[request.selection] else { return }
        if request.target == atoms.multiple {
            served = answerMultiple(request, entry: entry, verdict: &verdict, received: received)
        } else {
            served = provide(request.target, to: request, property: property, entry: entry, verdict: &verdict, received: received)
        }
    }

    /// MULTIPLE (ICCCM 2.6.2): the requestor's property lists (target, property) pairs; each is
    /// converted in turn and a refused one has its property replaced by None. Clipboard managers
    /// fetch everything this way. One paste, so one policy decision for all its data targets.
    private func answerMultiple(
        _ request: XSelectionRequestEvent, entry: (content: ClipboardContent, since: Time), verdict: inout PasteVerdict?, received: ContinuousClock.Instant
    ) -> Bool {
        guard request.property != 0, let pairs = property(of: request.requestor, request.property, maxBytes: 16 * 1024) else { return false }
        var list = pairs.data.withUnsafeBytes { Array($0.bindMemory(to: UInt.self)) }
        guard list.count >= 2 else { return false }
        for index in stride(from: 0, to: list.count - 1, by: 2) {
            let target = Atom(list[index])
            let property = Atom(list[index + 1])
            guard target != atoms.multiple, property != 0 else {
                list[index + 1] = 0
                continue
            }
            if !provide(target, to: request, property: property, entry: entry, verdict: &verdict, received: received) { list[index + 1] = 0 }
        }
        list.withUnsafeBytes { raw in
            _ = lib.changeProperty(
                display, request.requestor, request.property, pairs.type, 32, 0, raw.bindMemory(to: UInt8.self).baseAddress, Int32(list.count))
        }
        return true
    }

    /// Converts the guarded content to `target` on the requestor's `property`, deciding the paste
    /// (once per request: `verdict`) for data targets; false when refused or not offered.
    private func provide(
        _ target: Atom, to request: XSelectionRequestEvent, property: Atom, entry: (content: ClipboardContent, since: Time),
        verdict: inout PasteVerdict?, received: ContinuousClock.Instant
    ) -> Bool {
        let content = entry.content
        var offered = [atoms.targets, atoms.timestamp, atoms.multiple, atoms.utf8, atoms.textPlainUTF8, atoms.textPlain, atoms.text, atoms.string]
        if content.html != nil { offered.append(atoms.html) }
        switch target {
        case atoms.targets:
            let list = offered.map { UInt($0) }
            list.withUnsafeBytes { raw in
                _ = lib.changeProperty(display, request.requestor, property, Self.atomType, 32, 0, raw.bindMemory(to: UInt8.self).baseAddress, Int32(list.count))
            }
            return true
        case atoms.timestamp:
            let time = [UInt(entry.since)]
            time.withUnsafeBytes { raw in
                _ = lib.changeProperty(display, request.requestor, property, Self.integerType, 32, 0, raw.bindMemory(to: UInt8.self).baseAddress, 1)
            }
            return true
        default:
            break
        }
        guard offered.contains(target), target != atoms.multiple, let guarding else { return false }
        let decided: PasteVerdict
        if let verdict {
            decided = verdict
        } else {
            let requestorPID = clientPID(of: request.requestor)
            decided = guarding.pasteRequested(
                PasteRequest(
                    selection: content.selection, target: offeredName(target), requestorPID: requestorPID,
                    window: activeWindow(of: requestorPID), content: content, received: received))
            verdict = decided
        }
        guard decided.serve else { return false }
        let data: [UInt8]
        var type = atoms.utf8
        switch target {
        case atoms.html:
            data = content.html ?? []
            type = atoms.html
        case atoms.string:
            // STRING is Latin-1: characters beyond it become '?'.
            data = String(decoding: content.text, as: UTF8.self).unicodeScalars.map { $0.value < 256 ? UInt8($0.value) : UInt8(ascii: "?") }
            type = atoms.string
        default:
            data = content.text
        }
        return send(data, type: type, to: request.requestor, property: property)
    }

    /// The name of a target we offer, without asking the server (a round trip on the paste path).
    private func offeredName(_ target: Atom) -> String {
        switch target {
        case atoms.utf8: "UTF8_STRING"
        case atoms.textPlainUTF8: "text/plain;charset=utf-8"
        case atoms.textPlain: "text/plain"
        case atoms.text: "TEXT"
        case atoms.string: "STRING"
        case atoms.html: "text/html"
        default: name(target) ?? "?"
        }
    }

    /// Writes `data` to the requestor's property, INCR when large.
    private func send(_ data: [UInt8], type: Atom, to requestor: Window, property: Atom) -> Bool {
        if data.count <= Self.incrChunk {
            data.withUnsafeBufferPointer { buffer in
                _ = lib.changeProperty(display, requestor, property, type, 8, 0, buffer.baseAddress, Int32(buffer.count))
            }
            return true
        }
        // INCR: announce the size; the requestor deletes the property for each next chunk.
        _ = lib.selectInput(display, requestor, Self.propertyChangeMask)
        let size = [UInt(data.count)]
        size.withUnsafeBytes { raw in
            _ = lib.changeProperty(display, requestor, property, atoms.incr, 32, 0, raw.bindMemory(to: UInt8.self).baseAddress, 1)
        }
        transfers[OutgoingKey(requestor: requestor, property: property)] = OutgoingTransfer(type: type, data: data, offset: 0, lastActivity: .now)
        return true
    }

    private func continueTransfer(_ key: OutgoingKey) {
        guard var transfer = transfers[key] else { return }
        let end = min(transfer.data.count, transfer.offset + Self.incrChunk)
        transfer.data.withUnsafeBufferPointer { buffer in
            _ = lib.changeProperty(display, key.requestor, key.property, transfer.type, 8, 0, buffer.baseAddress.map { $0 + transfer.offset }, Int32(end - transfer.offset))
        }
        if transfer.offset == transfer.data.count {
            transfers[key] = nil  // that was the empty closing chunk
            if !transfers.keys.contains(where: { $0.requestor == key.requestor }) { _ = lib.selectInput(display, key.requestor, 0) }
        } else {
            transfer.offset = end
            transfer.lastActivity = .now
            transfers[key] = transfer
        }
        _ = lib.flush(display)
    }

    /// Requestors that stopped reading are dropped after five seconds.
    private func expireTransfers() {
        let now = ContinuousClock.now
        for (key, transfer) in transfers where now - transfer.lastActivity > .seconds(5) { transfers[key] = nil }
    }

    private func notify(_ request: XSelectionRequestEvent, property: Atom) {
        var reply = XEvent()
        reply.xselection.type = Self.selectionNotify
        reply.xselection.display = display
        reply.xselection.requestor = request.requestor
        reply.xselection.selection = request.selection
        reply.xselection.target = request.target
        reply.xselection.property = property
        reply.xselection.time = request.time
        _ = lib.sendEvent(display, request.requestor, 0, 0, &reply)
        _ = lib.flush(display)
    }

    /// Waits until the connection has data or `duration` passes.
    /// Waits until the connection has data, `stop()` is called, or `duration` passes (nil: no limit).
    private func wait(upTo duration: Duration?) -> Bool {
        if lib.pending(display) > 0 { return true }
        var descriptors = [
            pollfd(fd: lib.connectionNumber(display), events: Int16(POLLIN), revents: 0),
            pollfd(fd: thread.wakeDescriptor, events: Int16(POLLIN), revents: 0),
        ]
        let milliseconds = duration.map { Int32($0.components.seconds * 1000 + $0.components.attoseconds / 1_000_000_000_000_000) } ?? -1
        guard poll(&descriptors, 2, milliseconds) > 0 else { return false }
        if descriptors[1].revents != 0 { return false }  // stop() woke us
        return lib.pending(display) > 0
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
        var sourceURL: String?
        if targetAtoms.contains(atoms.sourceURL), let url = convert(selection, to: atoms.sourceURL), url.data.count <= 8192 {
            sourceURL = String(decoding: url.data.prefix { $0 != 0 }, as: UTF8.self)
        }
        var bytes = text.data
        if textTarget == atoms.string {
            // STRING is Latin-1.
            bytes = Array(String(bytes.map { Character(Unicode.Scalar($0)) }).utf8)
        }
        return ClipboardContent(
            selection: which, targets: names, text: bytes, html: html, ownerPID: clientPID(of: owner), sourceURL: sourceURL, truncated: text.truncated)
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

    /// The active window (EWMH `_NET_ACTIVE_WINDOW`) when the requesting process created it:
    /// a browser asks for the selection from a hidden window, but the user pastes into the tab
    /// in its active window. A window of another process says nothing about this paste.
    private func activeWindow(of requestorPID: pid_t?) -> WindowIdentity? {
        guard let window = activeWindowID() else { return nil }
        if let requestorPID, clientPID(of: window) != requestorPID { return nil }
        return identity(of: window)
    }

    /// The window with the focus, its process and identity.
    private func focusedWindow() -> FocusedWindow? {
        guard let window = activeWindowID() else { return nil }
        return FocusedWindow(pid: clientPID(of: window), identity: identity(of: window))
    }

    private func activeWindowID() -> Window? {
        guard let active = property(of: root, atoms.activeWindow, maxBytes: 8), active.type == Self.windowType, active.data.count >= MemoryLayout<UInt>.size
        else { return nil }
        let window = active.data.withUnsafeBytes { $0.loadUnaligned(as: UInt.self) }
        return window == 0 ? nil : Window(window)
    }

    private func identity(of window: Window) -> WindowIdentity {
        let title = (property(of: window, atoms.wmName, maxBytes: 4096) ?? property(of: window, Self.legacyNameAtom, maxBytes: 4096))
            .map { String(decoding: $0.data, as: UTF8.self) }
        let wmClass = property(of: window, Self.classAtom, maxBytes: 1024).map { value in
            value.data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        }
        return WindowIdentity(title: title, wmClass: wmClass ?? [])
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
            // What a read waits for: notifications and our own property's changes. Everything
            // else (requests for guarded selections, owner changes) is handled as usual.
            if event.type == Self.selectionNotify || (event.type == Self.propertyNotify && event.xproperty.window == window) {
                return event
            }
            dispatch(event)
        }
    }

    /// Reads (and deletes) our property.
    private func property(delete: Bool) -> (type: Atom, data: [UInt8])? {
        property(of: window, atoms.property, maxBytes: maxBytes + 4, delete: delete)
    }

    /// Reads a window property (up to about `maxBytes`); nil when it does not exist.
    private func property(of window: Window, _ atom: Atom, maxBytes: Int, delete: Bool = false) -> (type: Atom, data: [UInt8])? {
        var type: Atom = 0
        var format: Int32 = 0
        var items: UInt = 0
        var after: UInt = 0
        var value: UnsafeMutablePointer<UInt8>?
        // Length is in 32-bit units.
        let length = maxBytes / 4 + 1
        guard lib.getWindowProperty(display, window, atom, 0, length, delete ? 1 : 0, 0, &type, &format, &items, &after, &value) == 0
        else { return nil }
        if type == 0 {
            if let value { _ = lib.free(value) }
            return nil
        }
        defer { if let value { _ = lib.free(value) } }
        guard let value else { return (type, []) }
        // Format 32 items are C longs in memory.
        let size = format == 32 ? MemoryLayout<Int>.size : Int(format) / 8
        return (type, Array(UnsafeBufferPointer(start: value, count: Int(items) * max(1, size))))
    }
}
