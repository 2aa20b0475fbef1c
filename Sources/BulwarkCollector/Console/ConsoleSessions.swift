import Foundation

/// Web console sessions: made at login from a valid API token (the session's role is the
/// token's), lasting at most `lifetime`, each with the CSRF token every form must echo. Kept in
/// the store by the SHA-256 of their id, so every collector behind a load balancer knows them
/// and revoking the token ends them at once.
struct ConsoleSessions: Sendable {
    struct Session: Sendable {
        var token: APIToken
        var csrf: String
        var expires: Date
    }

    let store: any CollectorStore
    let lifetime: TimeInterval

    init(store: any CollectorStore, lifetime: TimeInterval = 8 * 3600) {
        self.store = store
        self.lifetime = lifetime
    }

    /// A new session; returns its id (the cookie's value).
    func open(for token: APIToken, now: Date = Date()) async throws -> (id: String, session: Session) {
        let id = Self.secret()
        let session = Session(token: token, csrf: Self.secret(), expires: now.addingTimeInterval(lifetime))
        try await store.openConsoleSession(idHash: SecretToken.hash(id), tokenID: token.id, csrf: session.csrf, expires: session.expires, now: now)
        return (id, session)
    }

    /// The session of a cookie's id; nil when unknown, expired or its token revoked.
    func session(_ id: String, now: Date = Date()) async throws -> Session? {
        try await store.consoleSession(idHash: SecretToken.hash(id), now: now).map { Session(token: $0.token, csrf: $0.csrf, expires: $0.expires) }
    }

    func close(_ id: String) async throws {
        try await store.closeConsoleSession(idHash: SecretToken.hash(id))
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
