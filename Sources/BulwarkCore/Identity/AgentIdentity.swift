import Crypto
import Foundation
import SwiftASN1
import X509

/// How agents are named: the first 128 bits, in hex, of the SHA-256 of the agent's
/// SubjectPublicKeyInfo. The name is bound to the key, so a certificate cannot claim another
/// agent's ID without that agent's private key.
public enum AgentIdentity {
    /// The agent ID for a public key.
    public static func agentID(for publicKey: Certificate.PublicKey) throws -> String {
        var serializer = DER.Serializer()
        try serializer.serialize(publicKey)
        return hex(SHA256.hash(data: serializer.serializedBytes)).prefix(32).lowercased()
    }

    /// The agent ID a client certificate speaks for: its subject common name, which must also be
    /// the ID derived from its key.
    public static func agentID(of certificate: Certificate) throws -> String? {
        let derived = try agentID(for: certificate.publicKey)
        let commonNames = certificate.subject.flatMap { $0 }.filter { $0.type == .RDNAttributeType.commonName }
        let claimed = commonNames.first.map { String(describing: $0.value) }
        return claimed == derived ? derived : nil
    }

    /// Lower-case hex of a digest or byte sequence.
    public static func hex<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    /// SHA-256 fingerprint of a certificate's DER encoding, as lower-case hex; what
    /// `--ca-sha256` pins and `bulwark-collector init` prints.
    public static func fingerprint(of certificate: Certificate) throws -> String {
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return hex(SHA256.hash(data: serializer.serializedBytes))
    }

    /// Normalises a fingerprint as people paste it: case and `:` separators do not matter.
    public static func normalizedFingerprint(_ text: String) -> String {
        text.lowercased().filter { $0.isHexDigit }
    }

    /// What a collector's CA bundle holds against a pinned fingerprint: the certificate whose
    /// fingerprint is `pinned` (nil when none is), and every fingerprint seen, for the error.
    /// The bundle holds one CA by default, the organisation's CA(s) with bring-your-own PKI.
    public static func pinnedCertificate(_ pinned: String, inPEMBundle text: String) -> (match: Certificate?, seen: [String]) {
        let certificates = ((try? PEMDocument.parseMultiple(pemString: text)) ?? [])
            .filter { $0.discriminator == "CERTIFICATE" }.compactMap { try? Certificate(pemDocument: $0) }
        let seen = certificates.compactMap { try? fingerprint(of: $0) }
        let expected = normalizedFingerprint(pinned)
        return (certificates.first { (try? fingerprint(of: $0)) == expected }, seen)
    }
}
