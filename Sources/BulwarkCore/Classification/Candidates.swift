#if canImport(Glibc)
import Glibc
#endif

/// Where candidates can start, found in one pass over the content: the only places the
/// candidate scanners look at, so prose (lower-case letters and spaces, most of any text) is
/// read once instead of once per scanner.
struct CandidateIndex {
    /// Digits not preceded by a letter or digit: numbers, phones, IPv4, identifiers.
    var digitStarts: [Int32] = []
    /// Upper-case letters not preceded by a letter or digit: IBANs, identifiers, NINOs.
    var upperStarts: [Int32] = []
    /// `+`/`(` followed by a digit, not preceded by a letter or digit: phones.
    var signStarts: [Int32] = []
    /// `@`: e-mail addresses.
    var atSigns: [Int32] = []
    /// `:`: IPv6 addresses.
    var colons: [Int32] = []

    // Bit 0: letter or digit. Higher bits: what kind of start the byte can be.
    private static let alphanumeric: UInt8 = 1, digit: UInt8 = 2, upper: UInt8 = 4, sign: UInt8 = 8, at: UInt8 = 16, colon: UInt8 = 32
    private static let table: [UInt8] = {
        var table = [UInt8](repeating: 0, count: 256)
        for byte in UInt8(ascii: "0")...UInt8(ascii: "9") { table[Int(byte)] = digit | alphanumeric }
        for byte in UInt8(ascii: "A")...UInt8(ascii: "Z") { table[Int(byte)] = upper | alphanumeric }
        for byte in UInt8(ascii: "a")...UInt8(ascii: "z") { table[Int(byte)] = alphanumeric }
        table[Int(UInt8(ascii: "+"))] = sign
        table[Int(UInt8(ascii: "("))] = sign
        table[Int(UInt8(ascii: "@"))] = at
        table[Int(UInt8(ascii: ":"))] = colon
        return table
    }()

    private static let ones: UInt64 = 0x0101_0101_0101_0101
    private static let high: UInt64 = 0x8080_8080_8080_8080

    /// Some byte of an all-ASCII word is strictly between `low` and `upper` (Bit Twiddling Hacks' hasbetween).
    @inline(__always)
    private static func hasBetween(_ word: UInt64, _ low: UInt64, _ upper: UInt64) -> Bool {
        let seven = word & (ones &* 127)
        return (ones &* (127 &+ upper) &- seven) & ~word & (seven &+ ones &* (127 &- low)) & high != 0
    }

    /// Some byte of an all-ASCII word equals `byte`.
    @inline(__always)
    private static func hasByte(_ word: UInt64, _ byte: UInt8) -> Bool {
        let x = word ^ (ones &* UInt64(byte))
        return (x &- ones) & ~x & high != 0
    }

    /// Digits and `:` (0x30–0x3A), `@` and capitals (0x40–0x5A), `+`, `(`.
    @inline(__always)
    private static func interesting(_ word: UInt64) -> Bool {
        hasBetween(word, 0x2F, 0x3B) || hasBetween(word, 0x3F, 0x5B) || hasByte(word, UInt8(ascii: "+")) || hasByte(word, UInt8(ascii: "("))
    }

    init(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        var digits = StartCollector(), uppers = StartCollector(), signs = StartCollector(), ats = StartCollector(), colonList = StartCollector()
        Self.table.withUnsafeBufferPointer { table in
            var previous: UInt8 = 0
            var chunk = 0
            let count = bytes.count
            while chunk < count {
                // Eight bytes at a time (SWAR): a chunk of ASCII with no digit, capital, `+`,
                // `(`, `@` or `:` (most of prose and code) starts nothing; only its last byte
                // matters for the next.
                if chunk + 8 <= count {
                    let word = bytes.loadUnaligned(fromByteOffset: chunk, as: UInt64.self)
                    if word & Self.high == 0, !Self.interesting(word) {
                        previous = table[Int(bytes[chunk + 7])] & Self.alphanumeric
                        chunk += 8
                        continue
                    }
                }
                let end = min(count, chunk + 8)
                for index in chunk..<end {
                    let kind = table[Int(bytes[index])]
                    defer { previous = kind & Self.alphanumeric }
                    // Most bytes (lower-case letters, spaces, punctuation) start nothing, and
                    // nothing starts inside a word.
                    guard kind > Self.alphanumeric, previous == 0 || kind & (Self.at | Self.colon) != 0 else { continue }
                    let position = Int32(truncatingIfNeeded: index)
                    if kind & Self.digit != 0 {
                        digits.add(position)
                    } else if kind & Self.upper != 0 {
                        uppers.add(position)
                    } else if kind == Self.sign {
                        if index + 1 < count, Candidates.isDigit(bytes[index + 1]) { signs.add(position) }
                    } else if kind == Self.at {
                        ats.add(position)
                    } else {
                        colonList.add(position)
                    }
                }
                chunk = end
            }
        }
        digitStarts = digits.finish()
        upperStarts = uppers.finish()
        signStarts = signs.finish()
        atSigns = ats.finish()
        colons = colonList.finish()
    }
}

/// Collects positions through a small fixed buffer, so the hot loop stores to plain memory
/// and the array grows a thousand entries at a time.
private struct StartCollector {
    private static let batch = 1024
    private var result: [Int32] = []
    private let scratch = UnsafeMutablePointer<Int32>.allocate(capacity: StartCollector.batch)
    private var used = 0

    @inline(__always)
    mutating func add(_ position: Int32) {
        scratch[used] = position
        used += 1
        if used == Self.batch { flush() }
    }

    private mutating func flush() {
        result.append(contentsOf: UnsafeBufferPointer(start: scratch, count: used))
        used = 0
    }

    /// The positions, in order; releases the buffer (call exactly once).
    mutating func finish() -> [Int32] {
        flush()
        scratch.deallocate()
        return result
    }
}

extension CandidateIndex {
    /// Digit or upper-case starts, in order: identifiers.
    var alphanumericStarts: MergedStarts { MergedStarts(digitStarts, upperStarts) }
    /// Digit and sign starts, in order: phones.
    var phoneStarts: MergedStarts { MergedStarts(digitStarts, signStarts) }
}

/// Two sorted position lists walked as one, without building the merged list.
struct MergedStarts: Sequence {
    let first: [Int32]
    let second: [Int32]

    init(_ first: [Int32], _ second: [Int32]) {
        self.first = first
        self.second = second
    }

    struct Iterator: IteratorProtocol {
        let first: [Int32]
        let second: [Int32]
        var i = 0, j = 0

        mutating func next() -> Int32? {
            if i < first.count, j == second.count || first[i] < second[j] {
                defer { i += 1 }
                return first[i]
            }
            guard j < second.count else { return nil }
            defer { j += 1 }
            return second[j]
        }
    }

    func makeIterator() -> Iterator { Iterator(first: first, second: second) }
}

/// Candidate extraction: the first, cheap pass of classification. It finds runs that could be
/// a sensitive value (numbers with separators, IBAN-shaped tokens, e-mail addresses) without
/// deciding anything; validators and keywords decide afterwards. Each scanner visits only the
/// start positions `CandidateIndex` found, and allocates only for candidates it reports.
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
    static func isLower(_ byte: UInt8) -> Bool { byte &- UInt8(ascii: "a") < 26 }

    @inline(__always)
    static func isAlphanumeric(_ byte: UInt8) -> Bool {
        isDigit(byte) || (byte | 0x20) &- UInt8(ascii: "a") < 26
    }

    /// Numbers of `minDigits…maxDigits` digits. A run with mixed separators or longer than
    /// `maxDigits` is not a candidate (it is part of something else, e.g. a long hash).
    static func numbers(in bytes: UnsafeRawBufferPointer, index candidates: CandidateIndex, minDigits: Int, maxDigits: Int, visit: (Number) -> Void) {
        let count = bytes.count
        var index = 0
        for position in candidates.digitStarts {
            let start = Int(position)
            guard start >= index else { continue }
            index = start
            if start > 0, bytes[start - 1] == UInt8(ascii: ".") {
                index += 1
                continue
            }
            // A run of digits and separators shorter than `minDigits` bytes cannot hold enough
            // digits (nor can any run starting inside it): skip without measuring.
            if !hasRun(bytes, from: start, length: minDigits, of: isNumberByte) { continue }
            // Measure first; build the value only for a run worth reporting.
            var digitCount = 0
            var separator: UInt8?
            var valid = true
            while index < count {
                let byte = bytes[index]
                if isDigit(byte) {
                    digitCount += 1
                    index += 1
                } else if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "-"), index + 1 < count, isDigit(bytes[index + 1]) {
                    if let separator, separator != byte { valid = false }
                    separator = byte
                    index += 1
                } else {
                    break
                }
            }
            // Skip the rest of a run that was too long or mixed.
            while index < count, isAlphanumeric(bytes[index]) {
                index += 1
                valid = false
            }
            if index < count, bytes[index] == UInt8(ascii: "."), index + 1 < count, isDigit(bytes[index + 1]) { valid = false }
            guard valid, digitCount >= minDigits, digitCount <= maxDigits else { continue }
            var digits: [UInt8] = []
            digits.reserveCapacity(digitCount)
            var groups: [Int] = [0]
            for byte in UnsafeRawBufferPointer(rebasing: bytes[start..<index]) {
                if isDigit(byte) {
                    digits.append(byte)
                    groups[groups.count - 1] += 1
                } else {
                    groups.append(0)
                }
            }
            visit(Number(digits: digits, range: start..<index, separator: separator, groups: groups))
        }
    }

    @inline(__always)
    static func isNumberByte(_ byte: UInt8) -> Bool { isDigit(byte) || byte == UInt8(ascii: " ") || byte == UInt8(ascii: "-") }

    @inline(__always)
    static func isPhoneByte(_ byte: UInt8) -> Bool {
        isNumberByte(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "(") || byte == UInt8(ascii: ")") || byte == UInt8(ascii: "+")
    }

    /// The `length` bytes from `start` all satisfy `member`.
    @inline(__always)
    static func hasRun(_ bytes: UnsafeRawBufferPointer, from start: Int, length: Int, of member: (UInt8) -> Bool) -> Bool {
        guard start + length <= bytes.count else { return false }
        for offset in 0..<length where !member(bytes[start + offset]) { return false }
        return true
    }

    /// Numbers anywhere in `bytes` (builds the index; for small windows such as EDM's).
    static func numbers(in bytes: UnsafeRawBufferPointer, minDigits: Int, maxDigits: Int, visit: (Number) -> Void) {
        numbers(in: bytes, index: CandidateIndex(bytes), minDigits: minDigits, maxDigits: maxDigits, visit: visit)
    }

    /// IBAN-shaped tokens: two letters, two digits, then 11–30 letters or digits, optionally in
    /// groups of four separated by single spaces. Letters are all capitals, or all lower case
    /// (`lowercase` true; typed by hand), never mixed. `compact` is upper-cased. Capitalised
    /// IBANs are looked for at `starts`; lower-case ones only inside `lowercaseWindows` (near
    /// an IBAN keyword, which they need anyway).
    static func ibans(in bytes: UnsafeRawBufferPointer, starts: [Int32], lowercaseWindows: [Range<Int>],
                      visit: (_ compact: [UInt8], _ range: Range<Int>, _ lowercase: Bool) -> Void) {
        let count = bytes.count
        /// The IBAN starting at `index`, if any: its end.
        func iban(at index: Int, lowercase: Bool) -> Int? {
            guard index + 15 <= count else { return nil }
            func isLetter(_ byte: UInt8) -> Bool { lowercase ? isLower(byte) : isUpper(byte) }
            guard isLetter(bytes[index]), isLetter(bytes[index + 1]), isDigit(bytes[index + 2]), isDigit(bytes[index + 3]),
                  index == 0 || !isAlphanumeric(bytes[index - 1])
            else { return nil }
            var length = 0
            var cursor = index
            while cursor < count, length < 34 {
                let byte = bytes[cursor]
                if isLetter(byte) || isDigit(byte) {
                    length += 1
                    cursor += 1
                } else if byte == UInt8(ascii: " "), length % 4 == 0, cursor + 1 < count, isLetter(bytes[cursor + 1]) || isDigit(bytes[cursor + 1]) {
                    cursor += 1
                } else {
                    break
                }
            }
            guard length >= 15, cursor == count || !isAlphanumeric(bytes[cursor]) else { return nil }
            var compact: [UInt8] = []
            compact.reserveCapacity(length)
            for byte in UnsafeRawBufferPointer(rebasing: bytes[index..<cursor]) where byte != UInt8(ascii: " ") {
                compact.append(isDigit(byte) ? byte : byte & ~0x20)
            }
            visit(compact, index..<cursor, lowercase)
            return cursor
        }
        var index = 0
        for position in starts where Int(position) >= index {
            let start = Int(position)
            // Most capitals start words; an IBAN starts with two capitals and two digits.
            guard start + 4 < count, isUpper(bytes[start + 1]), isDigit(bytes[start + 2]), isDigit(bytes[start + 3]) else { continue }
            index = iban(at: start, lowercase: false) ?? start + 1
        }
        index = 0
        for window in lowercaseWindows {
            var cursor = max(index, window.lowerBound)
            let end = min(window.upperBound, count - 4)
            while cursor < end {
                // Cheap test first: two lower-case letters and two digits at a word start.
                guard isLower(bytes[cursor]), isLower(bytes[cursor + 1]), isDigit(bytes[cursor + 2]), isDigit(bytes[cursor + 3]) else {
                    cursor += 1
                    continue
                }
                cursor = iban(at: cursor, lowercase: true) ?? cursor + 1
            }
            index = cursor
        }
    }

    /// E-mail addresses: `local@domain.tld` with an ASCII local part and a dotted domain whose
    /// last label has at least two letters.
    static func emails(in bytes: UnsafeRawBufferPointer, atSigns: [Int32], visit: (Range<Int>) -> Void) {
        func isLocal(_ byte: UInt8) -> Bool {
            isAlphanumeric(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "%")
                || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-")
        }
        func isDomain(_ byte: UInt8) -> Bool { isAlphanumeric(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") }
        var searchFrom = 0
        for position in atSigns where Int(position) >= searchFrom {
            let at = Int(position)
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

    /// E-mail addresses anywhere in `bytes` (for small windows such as EDM's).
    static func emails(in bytes: UnsafeRawBufferPointer, visit: (Range<Int>) -> Void) {
        emails(in: bytes, atSigns: CandidateIndex(bytes).atSigns, visit: visit)
    }

    /// Maximal runs of upper-case letters and digits, with at least one of each, of a length
    /// in `lengths`, bounded by non-alphanumerics (national identifiers such as AB123456C).
    static func tokens(in bytes: UnsafeRawBufferPointer, starts: some Sequence<Int32>, lengths: ClosedRange<Int>, visit: (_ token: [UInt8], _ range: Range<Int>) -> Void) {
        let count = bytes.count
        var index = 0
        for position in starts where Int(position) >= index {
            let start = Int(position)
            // A capitalised word or a number followed by lower case is not an identifier; no
            // start lies inside a run, so nothing needs skipping.
            if start + 1 < count, isLower(bytes[start + 1]) { continue }
            // Shorter than the shortest identifier: nothing to read.
            if !hasRun(bytes, from: start, length: lengths.lowerBound, of: isAlphanumeric) { continue }
            index = start
            var hasDigit = false
            var hasLetter = false
            var lowercase = false
            while index < count, isAlphanumeric(bytes[index]) {
                let byte = bytes[index]
                if isDigit(byte) { hasDigit = true } else if isUpper(byte) { hasLetter = true } else { lowercase = true }
                index += 1
            }
            if !lowercase, hasDigit, hasLetter, lengths.contains(index - start) {
                visit(Array(UnsafeRawBufferPointer(rebasing: bytes[start..<index])), start..<index)
            }
        }
    }
}

extension Candidates {
    /// Separators seen between a phone candidate's digit groups.
    struct PhoneSeparators: OptionSet {
        let rawValue: UInt8
        static let space = PhoneSeparators(rawValue: 1)
        static let dash = PhoneSeparators(rawValue: 2)
        static let dot = PhoneSeparators(rawValue: 4)

        init(rawValue: UInt8) { self.rawValue = rawValue }

        init?(_ byte: UInt8) {
            switch byte {
            case UInt8(ascii: " "): self = .space
            case UInt8(ascii: "-"): self = .dash
            case UInt8(ascii: "."): self = .dot
            default: return nil
            }
        }

        /// How many kinds of separator.
        var kinds: Int { rawValue.nonzeroBitCount }
    }

    /// A telephone-number-shaped run: optional `+`, digit groups separated by single spaces,
    /// dashes or dots, an optional parenthesised area code, an optional extension.
    struct Phone {
        var range: Range<Int>
        var digits: [UInt8]
        var groups: [Int]
        var separators: PhoneSeparators
        var plus: Bool
        var parentheses: Bool
    }

    /// What a phone candidate looks like, measured without allocating; `PhoneRule` decides
    /// from it whether building the full `Phone` is worth it.
    struct PhoneShape {
        var range: Range<Int>
        /// Where the digits and separators end (before an extension).
        var numberEnd: Int
        var digitCount: Int
        var groupCount: Int
        var plus: Bool
        var parentheses: Bool
        var separators: PhoneSeparators
    }

    /// Phone-number candidates of 7–15 digits (E.164's maximum). Dotted quads take the same
    /// walk (digit groups separated by dots), so IPv4 addresses are reported from it too
    /// (`ipv4`), which saves a pass over every number.
    static func phones(in bytes: UnsafeRawBufferPointer, starts: some Sequence<Int32>, visit: (PhoneShape) -> Void, ipv4: (Range<Int>) -> Void) {
        let count = bytes.count
        var index = 0
        for position in starts where Int(position) >= index {
            let start = Int(position)
            index = start
            let previous: UInt8 = start > 0 ? bytes[start - 1] : 0x20
            // Part of a longer dotted run: neither a phone nor an address.
            if previous == UInt8(ascii: ".") {
                index += 1
                continue
            }
            // After `-`, `/` or `:` a number is part of something (a range, a path, a port,
            // a URL) and not a phone; it can still be an address (http://10.0.0.1/).
            let phoneAllowed = !(isDigit(bytes[start]) && (previous == UInt8(ascii: "-") || previous == UInt8(ascii: "/") || previous == UInt8(ascii: ":")))
            // Phones need 7 digits and addresses 7 characters (1.1.1.1): shorter runs of
            // phone characters are neither (and nothing inside them is).
            if !hasRun(bytes, from: start, length: 7, of: isPhoneByte) { continue }
            var cursor = start
            var digitCount = 0
            var group = 0
            var openParenthesis = false
            var sawParenthesis = false
            var groupCount = 0
            var separators = PhoneSeparators()
            var valid = true
            if bytes[cursor] == UInt8(ascii: "+") { cursor += 1 }
            while cursor < count, valid {
                let current = bytes[cursor]
                let next: UInt8 = cursor + 1 < count ? bytes[cursor + 1] : 0
                if isDigit(current) {
                    digitCount += 1
                    group += 1
                    cursor += 1
                    if digitCount > 15 { valid = false }
                } else if current == UInt8(ascii: "("), group == 0, !openParenthesis, !sawParenthesis, isDigit(next) {
                    openParenthesis = true
                    sawParenthesis = true
                    cursor += 1
                } else if current == UInt8(ascii: ")"), openParenthesis, group > 0 {
                    openParenthesis = false
                    groupCount += 1
                    group = 0
                    cursor += 1
                    if cursor + 1 < count, bytes[cursor] == UInt8(ascii: " ") || bytes[cursor] == UInt8(ascii: "-"), isDigit(bytes[cursor + 1]) {
                        cursor += 1
                    }
                } else if let separator = PhoneSeparators(current), group > 0, !openParenthesis,
                          isDigit(next) || (next == UInt8(ascii: "(") && groupCount == 0) {
                    separators.insert(separator)
                    groupCount += 1
                    group = 0
                    cursor += 1
                } else {
                    break
                }
            }
            if group > 0 { groupCount += 1 }
            var end = cursor
            // An extension (x123) belongs to the number.
            if valid, end + 1 < count, bytes[end] == UInt8(ascii: "x"), isDigit(bytes[end + 1]) {
                end += 1
                while end < count, isDigit(bytes[end]), end - cursor < 8 { end += 1 }
            }
            // Glued to letters, or continuing as a decimal or a longer dotted/dashed run: not a phone.
            if end < count, isAlphanumeric(bytes[end]) { valid = false }
            if end + 1 < count, bytes[end] == UInt8(ascii: ".") || bytes[end] == UInt8(ascii: "-"), isDigit(bytes[end + 1]) { valid = false }
            if openParenthesis { valid = false }
            index = max(end, start + 1)
            while index < count, isAlphanumeric(bytes[index]) { index += 1 }
            if valid, separators == .dot, groupCount == 4, end == cursor, !sawParenthesis, bytes[start] != UInt8(ascii: "+"),
               isIPv4(UnsafeRawBufferPointer(rebasing: bytes[start..<end])) {
                ipv4(start..<end)
            }
            guard valid, phoneAllowed, (7...15).contains(digitCount) else { continue }
            visit(PhoneShape(range: start..<end, numberEnd: cursor, digitCount: digitCount, groupCount: groupCount,
                             plus: bytes[start] == UInt8(ascii: "+"), parentheses: sawParenthesis, separators: separators))
        }
    }

    /// The full structure of a phone candidate: its digits and group lengths.
    static func phone(_ shape: PhoneShape, in bytes: UnsafeRawBufferPointer) -> Phone {
        var phone = Phone(range: shape.range, digits: [], groups: [], separators: shape.separators, plus: shape.plus, parentheses: shape.parentheses)
        phone.digits.reserveCapacity(shape.digitCount)
        var group = 0
        for byte in UnsafeRawBufferPointer(rebasing: bytes[(shape.plus ? shape.range.lowerBound + 1 : shape.range.lowerBound)..<shape.numberEnd]) {
            if isDigit(byte) {
                phone.digits.append(byte)
                group += 1
            } else if group > 0 {
                phone.groups.append(group)
                group = 0
            }
        }
        if group > 0 { phone.groups.append(group) }
        return phone
    }

    /// A dotted quad: four octets 0–255 without leading zeros.
    static func isIPv4(_ run: UnsafeRawBufferPointer) -> Bool {
        var octets = 0
        var value = 0
        var length = 0
        var leadingZero = false
        for byte in run {
            if isDigit(byte) {
                if length == 0 { leadingZero = byte == UInt8(ascii: "0") } else if leadingZero { return false }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
                length += 1
                if length > 3 || value > 255 { return false }
            } else if byte == UInt8(ascii: "."), length > 0 {
                octets += 1
                value = 0
                length = 0
            } else {
                return false
            }
        }
        return octets == 3 && length > 0
    }

    /// IPv6 addresses: runs of hex digits and colons (with an optional dotted IPv4 tail) that
    /// the system's parser accepts, with at least three groups (so `a::b` in code is not one).
    static func ipv6s(in bytes: UnsafeRawBufferPointer, colons: [Int32], visit: (Range<Int>) -> Void) {
        func isHex(_ byte: UInt8) -> Bool { isDigit(byte) || (byte | 0x20) &- UInt8(ascii: "a") < 6 }
        func isPart(_ byte: UInt8) -> Bool { isHex(byte) || byte == UInt8(ascii: ":") || byte == UInt8(ascii: ".") }
        let count = bytes.count
        var index = 0
        for position in colons where Int(position) >= index {
            var start = Int(position)
            while start > 0, isPart(bytes[start - 1]) { start -= 1 }
            var end = Int(position)
            while end < count, isPart(bytes[end]) { end += 1 }
            index = end
            while end > start, bytes[end - 1] == UInt8(ascii: ".") { end -= 1 }
            if start > 0, isAlphanumeric(bytes[start - 1]) || bytes[start - 1] == UInt8(ascii: "_") { continue }
            if end < count, isAlphanumeric(bytes[end]) || bytes[end] == UInt8(ascii: "_") { continue }
            let run = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
            guard run.count <= 45, run.count >= 5 else { continue }
            let groups = run.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: true).count
            guard groups >= 3 else { continue }
            let text = String(decoding: run, as: UTF8.self)
            var address = in6_addr()
            if inet_pton(AF_INET6, text, &address) == 1 { visit(start..<end) }
        }
    }

    /// UK National Insurance numbers written in the spaced form `AB 12 34 56 C`; returns the
    /// compact form for the validator.
    static func spacedNINOs(in bytes: UnsafeRawBufferPointer, starts: [Int32], visit: (_ compact: [UInt8], _ range: Range<Int>) -> Void) {
        let count = bytes.count
        var index = 0
        for position in starts where Int(position) >= index {
            index = Int(position)
            guard index + 13 <= count, isUpper(bytes[index + 1]), bytes[index + 2] == UInt8(ascii: " ") else { continue }
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
            }
        }
    }
}
