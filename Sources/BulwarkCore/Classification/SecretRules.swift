import Foundation

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
        /// URL-safe characters and `.`.
        case urlSafeDotted

        func contains(_ byte: UInt8) -> Bool {
            switch self {
            case .upperAlphanumeric: return Candidates.isUpper(byte) || Candidates.isDigit(byte)
            case .alphanumeric: return Candidates.isAlphanumeric(byte)
            case .urlSafe: return Candidates.isAlphanumeric(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
            case .urlPath: return Alphabet.urlSafe.contains(byte) || byte == UInt8(ascii: "/")
            case .urlSafeDotted: return Alphabet.urlSafe.contains(byte) || byte == UInt8(ascii: ".")
            }
        }
    }

    var type: String
    var prefix: String
    var alphabet: Alphabet
    /// Length of the body after the prefix.
    var bodyLength: ClosedRange<Int>
    /// A fixed marker the body must contain (OpenAI's legacy keys carry "T3BlbkFJ", base64 of "OpenAI").
    var marker: String? = nil

    /// GitHub's prefixes for classic, OAuth, user-to-server, server-to-server and refresh tokens.
    static let githubPrefixes = ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]

    static let all: [SecretRule] = [
        .init(type: "aws_access_key_id", prefix: "AKIA", alphabet: .upperAlphanumeric, bodyLength: 16...16),
        .init(type: "aws_access_key_id", prefix: "ASIA", alphabet: .upperAlphanumeric, bodyLength: 16...16),
        .init(type: "github_token", prefix: "github_pat_", alphabet: .urlSafe, bodyLength: 82...82),
    ] + githubPrefixes.map {
        SecretRule(type: "github_token", prefix: $0, alphabet: .alphanumeric, bodyLength: 36...36)
    } + githubPrefixes.map {
        // Newer installation tokens embed a date and a JWT (ghs_20260523_eyJ…).
        SecretRule(type: "github_token", prefix: $0 + "2", alphabet: .urlSafeDotted, bodyLength: 60...2000, marker: "_eyJ")
    } + ["glpat-", "gloas-", "gldt-", "glrt-", "glrtr-", "glcbt-", "glptt-", "glft-", "glimt-", "glagent-", "glsoat-", "glffct-", "glwt-"].map {
        // GitLab's token prefixes (docs.gitlab.com/ee/security/tokens/#token-prefixes).
        SecretRule(type: "gitlab_token", prefix: $0, alphabet: .urlSafeDotted, bodyLength: 20...100)
    } + ["xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxe-", "xoxs-", "xoxe.xoxp-", "xapp-"].map {
        SecretRule(type: "slack_token", prefix: $0, alphabet: .urlSafe, bodyLength: 24...400)
    } + ["sk_live_", "rk_live_", "sk_test_", "rk_test_"].map {
        // Test-mode secret keys are credentials too (publishable pk_ keys are public).
        SecretRule(type: "stripe_key", prefix: $0, alphabet: .alphanumeric, bodyLength: 24...99)
    } + [
        .init(type: "stripe_key", prefix: "whsec_", alphabet: .alphanumeric, bodyLength: 32...99),  // webhook signing secrets
        .init(type: "slack_webhook", prefix: "https://hooks.slack.com/services/", alphabet: .urlPath, bodyLength: 20...120),
        .init(type: "anthropic_api_key", prefix: "sk-ant-", alphabet: .urlSafe, bodyLength: 80...200),
        .init(type: "openai_api_key", prefix: "sk-proj-", alphabet: .urlSafe, bodyLength: 40...200),
        .init(type: "openai_api_key", prefix: "sk-svcacct-", alphabet: .urlSafe, bodyLength: 40...200),
        .init(type: "openai_api_key", prefix: "sk-", alphabet: .alphanumeric, bodyLength: 48...48, marker: "T3BlbkFJ"),
        .init(type: "google_api_key", prefix: "AIza", alphabet: .urlSafe, bodyLength: 35...35),
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
        // A token ends at its last token character, not at a trailing dot of the sentence.
        while end > start + prefixBytes.count, bytes[end - 1] == UInt8(ascii: ".") { end -= 1 }
        guard bodyLength.contains(end - start - prefixBytes.count) else { return nil }
        let token = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
        if let marker, !token.dropFirst(prefixBytes.count).contains(marker) { return nil }
        // Vendors' documented examples (AKIAIOSFODNN7EXAMPLE, AKIA…EXAMPLE7) are not leaks.
        if token.contains("EXAMPLE") { return nil }
        return end
    }
}

/// PEM and OpenSSH private key blocks (certificates and public keys are not secrets).
enum PrivateKeyRule {
    static let headers = [
        "-----BEGIN PRIVATE KEY-----", "-----BEGIN RSA PRIVATE KEY-----", "-----BEGIN EC PRIVATE KEY-----",
        "-----BEGIN DSA PRIVATE KEY-----", "-----BEGIN OPENSSH PRIVATE KEY-----", "-----BEGIN ENCRYPTED PRIVATE KEY-----",
        "-----BEGIN PGP PRIVATE KEY BLOCK-----",
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

/// JSON Web Tokens: three base64url segments whose first two decode to JSON objects (the
/// header must name an algorithm). Found from the `eyJ` prefix that `{"` encodes to.
enum JWTRule {
    static let prefix = "eyJ"

    static func match(in bytes: UnsafeRawBufferPointer, at start: Int) -> Int? {
        guard start + 3 <= bytes.count, bytes[start] == UInt8(ascii: "e"), bytes[start + 1] == UInt8(ascii: "y"),
              bytes[start + 2] == UInt8(ascii: "J"), start == 0 || !SecretRule.Alphabet.urlSafe.contains(bytes[start - 1])
        else { return nil }
        var segments: [Range<Int>] = []
        var segmentStart = start
        var index = start
        while index < bytes.count, index - start < 16_384 {
            let byte = bytes[index]
            if SecretRule.Alphabet.urlSafe.contains(byte) {
                index += 1
            } else if byte == UInt8(ascii: "."), segments.count < 2 {
                segments.append(segmentStart..<index)
                index += 1
                segmentStart = index
            } else {
                break
            }
        }
        segments.append(segmentStart..<index)
        // Documentation tokens say so (…EXAMPLEFAKESIG).
        let whole = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        guard !whole.contains("EXAMPLE"), segments.count == 3, segments[0].count >= 10, segments[1].count >= 4, segments[2].count >= 16,
              let header = decodeObject(bytes, segments[0]), header["alg"]?.stringValue != nil,
              decodeObject(bytes, segments[1]) != nil
        else { return nil }
        return index
    }

    /// Decodes a base64url segment and parses it as a JSON object.
    static func decodeObject(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> [String: JSONValue]? {
        var text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
            .replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while text.utf8.count % 4 != 0 { text += "=" }
        guard let data = Data(base64Encoded: text), case .object(let object)? = try? data.withUnsafeBytes({ buffer in
            Result { () throws(JSONReader.Failure) in try JSONReader.parse(buffer) }
        }).get() else { return nil }
        return object
    }
}

/// Credentials inside URLs: `scheme://user:password@host`. Placeholders are not passwords.
enum PasswordInURLRule {
    static let prefix = "://"
    static let placeholders: Set<String> = ["password", "passwd", "pass", "pwd", "secret", "changeme", "xxx", "xxxx", "****", "*****", "..."]

    /// The URL up to the end of its authority (from the scheme) and the password's range within
    /// the input, if it carries a real password.
    static func match(in bytes: UnsafeRawBufferPointer, at separator: Int) -> (url: Range<Int>, password: Range<Int>)? {
        var schemeStart = separator
        while schemeStart > 0, Candidates.isAlphanumeric(bytes[schemeStart - 1]) || bytes[schemeStart - 1] == UInt8(ascii: "+")
            || bytes[schemeStart - 1] == UInt8(ascii: ".") || bytes[schemeStart - 1] == UInt8(ascii: "-") { schemeStart -= 1 }
        guard schemeStart < separator else { return nil }
        let userStart = separator + 3
        var index = userStart
        var colon: Int?
        var at: Int?
        while index < bytes.count, index - userStart < 512 {
            let byte = bytes[index]
            if byte == UInt8(ascii: "/") || byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\"")
                || byte == UInt8(ascii: "'") || byte == UInt8(ascii: "?") || byte == UInt8(ascii: "#") { break }
            if byte == UInt8(ascii: ":"), colon == nil { colon = index }
            if byte == UInt8(ascii: "@") { at = index }
            index += 1
        }
        guard let colon, let at, colon > userStart, at > colon + 1, at + 1 < index else { return nil }
        let password = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[(colon + 1)..<at]), as: UTF8.self)
        if placeholders.contains(password.lowercased()) || password.hasPrefix("$") || password.hasPrefix("<") || password.hasPrefix("{")
            || password.hasPrefix("%") && password.count < 4 { return nil }
        return (schemeStart..<index, (colon + 1)..<at)
    }
}

/// `key = value` assignments of secrets in code and configuration: a secret-like key name
/// (anywhere in an identifier: `DB_PASSWORD`, `apiKey`), `=` or `:` (optionally quoted), and a
/// value that is not a placeholder, a variable or a call, with enough entropy to be a secret.
enum AssignmentRule {
    enum Kind: Sendable {
        case password, secret, awsSecret

        /// The information type its findings carry.
        var type: String {
            switch self {
            case .password: "password_assignment"
            case .secret: "generic_secret"
            case .awsSecret: "aws_secret_access_key"
            }
        }
    }

    /// Key names. `short` names (`pw`, `pass`, `key`) count only as a whole part of an
    /// identifier (`db_pw`, `mysqlPass`, `$key`, not `monkey` or `compass`); `bare` names take
    /// their value after whitespace, without `=` or `:` (SQL's `IDENTIFIED BY 'secret'`).
    static let keys: [(name: String, kind: Kind, short: Bool, bare: Bool)] = [
        ("password", .password, false, false), ("passwd", .password, false, false), ("pwd", .password, false, false),
        ("passphrase", .password, false, false), ("pass", .password, true, false), ("pw", .password, true, false),
        // Abbreviations seen in configuration files (PSWD, PASSWD's cousins).
        ("pswd", .password, false, false), ("psswd", .password, false, false), ("pswrd", .password, false, false),
        ("psword", .password, false, false), ("psswrd", .password, false, false), ("pssword", .password, false, false),
        ("paswd", .password, false, false), ("paswrd", .password, false, false), ("pasword", .password, false, false),
        ("identified by", .password, false, true),
        ("secret", .secret, false, false), ("api_key", .secret, false, false), ("apikey", .secret, false, false),
        ("api-key", .secret, false, false), ("token", .secret, false, false), ("access_key", .secret, false, false),
        ("auth_key", .secret, false, false), ("client_secret", .secret, false, false), ("private_key", .secret, false, false),
        ("key", .secret, true, false),
        ("aws_secret_access_key", .awsSecret, false, false), ("secret_access_key", .awsSecret, false, false),
        ("secretaccesskey", .awsSecret, false, false),
    ]

    /// Words that mark a dashed or underscored value as a description, not a secret.
    static let placeholderWords: Set<String> = [
        "password", "passwd", "secret", "token", "key", "your", "my", "example", "client", "user", "here", "changeme", "dummy",
        "sample", "test", "fake", "placeholder", "value",
    ]

    /// Second words that may follow a key name before the separator (`SECRET KEY: …`).
    static let secondWords: Set<String> = ["key", "token", "secret", "password", "pass", "pwd", "pw", "passwd"]

    static let placeholders: Set<String> = [
        "password", "passwd", "changeme", "change_me", "secret", "example", "null", "none", "nil", "true", "false",
        "undefined", "redacted", "xxxxxxxx", "********", "your_password", "yourpassword", "your-api-key", "todo",
    ]

    struct Found {
        var type: String
        var value: Range<Int>
        var whole: Range<Int>

        /// Higher wins when several key names match the same value.
        var priority: Int {
            switch type {
            case "aws_secret_access_key": 3
            case "password_assignment": 2
            default: 1
            }
        }
    }

    /// Looks for an assignment whose key ends at `keyEnd`.
    static func match(in bytes: UnsafeRawBufferPointer, keyStart: Int, keyEnd: Int, kind: Kind, short: Bool = false, bare: Bool = false) -> Found? {
        func isLetter(_ byte: UInt8) -> Bool { (byte | 0x20) &- UInt8(ascii: "a") < 26 }
        func isLower(_ byte: UInt8) -> Bool { byte &- UInt8(ascii: "a") < 26 }
        if short {
            // A whole part of the identifier: bounded by non-letters or a camelCase step, or
            // the end of an all-capitals name (MYSQLPASS).
            let capitalsSuffix = Candidates.isUpper(bytes[keyStart]) && (keyEnd == bytes.count || !Candidates.isAlphanumeric(bytes[keyEnd]))
                && (keyStart == 0 || Candidates.isUpper(bytes[keyStart - 1]))
            if keyStart > 0, isLetter(bytes[keyStart - 1]), !capitalsSuffix, !(isLower(bytes[keyStart - 1]) && Candidates.isUpper(bytes[keyStart])) { return nil }
            if keyEnd < bytes.count, isLetter(bytes[keyEnd]), !(isLower(bytes[keyEnd - 1]) && Candidates.isUpper(bytes[keyEnd])) { return nil }
        }
        if bare {
            // Exact words only: `IDENTIFIED BY`, not part of another identifier.
            if keyStart > 0, Candidates.isAlphanumeric(bytes[keyStart - 1]) { return nil }
        }
        // The key may continue as an identifier (DB_PASSWORD_PROD); skip to its end.
        var index = keyEnd
        while !bare, index < bytes.count, Candidates.isAlphanumeric(bytes[index]) || bytes[index] == UInt8(ascii: "_") || bytes[index] == UInt8(ascii: "-") {
            index += 1
            if index - keyEnd > 40 { return nil }
        }
        var identifierStart = keyStart
        while !bare, identifierStart > 0, Candidates.isAlphanumeric(bytes[identifierStart - 1]) || bytes[identifierStart - 1] == UInt8(ascii: "_") {
            identifierStart -= 1
        }
        // Key identifiers (aws_access_key_id, token_id) name something; they are not secrets.
        let identifier = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[identifierStart..<index]), as: UTF8.self).lowercased()
        if identifier.hasSuffix("_id") || identifier.hasSuffix("-id") || (kind != .password && identifier.hasSuffix("id")) { return nil }
        // A second word naming the same thing: `SECRET KEY: …`, `access key: …`.
        if !bare, index + 1 < bytes.count, bytes[index] == UInt8(ascii: " "), isLetter(bytes[index + 1]) {
            var end = index + 1
            while end < bytes.count, isLetter(bytes[end]), end - index < 10 { end += 1 }
            let word = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[(index + 1)..<end]), as: UTF8.self).lowercased()
            if secondWords.contains(word) { index = end }
        }
        // An XML element named for the key: `<password …>value</password>`.
        if !bare, identifierStart > 0, bytes[identifierStart - 1] == UInt8(ascii: "<") {
            var open = index
            while open < bytes.count, open - index < 200, bytes[open] != UInt8(ascii: ">"), bytes[open] != UInt8(ascii: "\n") { open += 1 }
            guard open < bytes.count, bytes[open] == UInt8(ascii: ">"), bytes[open - 1] != UInt8(ascii: "/") else { return nil }
            var close = open + 1
            while close < bytes.count, close - open < 200, bytes[close] != UInt8(ascii: "<"), bytes[close] != UInt8(ascii: "\n") { close += 1 }
            guard close < bytes.count, bytes[close] == UInt8(ascii: "<") else { return nil }
            let value = (open + 1)..<close
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[value]), as: UTF8.self)
            guard isPlausibleSecret(text, kind: kind) else { return nil }
            return Found(type: kind.type, value: value, whole: (identifierStart - 1)..<close)
        }
        // A quoted key (`'access_key' => …`, `define('PASSWORD', …)`).
        let quotedKey = identifierStart > 0 && (bytes[identifierStart - 1] == UInt8(ascii: "\"") || bytes[identifierStart - 1] == UInt8(ascii: "'"))
        if index < bytes.count, bytes[index] == UInt8(ascii: "\"") || bytes[index] == UInt8(ascii: "'") { index += 1 }
        let afterKey = index
        while index < bytes.count, bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: "\t") { index += 1 }
        let isQuote = { (byte: UInt8) in byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") || byte == UInt8(ascii: "`") }
        if index < bytes.count, bytes[index] == UInt8(ascii: "=") || bytes[index] == UInt8(ascii: ":") {
            let separator = bytes[index]
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "=") {
                // `:=` assigns (Go, Pascal, make); `==` compares.
                guard separator == UInt8(ascii: ":") else { return nil }
                index += 1
            } else if separator == UInt8(ascii: "="), index < bytes.count, bytes[index] == UInt8(ascii: ">") {
                index += 1  // `=>`: PHP arrays, Ruby hashes
            }
            while index < bytes.count, bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: "\t") { index += 1 }
            // A typed declaration (`password: String = "…"`): skip the type to its `=`.
            var typeEnd = index
            while typeEnd < bytes.count, Candidates.isAlphanumeric(bytes[typeEnd]) || [UInt8(ascii: "."), UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "?"), UInt8(ascii: "["), UInt8(ascii: "]")].contains(bytes[typeEnd]) {
                typeEnd += 1
            }
            var equals = typeEnd
            while equals < bytes.count, bytes[equals] == UInt8(ascii: " ") { equals += 1 }
            if typeEnd > index, equals > typeEnd, equals + 1 < bytes.count, bytes[equals] == UInt8(ascii: "="), bytes[equals + 1] != UInt8(ascii: "=") {
                index = equals + 1
                while index < bytes.count, bytes[index] == UInt8(ascii: " ") { index += 1 }
            }
        } else if quotedKey, index < bytes.count, bytes[index] == UInt8(ascii: ",") {
            // `define('PASSWORD', 'value')`: a quoted key, a comma, a quoted value.
            index += 1
            while index < bytes.count, bytes[index] == UInt8(ascii: " ") { index += 1 }
            guard index < bytes.count, isQuote(bytes[index]) else { return nil }
        } else if bare ? index > afterKey : (kind == .password && index > afterKey && index < bytes.count && isQuote(bytes[index])) {
            // `IDENTIFIED BY secret`, `PASSWORD 'secret'`: the value follows whitespace.
        } else {
            return nil
        }
        var quote: UInt8?
        if index < bytes.count, isQuote(bytes[index]) {
            quote = bytes[index]
            index += 1
        }
        let valueStart = index
        while index < bytes.count, index - valueStart <= 200 {
            let byte = bytes[index]
            if let quote, byte == quote { break }
            // Unquoted values end at whitespace, list and statement separators, and the next
            // URL query parameter (`?key=…&title=…`).
            if quote == nil, byte <= 0x20 || byte == UInt8(ascii: ",") || byte == UInt8(ascii: ";") || byte == UInt8(ascii: ")")
                || byte == UInt8(ascii: "&") { break }
            if byte == UInt8(ascii: "\n") { break }
            index += 1
        }
        let value = valueStart..<index
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[value]), as: UTF8.self)
        guard isPlausibleSecret(text, kind: kind) else { return nil }
        return Found(type: kind.type, value: value, whole: identifierStart..<min(bytes.count, index + (quote == nil ? 0 : 1)))
    }

    static func isPlausibleSecret(_ value: String, kind: Kind) -> Bool {
        let lowered = value.lowercased()
        // Vendors' documented examples (AWS's …EXAMPLEKEY) are not leaks.
        if lowered.contains("example") { return false }
        if placeholders.contains(lowered) || lowered.allSatisfy({ $0 == "*" || $0 == "x" || $0 == "." }) { return false }
        // Variables, templates, calls and references are not literal secrets.
        // Also paths (PWD=/home/…) and tags (Ansible's !vault).
        if let first = value.first, "$<{%@&[(/".contains(first) { return false }
        if value.hasPrefix("!vault") || value.hasPrefix("!!") || value == "!" { return false }
        // Words joined by dashes or underscores that describe the value (`your-password-here`,
        // `my-client-password`) are placeholders.
        if lowered.utf8.allSatisfy({ Candidates.isLower($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }),
           lowered.split(whereSeparator: { $0 == "-" || $0 == "_" }).contains(where: { placeholderWords.contains(String($0)) }) {
            return false
        }
        // Hex literals (masks, addresses) are numbers, not secrets.
        if lowered.hasPrefix("0x"), lowered.dropFirst(2).allSatisfy(\.isHexDigit) { return false }
        // An e-mail address names an account; it is not the key.
        if kind != .password, value.contains("@"), value.contains("."), !value.contains(" ") { return false }
        if value.contains("(") || value.contains("{{") || value.hasPrefix("os.") || value.hasPrefix("process.env") || value.hasPrefix("env.") { return false }
        switch kind {
        case .password:
            return value.count >= 7 && entropy(value) >= 2.5
        case .secret:
            // Long random-looking values, or shorter ones mixing letters and digits.
            let mixed = value.utf8.contains(where: Candidates.isDigit) && value.utf8.contains { ($0 | 0x20) &- UInt8(ascii: "a") < 26 }
            return (value.count >= 16 && entropy(value) >= 3.5) || (value.count >= 12 && mixed && entropy(value) >= 3.2)
        case .awsSecret:
            return value.count == 40 && value.utf8.allSatisfy { Candidates.isAlphanumeric($0) || $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "+") }
                && entropy(value) >= 4.0 && !value.hasSuffix("EXAMPLEKEY")
        }
    }

    /// Shannon entropy in bits per character.
    static func entropy(_ text: String) -> Double {
        var counts: [UInt8: Int] = [:]
        for byte in text.utf8 { counts[byte, default: 0] += 1 }
        let total = Double(text.utf8.count)
        return counts.values.reduce(0) { sum, count in
            let p = Double(count) / total
            return sum - p * log2(p)
        }
    }
}

/// Azure Storage account keys, alone or inside a connection string
/// (`DefaultEndpointsProtocol=https;AccountName=…;AccountKey=<88 base64 characters>;…`).
enum AzureAccountKeyRule {
    static let prefix = "AccountKey="

    /// The key's range if a real 64-byte key (88 base64 characters) follows the exact prefix.
    static func match(in bytes: UnsafeRawBufferPointer, at start: Int) -> Range<Int>? {
        let prefixBytes = Array(prefix.utf8)
        guard start + prefixBytes.count + 88 <= bytes.count,
              prefixBytes.indices.allSatisfy({ bytes[start + $0] == prefixBytes[$0] })
        else { return nil }
        let keyStart = start + prefixBytes.count
        var end = keyStart
        while end < bytes.count, end - keyStart < 90,
              Candidates.isAlphanumeric(bytes[end]) || bytes[end] == UInt8(ascii: "+") || bytes[end] == UInt8(ascii: "/") || bytes[end] == UInt8(ascii: "=") {
            end += 1
        }
        guard end - keyStart == 88, bytes[end - 1] == UInt8(ascii: "="), bytes[end - 2] == UInt8(ascii: "="),
              bytes[end - 3] != UInt8(ascii: "=")
        else { return nil }
        let key = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[keyStart..<end]), as: UTF8.self)
        guard AssignmentRule.entropy(key) >= 4.5 else { return nil }
        return keyStart..<end
    }
}
