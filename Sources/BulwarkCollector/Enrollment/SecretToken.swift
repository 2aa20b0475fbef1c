import BulwarkCore
import Crypto
import Foundation

/// Bearer secrets (enrollment and API tokens): 256 random bits, shown once, stored as SHA-256.
///
/// A fast hash is enough here: the tokens are random and long, so there is nothing to brute-force
/// that a slow password hash would protect.
public enum SecretToken {
    /// A new token, e.g. `bwe_Xq3…` for enrollment or `bwa_…` for the API.
    public static func generate(prefix: String) -> String {
        let key = SymmetricKey(size: .bits256)
        let base64 = key.withUnsafeBytes { Data($0) }.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        return "\(prefix)_\(base64)"
    }

    /// The stored form of a token.
    public static func hash(_ token: String) -> String {
        AgentIdentity.hex(SHA256.hash(data: Data(token.utf8)))
    }
}
