import Foundation
import Synchronization

/// Web console sessions, in memory: a session is made at login from a valid API token (its role
/// is the token's), lasts at most `lifetime`, and carries the CSRF token every form must echo. A
/// collector restart logs everyone out, which is the safe way round.
final class ConsoleSessions: Sendable {
    struct Session: Sendable {
        var token: APIToken
        var csrf: String
        var expires: Date
    }

    private let sessions = Mutex<[String: Session]>([:])
    let lifetime: TimeInterval

    init(lifetime: TimeInterval = 8 * 3600) {
        self.lifetime = lifetime
    }

    /// A new session; returns its id (the cookie's value).
    func open(for token: APIToken, now: Date = Date()) -> (id: String, session: Session) {
        let id = Self.secret()
        let session = Session(token: token, csrf: Self.secret(), expires: now.addingTimeInterval(lifetime))
        sessions.withLock { sessions in
            if sessions.count > 10_000 { sessions = sessions.filter { $0.value.expires > now } }
            sessions[id] = session
        }
        return (id, session)
    }

    func session(_ id: String, now: Date = Date()) -> Session? {
        sessions.withLock { sessions in
            guard let session = sessions[id] else { return nil }
            guard session.expires > now else {
                sessions[id] = nil
                return nil
            }
            return session
        }
    }

    func close(_ id: String) {
        _ = sessions.withLock { $0.removeValue(forKey: id) }
    }

    /// 32 random bytes (the system's CSPRNG), base64url.
    static func secret() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Compares secrets in constant time.
    static func same(_ a: String, _ b: String) -> Bool {
        let (x, y) = (Array(a.utf8), Array(b.utf8))
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
