#if canImport(Glibc)
import Glibc
#endif

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

    /// IBAN-shaped tokens: two letters, two digits, then 11–30 letters or digits, optionally in
    /// groups of four separated by single spaces. Letters are all capitals, or all lower case
    /// (`lowercase` true; typed by hand), never mixed. `compact` is upper-cased.
    static func ibans(in bytes: UnsafeRawBufferPointer, visit: (_ compact: [UInt8], _ range: Range<Int>, _ lowercase: Bool) -> Void) {
        @inline(__always) func isLower(_ byte: UInt8) -> Bool { byte &- UInt8(ascii: "a") < 26 }
        let count = bytes.count
        var index = 0
        while index + 15 <= count {
            let first = bytes[index]
            let lowercase = isLower(first)
            guard isUpper(first) || lowercase, lowercase ? isLower(bytes[index + 1]) : isUpper(bytes[index + 1]),
                  isDigit(bytes[index + 2]), isDigit(bytes[index + 3]), index == 0 || !isAlphanumeric(bytes[index - 1])
            else {
                index += 1
                continue
            }
            func isLetter(_ byte: UInt8) -> Bool { lowercase ? isLower(byte) : isUpper(byte) }
            var compact: [UInt8] = []
            var cursor = index
            while cursor < count, compact.count < 34 {
                let byte = bytes[cursor]
                if isLetter(byte) || isDigit(byte) {
                    compact.append(lowercase && !isDigit(byte) ? byte & ~0x20 : byte)
                    cursor += 1
                } else if byte == UInt8(ascii: " "), compact.count % 4 == 0, cursor + 1 < count,
                          isLetter(bytes[cursor + 1]) || isDigit(bytes[cursor + 1]) {
                    cursor += 1
                } else {
                    break
                }
            }
            if compact.count >= 15, cursor == count || !isAlphanumeric(bytes[cursor]) {
                visit(compact, index..<cursor, lowercase)
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

extension Candidates {
    /// A telephone-number-shaped run: optional `+`, digit groups separated by single spaces,
    /// dashes or dots, an optional parenthesised area code, an optional extension.
    struct Phone {
        var range: Range<Int>
        var digits: [UInt8]
        var groups: [Int]
        var separators: Set<UInt8>
        var plus: Bool
        var parentheses: Bool
    }

    /// Phone-number candidates of 7–15 digits (E.164's maximum). Deciding which shapes count
    /// is `PhoneRule`'s job.
    static func phones(in bytes: UnsafeRawBufferPointer, visit: (Phone) -> Void) {
        let count = bytes.count
        var index = 0
        while index < count {
            let byte = bytes[index]
            let previous: UInt8 = index > 0 ? bytes[index - 1] : 0x20
            let startsHere: Bool
            if byte == UInt8(ascii: "+") || byte == UInt8(ascii: "(") {
                startsHere = index + 1 < count && isDigit(bytes[index + 1]) && !isAlphanumeric(previous)
            } else {
                startsHere = isDigit(byte) && !isAlphanumeric(previous) && previous != UInt8(ascii: ".") && previous != UInt8(ascii: "-")
                    && previous != UInt8(ascii: "/") && previous != UInt8(ascii: ":")
            }
            guard startsHere else {
                index += 1
                continue
            }
            var phone = Phone(range: index..<index, digits: [], groups: [], separators: [], plus: false, parentheses: false)
            var cursor = index
            var group = 0
            var openParenthesis = false
            var valid = true
            if bytes[cursor] == UInt8(ascii: "+") {
                phone.plus = true
                cursor += 1
            }
            while cursor < count, valid {
                let current = bytes[cursor]
                let next: UInt8 = cursor + 1 < count ? bytes[cursor + 1] : 0
                if isDigit(current) {
                    phone.digits.append(current)
                    group += 1
                    cursor += 1
                    if phone.digits.count > 15 { valid = false }
                } else if current == UInt8(ascii: "("), group == 0, !openParenthesis, !phone.parentheses, isDigit(next) {
                    openParenthesis = true
                    phone.parentheses = true
                    cursor += 1
                } else if current == UInt8(ascii: ")"), openParenthesis, group > 0 {
                    openParenthesis = false
                    phone.groups.append(group)
                    group = 0
                    cursor += 1
                    if cursor + 1 < count, bytes[cursor] == UInt8(ascii: " ") || bytes[cursor] == UInt8(ascii: "-"), isDigit(bytes[cursor + 1]) {
                        cursor += 1
                    }
                } else if current == UInt8(ascii: " ") || current == UInt8(ascii: "-") || current == UInt8(ascii: "."), group > 0,
                          !openParenthesis, isDigit(next) || (next == UInt8(ascii: "(") && phone.groups.isEmpty) {
                    phone.groups.append(group)
                    phone.separators.insert(current)
                    group = 0
                    cursor += 1
                } else {
                    break
                }
            }
            if group > 0 { phone.groups.append(group) }
            var end = cursor
            // An extension (x123, ext. 123) belongs to the number.
            if valid, end + 1 < count, bytes[end] == UInt8(ascii: "x"), isDigit(bytes[end + 1]) {
                end += 1
                while end < count, isDigit(bytes[end]), end - cursor < 8 { end += 1 }
            }
            // Glued to letters, or continuing as a decimal or a longer dotted/dashed run: not a phone.
            if end < count, isAlphanumeric(bytes[end]) { valid = false }
            if end + 1 < count, bytes[end] == UInt8(ascii: ".") || bytes[end] == UInt8(ascii: "-"), isDigit(bytes[end + 1]) { valid = false }
            if openParenthesis { valid = false }
            if valid, (7...15).contains(phone.digits.count) {
                phone.range = index..<end
                visit(phone)
            }
            // Skip the rest of this run.
            index = max(end, index + 1)
            while index < count, isAlphanumeric(bytes[index]) { index += 1 }
        }
    }

    /// Dotted-quad IPv4 addresses (octets 0–255, no leading zeros), not part of a longer
    /// dotted run such as a version number 1.2.3.4.5.
    static func ipv4s(in bytes: UnsafeRawBufferPointer, visit: (Range<Int>) -> Void) {
        let count = bytes.count
        var index = 0
        while index < count {
            guard isDigit(bytes[index]), index == 0 || !isAlphanumeric(bytes[index - 1]) && bytes[index - 1] != UInt8(ascii: ".") else {
                index += 1
                continue
            }
            var cursor = index
            var octets = 0
            var valid = true
            while octets < 4 {
                let start = cursor
                var value = 0
                while cursor < count, isDigit(bytes[cursor]), cursor - start < 4 {
                    value = value * 10 + Int(bytes[cursor] - UInt8(ascii: "0"))
                    cursor += 1
                }
                let length = cursor - start
                if length == 0 || length > 3 || value > 255 || (length > 1 && bytes[start] == UInt8(ascii: "0")) {
                    valid = false
                    break
                }
                octets += 1
                if octets < 4 {
                    guard cursor + 1 < count, bytes[cursor] == UInt8(ascii: "."), isDigit(bytes[cursor + 1]) else {
                        valid = false
                        break
                    }
                    cursor += 1
                }
            }
            if valid, cursor < count, isAlphanumeric(bytes[cursor]) { valid = false }
            if valid, cursor + 1 < count, bytes[cursor] == UInt8(ascii: "."), isDigit(bytes[cursor + 1]) { valid = false }
            if valid { visit(index..<cursor) }
            index = max(cursor, index + 1)
            while index < count, isDigit(bytes[index]) || bytes[index] == UInt8(ascii: ".") { index += 1 }
        }
    }

    /// IPv6 addresses: runs of hex digits and colons (with an optional dotted IPv4 tail) that
    /// the system's parser accepts, with at least three groups (so `a::b` in code is not one).
    static func ipv6s(in bytes: UnsafeRawBufferPointer, visit: (Range<Int>) -> Void) {
        func isHex(_ byte: UInt8) -> Bool { isDigit(byte) || (byte | 0x20) &- UInt8(ascii: "a") < 6 }
        func isPart(_ byte: UInt8) -> Bool { isHex(byte) || byte == UInt8(ascii: ":") || byte == UInt8(ascii: ".") }
        let count = bytes.count
        var index = 0
        while index < count {
            guard bytes[index] == UInt8(ascii: ":") else {
                index += 1
                continue
            }
            var start = index
            while start > 0, isPart(bytes[start - 1]) { start -= 1 }
            var end = index
            while end < count, isPart(bytes[end]) { end += 1 }
            index = end
            while end > start, bytes[end - 1] == UInt8(ascii: ".") { end -= 1 }
            if start > 0, isAlphanumeric(bytes[start - 1]) || bytes[start - 1] == UInt8(ascii: "_") { continue }
            if end < count, isAlphanumeric(bytes[end]) || bytes[end] == UInt8(ascii: "_") { continue }
            let run = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
            let groups = run.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: true).count
            guard groups >= 3, run.count <= 45 else { continue }
            let text = String(decoding: run, as: UTF8.self)
            var address = in6_addr()
            if inet_pton(AF_INET6, text, &address) == 1 { visit(start..<end) }
        }
    }
}

extension Candidates {
    /// UK National Insurance numbers written in the spaced form `AB 12 34 56 C`; returns the
    /// compact form for the validator.
    static func spacedNINOs(in bytes: UnsafeRawBufferPointer, visit: (_ compact: [UInt8], _ range: Range<Int>) -> Void) {
        let count = bytes.count
        var index = 0
        while index + 13 <= count {
            guard isUpper(bytes[index]), isUpper(bytes[index + 1]), bytes[index + 2] == UInt8(ascii: " "),
                  index == 0 || !isAlphanumeric(bytes[index - 1])
            else {
                index += 1
                continue
            }
            let shape: [Bool?] = [true, true, nil, false, false, nil, false, false, nil, false, false, nil, true]
            var ok = true
            for (offset, isLetter) in shape.enumerated() {
                let byte = bytes[index + offset]
                switch isLetter {
                case .some(true): ok = ok && isUpper(byte)
                case .some(false): ok = ok && isDigit(byte)
                case .none: ok = ok && byte == UInt8(ascii: " ")
                }
            }
            if ok, index + 13 == count || !isAlphanumeric(bytes[index + 13]) {
                let compact = (0..<13).compactMap { bytes[index + $0] == UInt8(ascii: " ") ? nil : bytes[index + $0] }
                visit(compact, index..<(index + 13))
                index += 13
            } else {
                index += 1
            }
        }
    }
}
