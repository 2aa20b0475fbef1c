/// Candidate extraction: the first, cheap pass of classification. It finds runs that could be
/// a sensitive value (numbers with separators, IBAN-shaped tokens, e-mail addresses) without
/// deciding anything; validators and keywords decide afterwards.
enum Candidates {
    /// A run of digits with single spaces or dashes between groups, bounded by non-alphanumerics.
    struct Number {
        var digits: [UInt8]
        var range: Range<Int>
        /// The separator used between groups (nil when contiguous).
        var separator: UInt8?
        /// Lengths of the digit groups, e.g. [3, 2, 4] for 536-22-1904.
        var groups: [Int]
    }

    @inline(__always)
    static func isDigit(_ byte: UInt8) -> Bool { byte &- UInt8(ascii: "0") < 10 }

    @inline(__always)
    static func isUpper(_ byte: UInt8) -> Bool { byte &- UInt8(ascii: "A") < 26 }

    @inline(__always)
    static func isAlphanumeric(_ byte: UInt8) -> Bool {
        isDigit(byte) || (byte | 0x20) &- UInt8(ascii: "a") < 26
    }

    /// Numbers of `minDigits…maxDigits` digits. A run with mixed separators or longer than
    /// `maxDigits` is not a candidate (it is part of something else, e.g. a long hash).
    static func numbers(in bytes: UnsafeRawBufferPointer, minDigits: Int, maxDigits: Int, visit: (Number) -> Void) {
        var index = 0
        let count = bytes.count
        while index < count {
            guard isDigit(bytes[index]), index == 0 || !isAlphanumeric(bytes[index - 1]) && bytes[index - 1] != UInt8(ascii: ".") else {
                index += 1
                continue
            }
            let start = index
            var digits: [UInt8] = []
            var groups: [Int] = [0]
            var separator: UInt8?
            var valid = true
            while index < count {
                let byte = bytes[index]
                if isDigit(byte) {
                    digits.append(byte)
                    groups[groups.count - 1] += 1
                    index += 1
                } else if (byte == UInt8(ascii: " ") || byte == UInt8(ascii: "-")), index + 1 < count, isDigit(bytes[index + 1]) {
                    if let separator, separator != byte { valid = false }
                    separator = byte
                    groups.append(0)
                    index += 1
                } else {
                    break
                }
                if digits.count > maxDigits { valid = false }
            }
            // Skip the rest of a run that was too long or mixed.
            while index < count, isAlphanumeric(bytes[index]) { index += 1; valid = false }
            if index < count, bytes[index] == UInt8(ascii: "."), index + 1 < count, isDigit(bytes[index + 1]) { valid = false }
            if valid, digits.count >= minDigits {
                visit(Number(digits: digits, range: start..<index, separator: separator, groups: groups))
            }
        }
    }

    /// IBAN-shaped tokens: two capital letters, two digits, then 11–30 capitals or digits,
    /// optionally in groups of four separated by single spaces.
    static func ibans(in bytes: UnsafeRawBufferPointer, visit: (_ compact: [UInt8], _ range: Range<Int>) -> Void) {
        let count = bytes.count
        var index = 0
        while index + 15 <= count {
            guard isUpper(bytes[index]), isUpper(bytes[index + 1]), isDigit(bytes[index + 2]), isDigit(bytes[index + 3]),
                  index == 0 || !isAlphanumeric(bytes[index - 1])
            else {
                index += 1
                continue
            }
            var compact: [UInt8] = []
            var cursor = index
            while cursor < count, compact.count < 34 {
                let byte = bytes[cursor]
                if isUpper(byte) || isDigit(byte) {
                    compact.append(byte)
                    cursor += 1
                } else if byte == UInt8(ascii: " "), compact.count % 4 == 0, cursor + 1 < count,
                          isUpper(bytes[cursor + 1]) || isDigit(bytes[cursor + 1]) {
                    cursor += 1
                } else {
                    break
                }
            }
            if compact.count >= 15, cursor == count || !isAlphanumeric(bytes[cursor]) {
                visit(compact, index..<cursor)
                index = cursor
            } else {
                index += 1
            }
        }
    }

    /// E-mail addresses: `local@domain.tld` with an ASCII local part and a dotted domain whose
    /// last label has at least two letters.
    static func emails(in bytes: UnsafeRawBufferPointer, visit: (Range<Int>) -> Void) {
        func isLocal(_ byte: UInt8) -> Bool {
            isAlphanumeric(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "%")
                || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-")
        }
        func isDomain(_ byte: UInt8) -> Bool { isAlphanumeric(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") }
        var searchFrom = 0
        for at in 0..<bytes.count where bytes[at] == UInt8(ascii: "@") && at >= searchFrom {
            var start = at
            while start > 0, isLocal(bytes[start - 1]), at - start < 64 { start -= 1 }
            var end = at + 1
            while end < bytes.count, isDomain(bytes[end]), end - at < 255 { end += 1 }
            // Trailing dots or dashes belong to the sentence, not the address.
            while end > at + 1, bytes[end - 1] == UInt8(ascii: ".") || bytes[end - 1] == UInt8(ascii: "-") { end -= 1 }
            while start < at, bytes[start] == UInt8(ascii: ".") { start += 1 }
            guard start < at, end > at + 1 else { continue }
            // user@host inside a URL (scheme://user@host, scheme://user:pass@host) is not an address.
            if start > 0, bytes[start - 1] == UInt8(ascii: ":") || bytes[start - 1] == UInt8(ascii: "/") { continue }
            let domain = UnsafeRawBufferPointer(rebasing: bytes[(at + 1)..<end])
            guard let lastDot = domain.lastIndex(of: UInt8(ascii: ".")), lastDot > 0 else { continue }
            let tld = domain[(lastDot + 1)...]
            guard tld.count >= 2, tld.allSatisfy({ ($0 | 0x20) &- UInt8(ascii: "a") < 26 }) else { continue }
            visit(start..<end)
            searchFrom = end
        }
    }

    /// Maximal runs of upper-case letters and digits, with at least one of each, of a length
    /// in `lengths`, bounded by non-alphanumerics (national identifiers such as AB123456C).
    static func tokens(in bytes: UnsafeRawBufferPointer, lengths: ClosedRange<Int>, visit: (_ token: [UInt8], _ range: Range<Int>) -> Void) {
        var index = 0
        let count = bytes.count
        while index < count {
            let byte = bytes[index]
            guard isUpper(byte) || isDigit(byte), index == 0 || !isAlphanumeric(bytes[index - 1]) else {
                index += 1
                continue
            }
            let start = index
            var hasDigit = false
            var hasLetter = false
            var lowercase = false
            while index < count, isAlphanumeric(bytes[index]) {
                if isDigit(bytes[index]) { hasDigit = true } else if isUpper(bytes[index]) { hasLetter = true } else { lowercase = true }
                index += 1
            }
            if !lowercase, hasDigit, hasLetter, lengths.contains(index - start) {
                visit(Array(UnsafeRawBufferPointer(rebasing: bytes[start..<index])), start..<index)
            }
        }
    }
}
