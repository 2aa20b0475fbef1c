import BulwarkCore
import Foundation

/// The window that has the focus, as the display server says.
public struct FocusedWindow: Sendable, Equatable {
    public var pid: pid_t?
    public var identity: WindowIdentity
}

/// Told whenever another window gets the focus (a seam: X11 today, compositor IPC later).
public protocol FocusObserving: Sendable {
    func focusChanged(to window: FocusedWindow?)
    /// How soon to report the focused window again although the focus did not move (nil: no
    /// need). A terminal starts or ends an AI tool, and a browser switches tabs, without any
    /// focus change, so the watcher looks again while one of those has the focus.
    var recheckInterval: Duration? { get }
}

/// Time spent in AI apps: each stretch an AI app's window had the focus becomes one `ai.focus`
/// event (app, seconds, how the app was recognised) when the focus moves on. Stretches under
/// `minimum` are not recorded (alt-tabbing past a window). Window titles are never recorded.
public final class FocusTracker: FocusObserving, @unchecked Sendable {
    // `current` and `catalog` are behind `lock`.

    public typealias Recorder = @Sendable (_ type: String, _ data: [String: JSONValue]) -> Void

    private let lock = NSLock()
    private var catalog: AIAppCatalog
    private var current: (resolved: AppResolver.Resolved, since: ContinuousClock.Instant)?
    /// The focused window is a terminal or a browser: what it shows can change in place.
    private var focusedChangesInPlace = false
    private let user: String?
    private let minimum: Duration
    private let record: Recorder

    public init(catalog: AIAppCatalog = AIAppCatalog(), user: String?, minimum: Duration = .seconds(1), record: @escaping Recorder) {
        self.catalog = catalog
        self.user = user
        self.minimum = minimum
        self.record = record
    }

    public func update(catalog: AIAppCatalog) {
        lock.withLock { self.catalog = catalog }
    }

    /// Told the focused AI app's id (nil: none) after every focus report.
    public var onFocus: (@Sendable (String?) -> Void)? {
        get { lock.withLock { focusListener } }
        set { lock.withLock { focusListener = newValue } }
    }
    private var focusListener: (@Sendable (String?) -> Void)?

    public func focusChanged(to window: FocusedWindow?) {
        let now = ContinuousClock.now
        let resolved = window.map { AppResolver(catalog: lock.withLock { catalog }).resolve(pid: $0.pid, window: $0.identity) }
        let changesInPlace = resolved?.executable.map { AIAppCatalog.isTerminal(executable: $0) || AIAppCatalog.isBrowser(executable: $0) } ?? false
        let ended = lock.withLock { () -> (AppResolver.Resolved, Duration)? in
            focusedChangesInPlace = changesInPlace
            let previous = current
            if let previous, resolved?.app != nil, previous.resolved.app?.id == resolved?.app?.id { return nil }  // same app, same stretch
            current = resolved.flatMap { $0.app == nil ? nil : ($0, now) }
            return previous.map { ($0.resolved, now - $0.since) }
        }
        if let (stretch, elapsed) = ended, elapsed >= minimum, let app = stretch.app { emit(app, elapsed, stretch.identifiedBy) }
        onFocus?(resolved?.app?.id)
    }

    public var recheckInterval: Duration? { lock.withLock { focusedChangesInPlace ? .seconds(5) : nil } }

    /// Ends the current stretch (the session is ending).
    public func flush() { focusChanged(to: nil) }

    private func emit(_ app: AIApp, _ elapsed: Duration, _ identifiedBy: String) {
        var data: [String: JSONValue] = [
            "app": .string(app.id), "category": .string(app.category), "evidence": .string("focus"), "identified_by": .string(identifiedBy),
            "seconds": .number((Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18).rounded()),
        ]
        if let user { data["user"] = .string(user) }
        record(EventType.aiFocus, data)
    }
}
