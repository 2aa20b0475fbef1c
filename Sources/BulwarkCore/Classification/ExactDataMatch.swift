import Foundation

/// What `bulwark-agent edm hash` reads: which CSV columns to hash, how to normalise each, and
/// which one the classifier searches for (`primary`).
///
/// ```yaml
/// name: customers
/// primary: account_number
/// min_matches: 2          # the primary value plus one more field of the same row nearby
/// columns:
///   - {name: account_number, kind: digits}
///   - {name: full_name, kind: text}
///   - {name: email, kind: email}
/// ```
public struct EDMSchema: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable {
        /// Digits only (separators ignored): account numbers, phone numbers.
        case digits
        /// Letters and digits, case-insensitive: customer ids, policy numbers.
        case alnum
        /// An e-mail address, case-insensitive.
        case email
        /// Words, case- and diacritics-insensitive, spacing ignored: names, cities.
        case text
    }

    public struct Column: Sendable, Codable, Equatable {
        public var name: String
        public var kind: Kind

        public init(name: String, kind: Kind) {
            self.name = name
            self.kind = kind
        }
    }

    public var name: String
    public var primary: String
    public var minMatches: Int
    public var columns: [Column]

    enum CodingKeys: String, CodingKey {
        case name, primary, columns
        case minMatches = "min_matches"
    }

    public init(name: String, primary: String, minMatches: Int, columns: [Column]) {
        self.name = name
        self.primary = primary
        self.minMatches = minMatches
        self.columns = columns
    }

    /// `min_matches` defaults to 2 (the primary value and one more field), or 1 for one column.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        primary = try container.decode(String.self, forKey: .primary)
        columns = try container.decode([Column].self, forKey: .columns)
        minMatches = try container.decodeIfPresent(Int.self, forKey: .minMatches) ?? min(2, columns.count)
    }

    /// The normalised bytes of a value of `kind`, nil when it cannot be one (too short, not an address).
    static func normalise(_ value: some Collection<UInt8>, kind: Kind) -> [UInt8]? {
        switch kind {
        case .digits:
            let digits = value.filter(Candidates.isDigit)
            return digits.count >= 4 ? digits : nil
        case .alnum:
            let characters = value.filter(Candidates.isAlphanumeric).map(KeywordMatcher.lower)
            return characters.count >= 4 ? characters : nil
        case .email:
            let lowered = value.filter { $0 > 0x20 }.map(KeywordMatcher.lower)
            return lowered.contains(UInt8(ascii: "@")) ? lowered : nil
        case .text:
            let folded = TextFolding.fold(String(decoding: Array(value), as: UTF8.self))
            let words = folded.utf8.split { !Candidates.isAlphanumeric($0) && $0 < 0x80 }.map { Array($0).map(KeywordMatcher.lower) }
            guard !words.isEmpty else { return nil }
            return Array(words.joined(separator: [UInt8(ascii: " ")]))
        }
    }
}

/// The hashed table `bulwark-agent edm hash` writes: a random salt, a check value for the key,
/// and per row one 128-bit keyed hash per column. No plaintext is kept.
public struct EDMTable: Sendable, Codable {
    public var format = "bulwark-edm"
    public var version = 1
    public var schema: EDMSchema
    /// Hex.
    public var salt: String
    /// Keyed hash of a fixed string: tells "made with another deployment's key" from "no match".
    public var keyCheck: String
    /// Per column: fewest and most digits/characters/words seen, to bound the search.
    public var lengths: [[Int]]
    public var rows: [[Digest128?]]

    enum CodingKeys: String, CodingKey {
        case format, version, schema, salt, rows, lengths
        case keyCheck = "key_check"
    }

    static func keyCheck(_ hash: KeyedHash) -> String { hash.digest(Array("bulwark-edm-key-check".utf8)).description }

    static func message(salt: [UInt8], column: String, value: [UInt8]) -> [UInt8] {
        salt + Array(column.utf8) + [0] + value
    }

    /// Hashes a CSV table (header row first) per the schema.
    public static func build(schema: EDMSchema, csv: [[String]], keyedHash: KeyedHash) throws(EDMError) -> (table: EDMTable, skipped: Int) {
        guard let header = csv.first else { throw .invalid("the CSV file is empty") }
        guard schema.minMatches >= 1, schema.minMatches <= schema.columns.count else {
            throw .invalid("min_matches must be between 1 and the number of columns (\(schema.columns.count))")
        }
        guard schema.columns.contains(where: { $0.name == schema.primary }) else {
            throw .invalid("primary column '\(schema.primary)' is not among the schema's columns")
        }
        var positions: [Int] = []
        for column in schema.columns {
            guard let index = header.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces) == column.name }) else {
                throw .invalid("the CSV header has no column '\(column.name)' (it has: \(header.joined(separator: ", ")))")
            }
            positions.append(index)
        }
        var salt = [UInt8](repeating: 0, count: 16)
        var generator = SystemRandomNumberGenerator()
        for index in salt.indices { salt[index] = UInt8.random(in: 0...255, using: &generator) }
        var lengths = schema.columns.map { _ in [Int.max, 0] }
        var rows: [[Digest128?]] = []
        var skipped = 0
        let primary = schema.columns.firstIndex { $0.name == schema.primary } ?? 0
        for record in csv.dropFirst() where !(record.count == 1 && record[0].isEmpty) {
            var row: [Digest128?] = []
            for (column, position) in zip(schema.columns.indices, positions) {
                let kind = schema.columns[column].kind
                guard position < record.count, let value = EDMSchema.normalise(Array(record[position].utf8), kind: kind) else {
                    row.append(nil)
                    continue
                }
                let length = kind == .text ? value.split(separator: UInt8(ascii: " ")).count : value.count
                lengths[column] = [min(lengths[column][0], length), max(lengths[column][1], length)]
                row.append(keyedHash.digest(message(salt: salt, column: schema.columns[column].name, value: value)))
            }
            if row[primary] == nil {
                skipped += 1
                continue
            }
            rows.append(row)
        }
        guard !rows.isEmpty else { throw .invalid("no row has a usable '\(schema.primary)' value") }
        let hex = salt.map { String(format: "%02x", $0) }.joined()
        return (EDMTable(schema: schema, salt: hex, keyCheck: keyCheck(keyedHash), lengths: lengths.map { $0[0] == Int.max ? [0, 0] : $0 }, rows: rows), skipped)
    }
}

public enum EDMError: Error, CustomStringConvertible {
    case invalid(String)
    public var description: String {
        switch self {
        case .invalid(let reason): "cannot build the EDM table: \(reason)"
        }
    }
}

/// Finds rows of an EDM table in content: the primary column's value, then the row's other
/// columns within 300 bytes; `min_matches` fields of one row make a finding `edm:<name>`.
struct ExactDataMatch: Sendable {
    let type: String
    let table: EDMTable
    let salt: [UInt8]
    let keyedHash: KeyedHash
    let primary: Int
    let primaryIndex: [Digest128: [Int32]]

    static func load(path: String, type: String, keyedHash: KeyedHash, classifier: String) throws(CustomClassifierError) -> ExactDataMatch {
        let table: EDMTable
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            table = try WireCoding.decoder().decode(EDMTable.self, from: data)
        } catch {
            throw CustomClassifierError(classifier: classifier, reason: "cannot read EDM table \(path): \(error)")
        }
        guard table.format == "bulwark-edm", table.version == 1 else {
            throw CustomClassifierError(classifier: classifier, reason: "\(path) is not a version 1 Bulwark EDM table")
        }
        guard table.keyCheck == EDMTable.keyCheck(keyedHash) else {
            throw CustomClassifierError(classifier: classifier, reason: "\(path) was hashed with another deployment's key; hash it again with this deployment's key")
        }
        let salt = stride(from: 0, to: table.salt.utf8.count, by: 2).compactMap { offset -> UInt8? in
            let start = table.salt.index(table.salt.startIndex, offsetBy: offset)
            return UInt8(table.salt[start..<table.salt.index(start, offsetBy: 2)], radix: 16)
        }
        let primary = table.schema.columns.firstIndex { $0.name == table.schema.primary } ?? 0
        var index: [Digest128: [Int32]] = [:]
        for (row, values) in table.rows.enumerated() {
            if let digest = values[primary] { index[digest, default: []].append(Int32(row)) }
        }
        return ExactDataMatch(type: type, table: table, salt: salt, keyedHash: keyedHash, primary: primary, primaryIndex: index)
    }

    /// Candidate values of a column's kind in `bytes`: (normalised value, range).
    func candidates(_ column: Int, in bytes: UnsafeRawBufferPointer, visit: ([UInt8], Range<Int>) -> Void) {
        let kind = table.schema.columns[column].kind
        let bounds = table.lengths[column]
        switch kind {
        case .digits:
            Candidates.numbers(in: bytes, minDigits: max(4, bounds[0]), maxDigits: max(4, bounds[1])) { visit($0.digits, $0.range) }
        case .email:
            Candidates.emails(in: bytes) { range in visit(Array(UnsafeRawBufferPointer(rebasing: bytes[range])).map(KeywordMatcher.lower), range) }
        case .alnum, .text:
            var words: [Range<Int>] = []
            var index = 0
            while index < bytes.count {
                guard Candidates.isAlphanumeric(bytes[index]) else {
                    index += 1
                    continue
                }
                let start = index
                while index < bytes.count, Candidates.isAlphanumeric(bytes[index]) { index += 1 }
                words.append(start..<index)
            }
            if kind == .alnum {
                for word in words where (bounds[0]...max(bounds[0], bounds[1])).contains(word.count) {
                    visit(Array(UnsafeRawBufferPointer(rebasing: bytes[word])).map(KeywordMatcher.lower), word)
                }
                return
            }
            let most = max(1, bounds[1])
            for first in words.indices {
                var value: [UInt8] = []
                for count in 1...most where first + count <= words.count {
                    if count > 1 { value.append(UInt8(ascii: " ")) }
                    value += Array(UnsafeRawBufferPointer(rebasing: bytes[words[first + count - 1]])).map(KeywordMatcher.lower)
                    if count >= bounds[0] { visit(value, words[first].lowerBound..<words[first + count - 1].upperBound) }
                }
            }
        }
    }

    func digest(_ column: Int, _ value: [UInt8]) -> Digest128 {
        keyedHash.digest(EDMTable.message(salt: salt, column: table.schema.columns[column].name, value: value))
    }

    func scan(_ view: UnsafeRawBufferPointer, map: (Range<Int>) -> Range<Int>, original: UnsafeRawBufferPointer, hasher: KeyedHash?,
              into matches: inout [String: [FindingMatch]]) {
        candidates(primary, in: view) { value, range in
            guard let rows = primaryIndex[digest(primary, value)] else { return }
            let window = UnsafeRawBufferPointer(rebasing: view[max(0, range.lowerBound - ContentClassifier.proximity)..<min(view.count, range.upperBound + ContentClassifier.proximity)])
            var best = 1
            for row in rows {
                var found = 1
                for column in table.schema.columns.indices where column != primary {
                    guard let wanted = table.rows[Int(row)][column] else { continue }
                    var hit = false
                    candidates(column, in: window) { other, _ in if !hit, digest(column, other) == wanted { hit = true } }
                    if hit { found += 1 }
                }
                best = max(best, found)
            }
            guard best >= table.schema.minMatches else { return }
            let originalRange = map(range)
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: original[originalRange]), as: UTF8.self)
            matches[type, default: []].append(FindingMatch(
                start: originalRange.lowerBound, end: originalRange.upperBound, confidence: ContentClassifier.Confidence.high,
                masked: Masking.mask(text, head: 0, tail: 2) + " (\(best) of \(table.schema.columns.count) fields)", hash: hasher?.hash(value)))
        }
    }
}

/// RFC 4180 CSV: quoted fields with doubled quotes, CRLF or LF line ends.
public enum CSVReader {
    public static func parse(_ text: String) -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field = ""
        var quoted = false
        var iterator = text.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar? = iterator.next()
        while let scalar = pending {
            pending = iterator.next()
            if quoted {
                if scalar == "\"" {
                    if pending == "\"" {
                        field.unicodeScalars.append("\"")
                        pending = iterator.next()
                    } else {
                        quoted = false
                    }
                } else {
                    field.unicodeScalars.append(scalar)
                }
                continue
            }
            switch scalar {
            case "\"" where field.isEmpty: quoted = true
            case ",":
                row.append(field)
                field = ""
            case "\r": continue
            case "\n":
                row.append(field)
                rows.append(row)
                row = []
                field = ""
            default: field.unicodeScalars.append(scalar)
            }
        }
        if !field.isEmpty || !row.isEmpty {
            row.append(field)
            rows.append(row)
        }
        return rows
    }
}
