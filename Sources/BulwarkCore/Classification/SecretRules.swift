/// Prefix-anchored secret formats: API keys and tokens whose vendors give them a fixed prefix,
/// and PEM/OpenSSH private keys. Found by one case-insensitive prefix pass; each rule then
/// checks exact case, the body's alphabet and length, and the token boundary.
struct SecretRule: Sendable {
    enum Alphabet: Sendable {
        /// A–Z and 0–9.
        case upperAlphanumeric
        /// Letters and digits.
        case alphanumeric
        /// Letters, digits, `_` and `-`.
        case urlSafe
        /// URL-safe characters and `/`, for webhook paths.
        case urlPath

        func contains(_ byte: UInt8) -> Bool {
            switch self {
            case .upperAlphanumeric: return Candidates.isUpper(byte) || Candidates.isDigit(byte)
            case .alphanumeric: return Candidates.isAlphanumeric(byte)
            case .urlSafe: return Candidates.isAlphanumeric(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
            case .urlPath: return Alphabet.urlSafe.contains(byte) || byte == UInt8(ascii: "/")
            }
        }
    }

    var type: String
    var prefix: String
    var alphabet: Alphabet
    /// Length of the body after the prefix.
    var bodyLength: ClosedRange<Int>

    static let all: [SecretRule] = [
        .init(type: "aws_access_key_id", prefix: "AKIA", alphabet: .upperAlphanumeric, bodyLength: 16...16),
        .init(type: "aws_access_key_id", prefix: "ASIA", alphabet: .upperAlphanumeric, bodyLength: 16...16),
        .init(type: "github_token", prefix: "ghp_", alphabet: .alphanumeric, bodyLength: 36...36),
        .init(type: "github_token", prefix: "gho_", alphabet: .alphanumeric, bodyLength: 36...36),
        .init(type: "github_token", prefix: "ghu_", alphabet: .alphanumeric, bodyLength: 36...36),
        .init(type: "github_token", prefix: "ghs_", alphabet: .alphanumeric, bodyLength: 36...36),
        .init(type: "github_token", prefix: "ghr_", alphabet: .alphanumeric, bodyLength: 36...36),
        .init(type: "github_token", prefix: "github_pat_", alphabet: .urlSafe, bodyLength: 82...82),
        .init(type: "gitlab_token", prefix: "glpat-", alphabet: .urlSafe, bodyLength: 20...20),
        .init(type: "slack_token", prefix: "xoxb-", alphabet: .urlSafe, bodyLength: 24...200),
        .init(type: "slack_token", prefix: "xoxp-", alphabet: .urlSafe, bodyLength: 24...200),
        .init(type: "slack_token", prefix: "xoxa-", alphabet: .urlSafe, bodyLength: 24...200),
        .init(type: "slack_token", prefix: "xoxr-", alphabet: .urlSafe, bodyLength: 24...200),
        .init(type: "slack_webhook", prefix: "https://hooks.slack.com/services/", alphabet: .urlPath, bodyLength: 20...120),
        .init(type: "anthropic_api_key", prefix: "sk-ant-", alphabet: .urlSafe, bodyLength: 80...200),
        .init(type: "openai_api_key", prefix: "sk-proj-", alphabet: .urlSafe, bodyLength: 40...200),
        .init(type: "openai_api_key", prefix: "sk-svcacct-", alphabet: .urlSafe, bodyLength: 40...200),
        .init(type: "google_api_key", prefix: "AIza", alphabet: .urlSafe, bodyLength: 35...35),
        .init(type: "stripe_key", prefix: "sk_live_", alphabet: .alphanumeric, bodyLength: 24...99),
        .init(type: "stripe_key", prefix: "rk_live_", alphabet: .alphanumeric, bodyLength: 24...99),
    ]

    /// Documented example values that vendors publish; never reported.
    static let documentedExamples: Set<String> = [
        "AKIAIOSFODNN7EXAMPLE", "ASIAIOSFODNN7EXAMPLE",
    ]

    /// The end of the token starting at `start` (prefix included) if it fits this rule.
    func match(in bytes: UnsafeRawBufferPointer, at start: Int) -> Int? {
        let prefixBytes = Array(prefix.utf8)
        guard start + prefixBytes.count <= bytes.count else { return nil }
        for (offset, byte) in prefixBytes.enumerated() where bytes[start + offset] != byte { return nil }
        if start > 0, alphabet.contains(bytes[start - 1]) { return nil }
        var end = start + prefixBytes.count
        while end < bytes.count, alphabet.contains(bytes[end]), end - start - prefixBytes.count <= bodyLength.upperBound { end += 1 }
        guard bodyLength.contains(end - start - prefixBytes.count) else { return nil }
        let token = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
        if Self.documentedExamples.contains(token) || token.hasSuffix("EXAMPLE") { return nil }
        return end
    }
}

/// PEM and OpenSSH private key blocks (certificates and public keys are not secrets).
enum PrivateKeyRule {
    static let headers = [
        "-----BEGIN PRIVATE KEY-----", "-----BEGIN RSA PRIVATE KEY-----", "-----BEGIN EC PRIVATE KEY-----",
        "-----BEGIN DSA PRIVATE KEY-----", "-----BEGIN OPENSSH PRIVATE KEY-----", "-----BEGIN ENCRYPTED PRIVATE KEY-----",
    ]

    /// The end of the block (its END line, or the header alone when the block is cut off).
    static func match(in bytes: UnsafeRawBufferPointer, at start: Int, header: String) -> Int {
        let end = Array("-----END ".utf8)
        var index = start + header.utf8.count
        while index + end.count <= bytes.count {
            if bytes[index] == end[0], zip(end.indices, end).allSatisfy({ bytes[index + $0.0] == $0.1 }) {
                var close = index + end.count
                while close < bytes.count, bytes[close] != UInt8(ascii: "\n") { close += 1 }
                return close
            }
            index += 1
        }
        return start + header.utf8.count
    }
}
