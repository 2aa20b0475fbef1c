import Crypto
import Foundation

/// The keyed hash carried in telemetry instead of a sensitive value: HMAC-SHA256 with the
/// per-deployment key over the value's normalised form, so analysts can see that the same card
/// leaked three times without anyone seeing the card. Truncated to 128 bits (32 hex digits).
public struct KeyedHash: Sendable {
    private let key: SymmetricKey

    public init(key: SymmetricKey) {
        self.key = key
    }

    /// Hash of `value` after `normalised` (e.g. digits only for numbers, upper case for IBANs).
    public func hash(_ value: some Sequence<UInt8>) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array(value), using: key)
        return AgentIdentity.hex(mac).prefix(32).description
    }
}

/// Masked snippets for findings: enough to recognise what kind of value it was and which one a
/// person means ("the card ending 1111"), not enough to use it.
public enum Masking {
    /// Keeps the first `head` and last `tail` alphanumeric characters and replaces the other
    /// letters and digits with `*`, preserving separators: `4111 1111 1111 1111` → `4111 **** **** 1111`.
    public static func mask(_ text: String, head: Int, tail: Int) -> String {
        let characters = Array(text)
        let significant = characters.indices.filter { characters[$0].isLetter || characters[$0].isNumber }
        // Never reveal more than half of a value, whatever head and tail ask for.
        let reveal = min(head + tail, significant.count / 2)
        let shownHead = min(head, reveal)
        let shownTail = min(tail, reveal - shownHead)
        let hidden = Set(significant.dropFirst(shownHead).dropLast(shownTail))
        return String(characters.indices.map { hidden.contains($0) ? "*" : characters[$0] })
    }
}
