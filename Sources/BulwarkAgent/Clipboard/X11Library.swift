import CBulwarkLinux
import Foundation

/// The X11 client libraries, loaded at run time so the agent runs on headless hosts without
/// them: libX11 for the protocol, libXfixes for selection-owner notifications, libXRes (optional)
/// to learn which process a client connection belongs to.
final class X11Library: @unchecked Sendable {
    // Immutable after init; the function pointers are plain C entry points.

    struct Unavailable: Error, CustomStringConvertible {
        var library: String
        var reason: String
        var description: String { "X11 clipboard guard unavailable: cannot load \(library) (\(reason)); install libx11-6 and libxfixes3" }
    }

    typealias OpenDisplay = @convention(c) (UnsafePointer<CChar>?) -> OpaquePointer?
    typealias CloseDisplay = @convention(c) (OpaquePointer?) -> Int32
    typealias DefaultRootWindow = @convention(c) (OpaquePointer?) -> Window
    typealias CreateSimpleWindow = @convention(c) (OpaquePointer?, Window, Int32, Int32, UInt32, UInt32, UInt32, UInt, UInt) -> Window
    typealias DestroyWindow = @convention(c) (OpaquePointer?, Window) -> Int32
    typealias InternAtom = @convention(c) (OpaquePointer?, UnsafePointer<CChar>?, Int32) -> Atom
    typealias GetAtomName = @convention(c) (OpaquePointer?, Atom) -> UnsafeMutablePointer<CChar>?
    typealias Free = @convention(c) (UnsafeMutableRawPointer?) -> Int32
    typealias ConvertSelection = @convention(c) (OpaquePointer?, Atom, Atom, Atom, Window, Time) -> Int32
    typealias GetWindowProperty = @convention(c) (
        OpaquePointer?, Window, Atom, Int, Int, Int32, Atom, UnsafeMutablePointer<Atom>?, UnsafeMutablePointer<Int32>?,
        UnsafeMutablePointer<UInt>?, UnsafeMutablePointer<UInt>?, UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?
    ) -> Int32
    typealias DeleteProperty = @convention(c) (OpaquePointer?, Window, Atom) -> Int32
    typealias NextEvent = @convention(c) (OpaquePointer?, UnsafeMutablePointer<XEvent>?) -> Int32
    typealias Pending = @convention(c) (OpaquePointer?) -> Int32
    typealias ConnectionNumber = @convention(c) (OpaquePointer?) -> Int32
    typealias Flush = @convention(c) (OpaquePointer?) -> Int32
    typealias SelectInput = @convention(c) (OpaquePointer?, Window, Int) -> Int32
    typealias GetSelectionOwner = @convention(c) (OpaquePointer?, Atom) -> Window
    typealias SetSelectionOwner = @convention(c) (OpaquePointer?, Atom, Window, Time) -> Int32
    typealias ChangeProperty = @convention(c) (OpaquePointer?, Window, Atom, Atom, Int32, Int32, UnsafePointer<UInt8>?, Int32) -> Int32
    typealias SendEvent = @convention(c) (OpaquePointer?, Window, Int32, Int, UnsafeMutablePointer<XEvent>?) -> Int32
    typealias ErrorHandler = @convention(c) (OpaquePointer?, UnsafeMutablePointer<XErrorEvent>?) -> Int32
    typealias SetErrorHandler = @convention(c) (ErrorHandler?) -> ErrorHandler?
    typealias FixesQueryExtension = @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int32>?, UnsafeMutablePointer<Int32>?) -> Int32
    typealias FixesSelectSelectionInput = @convention(c) (OpaquePointer?, Window, Atom, UInt) -> Void
    typealias ResQueryClientIds = @convention(c) (
        OpaquePointer?, Int, UnsafeMutablePointer<XResClientIdSpec>?, UnsafeMutablePointer<Int>?,
        UnsafeMutablePointer<UnsafeMutablePointer<XResClientIdValue>?>?
    ) -> Int32
    typealias ResGetClientPid = @convention(c) (UnsafeMutablePointer<XResClientIdValue>?) -> pid_t
    typealias ResClientIdsDestroy = @convention(c) (Int, UnsafeMutablePointer<XResClientIdValue>?) -> Void

    let openDisplay: OpenDisplay
    let closeDisplay: CloseDisplay
    let defaultRootWindow: DefaultRootWindow
    let createSimpleWindow: CreateSimpleWindow
    let destroyWindow: DestroyWindow
    let internAtom: InternAtom
    let getAtomName: GetAtomName
    let free: Free
    let convertSelection: ConvertSelection
    let getWindowProperty: GetWindowProperty
    let deleteProperty: DeleteProperty
    let nextEvent: NextEvent
    let pending: Pending
    let connectionNumber: ConnectionNumber
    let flush: Flush
    let selectInput: SelectInput
    let getSelectionOwner: GetSelectionOwner
    let setSelectionOwner: SetSelectionOwner
    let changeProperty: ChangeProperty
    let sendEvent: SendEvent
    let setErrorHandler: SetErrorHandler
    let fixesQueryExtension: FixesQueryExtension
    let fixesSelectSelectionInput: FixesSelectSelectionInput
    /// Nil when libXRes is missing: pasting clients are then identified by window only.
    let resQueryClientIds: ResQueryClientIds?
    let resGetClientPid: ResGetClientPid?
    let resClientIdsDestroy: ResClientIdsDestroy?

    init() throws(Unavailable) {
        let x11 = try Self.open("libX11.so.6")
        let fixes = try Self.open("libXfixes.so.3")
        let res = dlopen("libXRes.so.1", RTLD_NOW | RTLD_LOCAL)
        func load<T>(_ handle: UnsafeMutableRawPointer, _ name: String, _ library: String) throws(Unavailable) -> T {
            guard let symbol = dlsym(handle, name) else { throw Unavailable(library: library, reason: "no symbol \(name)") }
            return unsafeBitCast(symbol, to: T.self)
        }
        openDisplay = try load(x11, "XOpenDisplay", "libX11")
        closeDisplay = try load(x11, "XCloseDisplay", "libX11")
        defaultRootWindow = try load(x11, "XDefaultRootWindow", "libX11")
        createSimpleWindow = try load(x11, "XCreateSimpleWindow", "libX11")
        destroyWindow = try load(x11, "XDestroyWindow", "libX11")
        internAtom = try load(x11, "XInternAtom", "libX11")
        getAtomName = try load(x11, "XGetAtomName", "libX11")
        free = try load(x11, "XFree", "libX11")
        convertSelection = try load(x11, "XConvertSelection", "libX11")
        getWindowProperty = try load(x11, "XGetWindowProperty", "libX11")
        deleteProperty = try load(x11, "XDeleteProperty", "libX11")
        nextEvent = try load(x11, "XNextEvent", "libX11")
        pending = try load(x11, "XPending", "libX11")
        connectionNumber = try load(x11, "XConnectionNumber", "libX11")
        flush = try load(x11, "XFlush", "libX11")
        selectInput = try load(x11, "XSelectInput", "libX11")
        getSelectionOwner = try load(x11, "XGetSelectionOwner", "libX11")
        setSelectionOwner = try load(x11, "XSetSelectionOwner", "libX11")
        changeProperty = try load(x11, "XChangeProperty", "libX11")
        sendEvent = try load(x11, "XSendEvent", "libX11")
        setErrorHandler = try load(x11, "XSetErrorHandler", "libX11")
        fixesQueryExtension = try load(fixes, "XFixesQueryExtension", "libXfixes")
        fixesSelectSelectionInput = try load(fixes, "XFixesSelectSelectionInput", "libXfixes")
        if let res {
            resQueryClientIds = try? load(res, "XResQueryClientIds", "libXRes")
            resGetClientPid = try? load(res, "XResGetClientPid", "libXRes")
            resClientIdsDestroy = try? load(res, "XResClientIdsDestroy", "libXRes")
        } else {
            resQueryClientIds = nil
            resGetClientPid = nil
            resClientIdsDestroy = nil
        }
    }

    private static func open(_ name: String) throws(Unavailable) -> UnsafeMutableRawPointer {
        guard let handle = dlopen(name, RTLD_NOW | RTLD_LOCAL) else {
            throw Unavailable(library: name, reason: dlerror().map { String(cString: $0) } ?? "dlopen failed")
        }
        return handle
    }
}
