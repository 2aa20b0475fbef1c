import BulwarkCore
import Foundation

/// Watches and guards the Wayland clipboard and primary selection through the data-control
/// protocol (`ext-data-control-v1`, or `wlr-data-control-unstable-v1` on wlroots compositors
/// such as sway and on KDE), the Wayland counterpart of `X11ClipboardWatcher`:
///
/// - every new selection is read once (a text type, and `text/html` when offered) and handed to
///   the `ClipboardGuarding` delegate;
/// - a selection the delegate wants guarded is taken over: the watcher offers the same types from
///   a source of its own and becomes the selection;
/// - each paste arrives as a `send` with the write end of the reader's pipe; the reader is found
///   by that pipe in `/proc` (else the compositor's focused window, else unknown) and the
///   delegate decides: the content is written, or the pipe is closed empty — the reader never
///   hangs.
///
/// GNOME's compositor offers no data-control protocol: `init` then fails with `.noDataControl`
/// and says so.
public final class WaylandClipboardWatcher: @unchecked Sendable {
    // Mutable state is touched only on the watcher's thread.

    public enum Failure: Error, CustomStringConvertible {
        case connection(String)
        case noDataControl(compositor: String)
        case noSeat

        public var description: String {
            switch self {
            case .connection(let reason): reason
            case .noDataControl(let compositor):
                "the Wayland compositor (\(compositor)) offers no data-control protocol (ext-data-control-v1 or wlr-data-control-unstable-v1): "
                    + "copies and pastes of native Wayland apps cannot be watched here (GNOME); X11 apps under XWayland are still guarded by the X11 path"
            case .noSeat: "the Wayland compositor announced no seat"
            }
        }
    }

    /// Offered by the watcher's own sources, so it recognises its own selection.
    static let marker = "application/x-bulwark-guarded"
    /// What the watcher reads, in order of preference.
    static let textTypes = ["text/plain;charset=utf-8", "UTF8_STRING", "text/plain", "TEXT", "STRING"]

    public let maxBytes: Int
    public let timeout: Duration
    private let connection: WaylandConnection
    private let guarding: (any ClipboardGuarding)?
    private let swaySocket: String?
    private let focus: (any FocusObserving)?
    /// Sway's window events (watcher thread only after init).
    private var focusEvents: Int32?
    private let thread: WatcherThread
    private let device: UInt32
    private let supportsPrimary: Bool
    /// Offers announced by the compositor: id → MIME types.
    private var offers: [UInt32: [String]] = [:]
    /// The offer currently standing for each selection (destroyed when replaced).
    private var current: [ClipboardContent.Selection: UInt32] = [:]
    /// Our sources: id → the selection and content they serve.
    private var sources: [UInt32: (selection: ClipboardContent.Selection, content: ClipboardContent)] = [:]

    // Opcodes shared by ext-data-control-v1 and wlr-data-control-unstable-v1.
    private enum Request {
        static let registryBind: UInt16 = 0, displaySync: UInt16 = 0, displayGetRegistry: UInt16 = 1
        static let managerCreateSource: UInt16 = 0, managerGetDevice: UInt16 = 1
        static let deviceSetSelection: UInt16 = 0, deviceSetPrimary: UInt16 = 2
        static let sourceOffer: UInt16 = 0, sourceDestroy: UInt16 = 1
        static let offerReceive: UInt16 = 0, offerDestroy: UInt16 = 1
    }

    /// Connects to `displayName` (nil: `$WAYLAND_DISPLAY`).
    /// - Parameter focus: told when the focus moves (sway and i3-compatible compositors, whose
    ///   IPC says so; other compositors do not tell clients).
    public init(
        displayName: String? = nil, maxBytes: Int = 16 * 1024 * 1024, timeout: Duration = .seconds(1), guarding: (any ClipboardGuarding)? = nil,
        focus: (any FocusObserving)? = nil
    ) throws(Failure) {
        // A reader that goes away mid-paste must not kill the helper with SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        let session = try Self.open(displayName: displayName)
        do { thread = try WatcherThread() } catch { throw .connection(error.description) }
        connection = session.connection
        device = session.device
        manager = session.manager
        supportsPrimary = session.supportsPrimary
        dataControlProtocol = session.protocolName
        self.maxBytes = maxBytes
        self.timeout = timeout
        self.guarding = guarding
        swaySocket = SwayFocus.socketPath()
        self.focus = focus
        if focus != nil { focusEvents = SwayFocus.subscribeToWindowEvents(socketPath: swaySocket) }
    }

    deinit {
        if let focusEvents { close(focusEvents) }
    }

    /// Connects, binds a seat and the data-control manager, and asks for the seat's device.
    private static func open(displayName: String?) throws(Failure) -> (connection: WaylandConnection, device: UInt32, manager: UInt32, supportsPrimary: Bool, protocolName: String) {
        do {
            let connection = try WaylandConnection(path: try WaylandConnection.socketPath(display: displayName))
            // Globals: ask for the registry, then sync so that all of them have arrived.
            let registry = connection.newID()
            var arguments = WaylandArguments()
            arguments.uint(registry)
            try connection.send(WaylandConnection.display, Request.displayGetRegistry, arguments)
            let callback = connection.newID()
            arguments = WaylandArguments()
            arguments.uint(callback)
            try connection.send(WaylandConnection.display, Request.displaySync, arguments)
            var globals: [(name: UInt32, interface: String, version: UInt32)] = []
            var synced = false
            while !synced {
                for event in try connection.receive() {
                    var reader = WaylandArgumentReader(bytes: event.arguments)
                    if event.object == registry, event.opcode == 0 {
                        let name = reader.uint()
                        globals.append((name, reader.string() ?? "", reader.uint()))
                    } else if event.object == callback {
                        synced = true
                    } else if event.object == WaylandConnection.display, event.opcode == 0 {
                        _ = reader.uint()
                        _ = reader.uint()
                        throw WaylandConnection.Failure(description: "the compositor reported an error: \(reader.string() ?? "")")
                    }
                }
            }
            let compositor = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(connection.compositorPID)/exe"))
                .map { ($0 as NSString).lastPathComponent } ?? "unknown compositor"
            guard let manager = globals.first(where: { $0.interface == "ext_data_control_manager_v1" })
                ?? globals.first(where: { $0.interface == "zwlr_data_control_manager_v1" })
            else { throw Failure.noDataControl(compositor: compositor) }
            guard let seat = globals.first(where: { $0.interface == "wl_seat" }) else { throw Failure.noSeat }
            func bind(_ global: (name: UInt32, interface: String, version: UInt32), version: UInt32) throws -> UInt32 {
                let id = connection.newID()
                var arguments = WaylandArguments()
                arguments.uint(global.name)
                arguments.string(global.interface)
                arguments.uint(min(version, global.version))
                arguments.uint(id)
                try connection.send(registry, Request.registryBind, arguments)
                return id
            }
            let seatID = try bind(seat, version: 1)
            let managerID = try bind(manager, version: 2)
            let device = connection.newID()
            arguments = WaylandArguments()
            arguments.uint(device)
            arguments.uint(seatID)
            try connection.send(managerID, Request.managerGetDevice, arguments)
            // Primary selection came with version 2 of the wlr protocol (ext has it from 1).
            let primary = manager.interface == "ext_data_control_manager_v1" || manager.version >= 2
            return (connection, device, managerID, primary, manager.interface)
        } catch let failure as Failure {
            throw failure
        } catch let failure as WaylandConnection.Failure {
            throw .connection(failure.description)
        } catch {
            throw .connection("\(error)")
        }
    }

    private let manager: UInt32
    /// The data-control protocol the compositor offered (`ext_data_control_manager_v1`, or
    /// wlroots' `zwlr_data_control_manager_v1`).
    public let dataControlProtocol: String

    /// Copies as they happen, until `stop()`. Call once.
    public func contents() -> AsyncStream<ClipboardContent> {
        thread.stream(name: "bulwark-wayland-clipboard") { [self] deliver in run(deliver) }
    }

    public func stop() { thread.stop() }

    private var stopping: Bool { thread.stopRequested }

    // MARK: Event loop (watcher thread)

    private func run(_ deliver: (ClipboardContent) -> Void) {
        reportFocus()
        while !stopping {
            var descriptors = [
                pollfd(fd: connection.descriptor, events: Int16(POLLIN), revents: 0), pollfd(fd: thread.wakeDescriptor, events: Int16(POLLIN), revents: 0),
                pollfd(fd: focusEvents ?? -1, events: Int16(POLLIN), revents: 0),
            ]
            // Asleep when idle, unless the focused terminal or browser needs looking at again.
            let recheck = focusEvents == nil ? nil : focus?.recheckInterval
            let milliseconds = recheck.map { Int32($0.components.seconds * 1000) } ?? -1
            let ready = poll(&descriptors, 3, milliseconds)
            if ready == 0 { reportFocus() }
            guard ready > 0 else { continue }
            if descriptors[1].revents != 0 { return }
            if descriptors[2].revents != 0, let events = focusEvents {
                if SwayFocus.drain(events) {
                    reportFocus()
                } else {
                    FileHandle.standardError.write(Data("sway IPC closed: time in AI apps is no longer measured\n".utf8))
                    close(events)
                    focusEvents = nil
                }
            }
            guard descriptors[0].revents != 0 else { continue }
            let events: [WaylandConnection.Event]
            do { events = try connection.receive() } catch {
                FileHandle.standardError.write(Data("wayland clipboard guard stopped: \(error)\n".utf8))
                return
            }
            for event in events { handle(event, deliver: deliver) }
        }
    }

    /// Tells the focus tracker which window has the focus now.
    private func reportFocus() {
        guard let focus, focusEvents != nil else { return }
        focus.focusChanged(to: SwayFocus.focused(socketPath: swaySocket)?.focused)
    }

    private func handle(_ event: WaylandConnection.Event, deliver: (ClipboardContent) -> Void) {
        var reader = WaylandArgumentReader(bytes: event.arguments)
        switch (event.object, event.opcode) {
        case (WaylandConnection.display, 0):
            _ = reader.uint()
            _ = reader.uint()
            FileHandle.standardError.write(Data("wayland compositor error: \(reader.string() ?? "")\n".utf8))
        case (device, 0):  // data_offer: a new offer object follows with its types
            offers[reader.uint()] = []
        case (device, 1), (device, 3):  // selection, primary_selection
            let selection: ClipboardContent.Selection = event.opcode == 1 ? .clipboard : .primary
            selected(offer: reader.uint(), selection: selection, deliver: deliver)
        case (device, 2):  // finished: the device is gone (seat removed)
            FileHandle.standardError.write(Data("wayland clipboard device finished\n".utf8))
        case let (object, 0) where offers[object] != nil:  // offer.offer(mime)
            if let type = reader.string() { offers[object]?.append(type) }
        case let (object, 0) where sources[object] != nil:  // source.send(mime, fd)
            let type = reader.string() ?? ""
            if let descriptor = connection.takeDescriptor() { answer(source: object, type: type, descriptor: descriptor) }
        case let (object, 1) where sources[object] != nil:  // source.cancelled: someone copied something else
            sources[object] = nil
            try? connection.send(object, Request.sourceDestroy)
        default:
            break
        }
    }

    private func selected(offer: UInt32, selection: ClipboardContent.Selection, deliver: (ClipboardContent) -> Void) {
        if let previous = current[selection], previous != offer {
            offers[previous] = nil
            try? connection.send(previous, Request.offerDestroy)
        }
        current[selection] = offer == 0 ? nil : offer
        guard offer != 0, let types = offers[offer], !types.contains(Self.marker) else { return }
        guard let content = read(offer: offer, types: types, selection: selection) else { return }
        deliver(content)
        if let guarding, guarding.copied(content), selection == .clipboard || supportsPrimary {
            takeOver(selection, content: content, types: types)
        }
    }

    /// Reads an offer's text (and HTML) through pipes, within `timeout` each.
    private func read(offer: UInt32, types: [String], selection: ClipboardContent.Selection) -> ClipboardContent? {
        guard let textType = Self.textTypes.first(where: types.contains), let text = receive(offer: offer, type: textType) else { return nil }
        let html = types.contains("text/html") ? receive(offer: offer, type: "text/html")?.bytes : nil
        return ClipboardContent(selection: selection, targets: Array(types.prefix(32)), text: text.bytes, html: html, ownerPID: nil, truncated: text.truncated)
    }

    private func receive(offer: UInt32, type: String) -> (bytes: [UInt8], truncated: Bool)? {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { return nil }
        _ = fcntl(ends[0], F_SETFD, FD_CLOEXEC)
        defer { close(ends[0]) }
        var arguments = WaylandArguments()
        arguments.string(type)
        let sent = (try? connection.send(offer, Request.offerReceive, arguments, fds: [ends[1]])) != nil
        close(ends[1])  // the owner holds its copy now
        guard sent else { return nil }
        var bytes: [UInt8] = []
        var truncated = false
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        let deadline = ContinuousClock.now + timeout
        while true {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return nil }  // an owner that does not answer is skipped
            var descriptor = pollfd(fd: ends[0], events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000) + 1
            guard poll(&descriptor, 1, milliseconds) > 0 else { continue }
            let count = Glibc.read(ends[0], &chunk, chunk.count)
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            let take = min(count, maxBytes - bytes.count)
            bytes += chunk[0..<take]
            if take < count { truncated = true }
        }
        return (bytes, truncated)
    }

    private func takeOver(_ selection: ClipboardContent.Selection, content: ClipboardContent, types: [String]) {
        let source = connection.newID()
        var arguments = WaylandArguments()
        arguments.uint(source)
        do {
            try connection.send(manager, Request.managerCreateSource, arguments)
            var offered = Self.textTypes
            if content.html != nil { offered.append("text/html") }
            offered.append(Self.marker)
            for type in offered {
                var offer = WaylandArguments()
                offer.string(type)
                try connection.send(source, Request.sourceOffer, offer)
            }
            var set = WaylandArguments()
            set.uint(source)
            try connection.send(device, selection == .clipboard ? Request.deviceSetSelection : Request.deviceSetPrimary, set)
            sources[source] = (selection, content)
        } catch {
            FileHandle.standardError.write(Data("wayland clipboard guard cannot take the selection over: \(error)\n".utf8))
        }
    }

    /// A paste: find the reader, let the delegate decide, write or close.
    private func answer(source: UInt32, type: String, descriptor: Int32) {
        let received = ContinuousClock.now
        guard let (selection, content) = sources[source], let guarding, type != Self.marker else {
            close(descriptor)
            return
        }
        var pid = PipeReaders.reader(of: descriptor, excluding: [getpid(), connection.compositorPID])
        var window: WindowIdentity?
        let executable = pid.flatMap(ProcessLineage.executablePath(of:))
        // The focused window decides when the reader is unknown, and names a browser's tab.
        if pid == nil || executable.map(AIAppCatalog.isBrowser(executable:)) == true, let focused = SwayFocus.focused(socketPath: swaySocket) {
            if pid == nil { pid = focused.pid }
            if focused.pid == pid { window = WindowIdentity(title: focused.title, wmClass: focused.appID.map { [$0] } ?? []) }
        }
        let verdict = guarding.pasteRequested(
            PasteRequest(selection: selection, target: type, requestorPID: pid, window: window, content: content, received: received))
        guard verdict.serve else {
            close(descriptor)  // the reader sees an empty paste at once
            verdict.answered?(ContinuousClock.now - received)
            return
        }
        let data = type == "text/html" ? (content.html ?? []) : content.text
        verdict.answered?(ContinuousClock.now - received)
        // The reader drains the pipe at its own pace: write on a thread of its own.
        let writer = Thread {
            var offset = 0
            while offset < data.count {
                let written = data.withUnsafeBytes { raw in Glibc.write(descriptor, raw.baseAddress.map { $0 + offset }, raw.count - offset) }
                if written < 0, errno == EINTR { continue }
                guard written > 0 else { break }
                offset += written
            }
            close(descriptor)
        }
        writer.name = "bulwark-wayland-paste"
        writer.start()
    }
}
