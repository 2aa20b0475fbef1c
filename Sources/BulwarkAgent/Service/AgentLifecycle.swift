import Synchronization

/// What a running `AgentService` is told from outside: whether its stop is a reload (then it
/// records no `agent.stopped`/`agent.tamper` and starts again at once with the new settings).
public final class AgentLifecycle: Sendable {
    private let reloading = Mutex(false)

    public init() {}

    public var isReloading: Bool { reloading.withLock { $0 } }

    public func markReloading() { reloading.withLock { $0 = true } }
}
