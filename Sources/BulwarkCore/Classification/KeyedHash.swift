import Crypto
import Foundation

/// The keyed hash carried in telemetry instead of a sensitive value: HMAC-SHA256 with the
/// per-deployment key over the value's normalised form, so analysts can see that the same card
/// leaked three times without anyone seeing the card. Truncated to 128 bits (32 hex digits).
public struct KeyedHash: Sendable {
    let key: SymmetricKey

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
        var copy = text
        return copy.withUTF8 { mask(UnsafeRawBufferPointer($0), head: head, tail: tail) }
    }

    /// The same for UTF-8 bytes; ASCII values (nearly all) are masked without Unicode
    /// properties or intermediate copies.
    public static func mask(_ bytes: UnsafeRawBufferPointer, head: Int, tail: Int) -> String {
        guard bytes.allSatisfy({ $0 < 0x80 }) else { return maskCharacters(String(decoding: bytes, as: UTF8.self), head: head, tail: tail) }
        var significant = 0
        for byte in bytes where Candidates.isAlphanumeric(byte) { significant += 1 }
        let reveal = min(head + tail, significant / 2)
        let shownHead = min(head, reveal)
        let shownTail = min(tail, reveal - shownHead)
        return String(unsafeUninitializedCapacity: bytes.count) { output in
            var seen = 0
            for (index, byte) in bytes.enumerated() {
                if Candidates.isAlphanumeric(byte) {
                    output[index] = seen < shownHead || seen >= significant - shownTail ? byte : UInt8(ascii: "*")
                    seen += 1
                } else {
                    output[index] = byte
                }
            }
            return bytes.count
        }
    }

    private static func maskCharacters(_ text: String, head: Int, tail: Int) -> String {
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

extension KeyedHash {
    /// 128 bits of HMAC-SHA256 over the concatenated parts, as a hashable value (EDM tables).
    public func digest(_ parts: [UInt8]...) -> Digest128 {
        let mac = HMAC<SHA256>.authenticationCode(for: parts.flatMap { $0 }, using: key)
        return mac.withUnsafeBytes { raw in
            Digest128(high: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self).bigEndian,
                      low: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self).bigEndian)
        }
    }
}

/// A 128-bit hash, written as 32 hex digits.
public struct Digest128: Hashable, Sendable, Codable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public var description: String {
        let text = String(high, radix: 16) + "|" + String(low, radix: 16)
        let parts = text.split(separator: "|").map { String(repeating: "0", count: 16 - $0.count) + $0 }
        return parts.joined()
    }

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    public init?(hex: String) {
        guard hex.utf8.count == 32, let high = UInt64(hex.prefix(16), radix: 16), let low = UInt64(hex.suffix(16), radix: 16) else { return nil }
        self.init(high: high, low: low)
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = Digest128(hex: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not 32 hex digits"))
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
