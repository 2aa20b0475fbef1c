import Dispatch
import Foundation
import Synchronization

/// SIGHUP as a stream of reload requests (`systemctl reload bulwark-agent`). Without it the
/// default action would end the process.
public final class ReloadSignal: @unchecked Sendable {
    // `source` is set once and only cancelled in deinit; the stream is Sendable.
    public let requests: AsyncStream<Void>
    private let source: any DispatchSourceSignal

    public init() {
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        requests = stream
        signal(SIGHUP, SIG_IGN)  // delivered to the source instead
        source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        source.setEventHandler { continuation.yield() }
        source.resume()
    }

    deinit {
        source.cancel()
    }
}

/// What a running `AgentService` is told from outside: whether its stop is a reload (then it
/// records no `agent.stopped`/`agent.tamper` and starts again at once with the new settings).
public final class AgentLifecycle: Sendable {
    private let reloading = Mutex(false)

    public init() {}

    public var isReloading: Bool { reloading.withLock { $0 } }

    public func markReloading() { reloading.withLock { $0 = true } }
}
