import Dispatch
import Foundation

/// SIGTERM and SIGINT handled as a request to stop: `handler` runs once (on a dispatch queue),
/// then the process exits 0. Without it the default action kills the process where it stands,
/// losing what it held in memory (the session helper's last focus stretch and queued events).
public struct TerminationSignals {
    private let sources: [any DispatchSourceSignal]

    /// Installs the handlers; keep the value alive for as long as they should apply.
    public init(_ handler: @escaping @Sendable () -> Void) {
        let once = OnceFlag()
        sources = [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)  // delivered to the source instead of killing the process
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                guard once.claim() else { return }
                handler()
                exit(0)
            }
            source.resume()
            return source
        }
    }

    /// Keeps the sources referenced (they stop delivering once released).
    public func retain() { withExtendedLifetime(sources) {} }
}

/// True for the first caller only.
private final class OnceFlag: @unchecked Sendable {
    // `claimed` is behind `lock`.
    private let lock = NSLock()
    private var claimed = false

    func claim() -> Bool {
        lock.withLock {
            defer { claimed = true }
            return !claimed
        }
    }
}
