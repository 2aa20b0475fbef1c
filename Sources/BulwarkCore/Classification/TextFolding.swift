import Foundation

/// Case- and diacritics-insensitive views of text for custom keyword dictionaries and EDM:
/// "Société Générale" and "SOCIETE GENERALE" compare equal. Latin letters with diacritics
/// (U+00C0–U+024F) fold to their ASCII base letter; everything else is kept as is.
public enum TextFolding {
    /// Two-byte UTF-8 sequences (lead 0xC3…0xC9) → ASCII lower-case letter, 0 when not folded.
    private static let table: [UInt8] = {
        var table = [UInt8](repeating: 0, count: 0x800)
        for code in 0xC0...0x24F {
            guard let scalar = Unicode.Scalar(code) else { continue }
            let folded = String(Character(scalar)).folding(options: [.diacriticInsensitive, .caseInsensitive], locale: nil)
            if folded.utf8.count == 1, let byte = folded.utf8.first, Candidates.isAlphanumeric(byte) {
                table[code] = KeywordMatcher.lower(byte)
            }
        }
        return table
    }()

    /// Folds a string (keywords, EDM values).
    public static func fold(_ text: String) -> String {
        text.folding(options: [.diacriticInsensitive, .caseInsensitive], locale: nil)
    }

    /// Folded bytes and, for each folded byte, the offset of the original byte it came from
    /// (plus one final entry for the end). Nil when `bytes` is ASCII: use them as they are
    /// (matching is already ASCII case-insensitive).
    static func fold(_ bytes: UnsafeRawBufferPointer) -> (bytes: [UInt8], origin: [Int])? {
        guard bytes.contains(where: { $0 >= 0x80 }) else { return nil }
        var output: [UInt8] = []
        var origin: [Int] = []
        output.reserveCapacity(bytes.count)
        origin.reserveCapacity(bytes.count + 1)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte >= 0xC3, byte <= 0xC9, index + 1 < bytes.count, bytes[index + 1] & 0xC0 == 0x80 {
                let code = Int(byte & 0x1F) << 6 | Int(bytes[index + 1] & 0x3F)
                let folded = table[code]
                if folded != 0 {
                    output.append(folded)
                    origin.append(index)
                    index += 2
                    continue
                }
            }
            output.append(byte)
            origin.append(index)
            index += 1
        }
        origin.append(bytes.count)
        return (output, origin)
    }
}
