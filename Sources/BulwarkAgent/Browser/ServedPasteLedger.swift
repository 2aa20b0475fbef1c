import Crypto
import Foundation

/// Pastes the clipboard guard served to a browser whose extension is connected: the extension
/// then holds the same paste in the page and asks again, and the helper answers from here
/// rather than deciding (and recording) the one paste twice.
public final class ServedPasteLedger: @unchecked Sendable {
    // Written by the display thread, read by the bridge's connection threads, behind `lock`.
    private let lock = NSLock()
    private var served: [(digest: SHA256Digest, origin: String, at: ContinuousClock.Instant)] = []
    /// How long after the guard served it the page's paste event may ask.
    public let window: Duration

    public init(window: Duration = .seconds(5)) {
        self.window = window
    }

    /// The guard served `text` to a browser showing `origin`.
    public func note(_ text: [UInt8], origin: String) {
        let digest = Self.digest(String(decoding: text, as: UTF8.self))
        lock.withLock {
            let now = ContinuousClock.now
            served.removeAll { now - $0.at > window }
            served.append((digest, origin, now))
        }
    }

    /// Whether the guard served this text to this origin moments ago (used once).
    public func take(_ text: String, origin: String) -> Bool {
        let digest = Self.digest(text)
        return lock.withLock {
            let now = ContinuousClock.now
            guard let index = served.firstIndex(where: { $0.digest == digest && $0.origin == origin && now - $0.at <= window }) else { return false }
            served.remove(at: index)
            return true
        }
    }

    /// Browsers hand pages text with CRLF made LF (and X clients may send either).
    private static func digest(_ text: String) -> SHA256Digest {
        SHA256.hash(data: Data(text.replacingOccurrences(of: "\r\n", with: "\n").utf8))
    }
}
