import Dispatch
import Foundation

/// SIGHUP as a stream of reload requests (`systemctl reload bulwark-agent`, `kill -HUP` of the
/// collector). Without it the default action would end the process.
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
