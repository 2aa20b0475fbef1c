/// One information type found in content: how many, how sure, and where.
public struct Finding: Sendable, Codable, Equatable {
    public var type: String
    public var count: Int
    /// Highest confidence among the matches: 65 low, 75 medium, 85 high (Purview's scale).
    public var confidence: Int
    public var matches: [FindingMatch]

    public init(type: String, count: Int, confidence: Int, matches: [FindingMatch]) {
        self.type = type
        self.count = count
        self.confidence = confidence
        self.matches = matches
    }
}

/// One occurrence. Never carries the raw value: a masked snippet and, with a deployment key,
/// a keyed hash of the normalised value.
public struct FindingMatch: Sendable, Codable, Equatable {
    /// Byte offsets in the scanned content.
    public var start: Int
    public var end: Int
    public var confidence: Int
    public var masked: String
    public var hash: String?

    public init(start: Int, end: Int, confidence: Int, masked: String, hash: String?) {
        self.start = start
        self.end = end
        self.confidence = confidence
        self.masked = masked
        self.hash = hash
    }
}

/// A sensitivity label attached to content (Microsoft Information Protection, or Bulwark's
/// own `user.bulwark.label` extended attribute).
public struct SensitivityLabel: Sendable, Codable, Equatable, Hashable {
    /// The label's GUID (MSIP), or its name when the source has no GUID.
    public var id: String
    public var name: String?
    /// Where it was found: `msip` (Office), `pdf`, `xattr`.
    public var source: String

    public init(id: String, name: String?, source: String) {
        self.id = id
        self.name = name
        self.source = source
    }
}

/// The result of classifying one piece of content (`bulwark-agent scan --json`).
public struct ScanResult: Sendable, Codable, Equatable {
    public var findings: [Finding]
    public var labels: [SensitivityLabel]
    /// True when limits stopped extraction or the scan before the end of the content.
    public var partial: Bool
    /// Which limit, when partial.
    public var partialReason: String?

    public init(findings: [Finding], labels: [SensitivityLabel] = [], partial: Bool = false, partialReason: String? = nil) {
        self.findings = findings
        self.labels = labels
        self.partial = partial
        self.partialReason = partialReason
    }

    enum CodingKeys: String, CodingKey {
        case findings, labels, partial
        case partialReason = "partial_reason"
    }
}

/// Classifies content against the built-in information types.
///
/// This first increment covers `credit_card`, `us_ssn`, `iban`, `email`, the national
/// identifiers (with a keyword nearby: `uk_nino`, `uk_nhs`, `ca_sin`, `de_tax_id`, `fr_insee`,
/// `es_dni`, `it_fiscal_code`, `nl_bsn`, `in_aadhaar`, `au_tfn`), the prefix-anchored
/// secrets (`aws_access_key_id`, `github_token`, `gitlab_token`, `slack_token`, `slack_webhook`,
/// `openai_api_key`, `anthropic_api_key`, `google_api_key`, `stripe_key`), `private_key`, `jwt`,
/// `password_in_url` and assignments (`password_assignment`, `generic_secret`,
/// `aws_secret_access_key`);
/// issue 3 lists the rest. One keyword pass finds supporting evidence for all types at once; candidate passes
/// find values; validators decide; confidence rises with keywords within 300 bytes.
public struct ContentClassifier: Sendable {
    public enum Confidence {
        public static let low = 65
        public static let medium = 75
        public static let high = 85
    }

    /// Every built-in information type id (policy conditions name these).
    public static let builtInTypes: Set<String> = [
        "credit_card", "us_ssn", "iban", "email", "phone", "ipv4", "ipv6",
        "uk_nino", "uk_nhs", "ca_sin", "de_tax_id", "fr_insee", "es_dni", "it_fiscal_code", "nl_bsn", "in_aadhaar", "au_tfn",
        "aws_access_key_id", "aws_secret_access_key", "github_token", "gitlab_token", "slack_token", "slack_webhook",
        "openai_api_key", "anthropic_api_key", "google_api_key", "stripe_key", "azure_storage_key", "private_key", "jwt",
        "password_in_url", "password_assignment", "generic_secret",
        // Not found in text: the file guard reports it for a file a path rule names as a
        // credential store (`~/.ssh/*`, `.env`, `*.pem`...; docs/FILES.md).
        "credential_file",
    ]

    /// Secret types with a rule of their own; an assignment's value they cover is theirs.
    static let namedSecretTypes = Set(SecretRule.all.map(\.type) + ["jwt", "private_key", "azure_storage_key"])

    /// How far (bytes) a supporting keyword may be from a value.
    public static let proximity = 300

    private static let keywordLists: [(type: String, words: [String])] = [
        ("credit_card", ["card", "credit card", "debit card", "card number", "card no", "cc", "ccn", "visa", "mastercard",
                         "amex", "american express", "discover", "jcb", "diners", "unionpay", "maestro", "cvv", "cvc",
                         "cvv2", "expiry", "expiration", "exp", "cardholder", "card holder", "payment card"]),
        ("us_ssn", ["ssn", "ssns", "ssn#", "ss#", "social security", "social security number", "social security no",
                    "soc sec", "social security #"]),
        ("iban", ["iban", "bank account", "account number", "account no", "swift", "bic", "sepa", "bank details"]),
        ("uk_nino", ["national insurance", "national insurance number", "ni number", "nino", "insurance number"]),
        ("uk_nhs", ["nhs", "nhs number", "nhs no", "national health service", "health service number"]),
        ("ca_sin", ["sin", "social insurance", "social insurance number", "numéro d'assurance sociale", "nas"]),
        ("de_tax_id", ["steuer-id", "steuerid", "steueridentifikationsnummer", "identifikationsnummer", "idnr", "tax id", "steuer-idnr"]),
        ("fr_insee", ["insee", "nir", "sécurité sociale", "securite sociale", "numéro de sécurité sociale", "carte vitale"]),
        ("es_dni", ["dni", "nie", "nif", "documento nacional de identidad", "número de identidad"]),
        ("it_fiscal_code", ["codice fiscale", "cod. fiscale", "fiscal code", "tessera sanitaria", "cf"]),
        ("nl_bsn", ["bsn", "burgerservicenummer", "sofinummer", "citizen service number"]),
        ("in_aadhaar", ["aadhaar", "aadhar", "uidai", "uid"]),
        ("au_tfn", ["tfn", "tax file number", "tax file no"]),
        ("phone", ["phone", "telephone", "tel", "mobile", "cell", "cellphone", "call", "fax", "mob", "whatsapp", "contact number",
                   "phone number", "téléphone", "telefon", "telefono", "teléfono", "handy"]),
        ("ipv4", ["ip", "ip address", "ipv4", "host", "server", "address"]),
        ("ipv6", ["ip", "ip address", "ipv6", "host", "server", "address"]),
    ]

    /// Type id → index in `keywordLists`.
    private static let keywordListIndex: [String: Int] = Dictionary(
        uniqueKeysWithValues: keywordLists.enumerated().map { ($0.element.type, $0.offset) })

    private static func list(_ type: String) -> Int { keywordListIndex[type] ?? 0 }

    /// Indexes of the keyword lists the scan consults by name (resolved once).
    private enum Keywords {
        static let card = list("credit_card"), ssn = list("us_ssn"), iban = list("iban"), nino = list("uk_nino")
        static let phone = list("phone"), ipv4 = list("ipv4"), ipv6 = list("ipv6")
        static let nationalNumbers = ContentClassifier.nationalNumbers.map { list($0.type) }
        static let nationalTokens = ContentClassifier.nationalTokens.map { list($0.type) }
    }

    /// National identifiers found as numbers: reported only with one of their keywords nearby
    /// (their formats collide with each other and with ordinary numbers), then high confidence.
    private static let nationalNumbers: [(type: String, lengths: ClosedRange<Int>, validate: @Sendable ([UInt8]) -> Bool)] = [
        ("uk_nhs", 10...10, Validators.ukNHS),
        ("ca_sin", 9...9, Validators.caSIN),
        ("de_tax_id", 11...11, Validators.deTaxID),
        ("fr_insee", 15...15, Validators.frINSEE),
        ("nl_bsn", 9...9, Validators.nlBSN),
        ("in_aadhaar", 12...12, Validators.inAadhaar),
        ("au_tfn", 8...9, Validators.auTFN),
    ]

    /// National identifiers found as upper-case alphanumeric tokens, same keyword rule.
    private static let nationalTokens: [(type: String, length: Int, validate: @Sendable ([UInt8]) -> Bool)] = [
        ("uk_nino", 9, Validators.ukNINO),
        ("es_dni", 9, Validators.esDNI),
        ("it_fiscal_code", 16, Validators.itFiscalCode),
        ("fr_insee", 15, Validators.frINSEE),
    ]

    /// What a prefix hit of the shared matcher leads to.
    enum PrefixAction: Sendable {
        case secret(SecretRule)
        case privateKey(header: String)
        case jwt
        case passwordInURL
        case assignment(name: String, kind: AssignmentRule.Kind, short: Bool, bare: Bool)
        case azureAccountKey
    }

    static let prefixActions: [(prefix: String, action: PrefixAction)] =
        SecretRule.all.map { ($0.prefix, .secret($0)) } + PrivateKeyRule.headers.map { ($0, .privateKey(header: $0)) }
        + [(JWTRule.prefix, .jwt), (PasswordInURLRule.prefix, .passwordInURL), (AzureAccountKeyRule.prefix, .azureAccountKey)]
        + AssignmentRule.keys.map { ($0.name, .assignment(name: $0.name, kind: $0.kind, short: $0.short, bare: $0.bare)) }

    /// One pass finds supporting keywords (whole words) and the prefixes of secrets, private
    /// key headers and assignments (anywhere): indexes below `keywordType.count` are
    /// keywords, the rest `prefixActions`.
    private let matcher: KeywordMatcher
    /// For each keyword of the matcher (below the prefixes), its type's index in `keywordLists`.
    private let keywordType: [Int]
    private let hasher: KeyedHash?
    private let custom: CustomClassifiers

    /// - Parameters:
    ///   - keyedHash: the deployment's key; findings then carry keyed hashes of their values.
    ///   - custom: the policy's own classifiers (`CustomClassifiers.load`).
    public init(keyedHash: KeyedHash? = nil, custom: CustomClassifiers = .none) {
        self.custom = custom
        let flat = Self.keywordLists.enumerated().flatMap { index, list in list.words.map { (index, $0) } }
        keywordType = flat.map(\.0)
        matcher = KeywordMatcher(flat.map { ($0.1, true) } + Self.prefixActions.map { ($0.prefix, false) })
        hasher = keyedHash
    }

    public func scan(_ bytes: UnsafeRawBufferPointer) -> ScanResult {
        // Supporting evidence: keyword positions per type (index into keywordLists), in order;
        // prefixes for later.
        var evidence = [[Int]](repeating: [], count: Self.keywordLists.count)
        var prefixHits: [KeywordMatcher.Match] = []
        for match in matcher.matches(in: bytes) {
            if match.keyword < keywordType.count {
                evidence[keywordType[match.keyword]].append(match.range.lowerBound)
            } else {
                prefixHits.append(KeywordMatcher.Match(keyword: match.keyword - keywordType.count, range: match.range))
            }
        }
        func near(_ list: Int, _ range: Range<Int>) -> Bool {
            let positions = evidence[list]
            // Positions are sorted: binary search for the first at or after range.lowerBound − proximity.
            let low = range.lowerBound - Self.proximity
            var lo = 0, hi = positions.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if positions[mid] < low { lo = mid + 1 } else { hi = mid }
            }
            return lo < positions.count && positions[lo] <= range.upperBound + Self.proximity
        }
        var matches: [String: [FindingMatch]] = [:]
        func add(_ type: String, _ range: Range<Int>, confidence: Int, normalised: [UInt8], head: Int, tail: Int) {
            matches[type, default: []].append(FindingMatch(
                start: range.lowerBound, end: range.upperBound, confidence: confidence,
                masked: Masking.mask(UnsafeRawBufferPointer(rebasing: bytes[range]), head: head, tail: tail), hash: hasher?.hash(normalised)))
        }

        let index = CandidateIndex(bytes)
        Candidates.numbers(in: bytes, index: index, minDigits: 8, maxDigits: 19) { number in
            let digits = number.digits
            for (offset, national) in Self.nationalNumbers.enumerated()
            where national.lengths.contains(digits.count) && near(Keywords.nationalNumbers[offset], number.range) && national.validate(digits) {
                add(national.type, number.range, confidence: Confidence.high, normalised: digits, head: 0, tail: 3)
            }
            if (13...19).contains(digits.count), Validators.creditCard(digits) {
                let supported = near(Keywords.card, number.range) || Self.expiryDate(near: number.range, in: bytes)
                add("credit_card", number.range, confidence: supported ? Confidence.high : Confidence.medium, normalised: digits, head: 4, tail: 4)
            } else if digits.count == 12, Validators.cardIssuer(digits) == .maestro, Validators.creditCard(digits),
                      near(Keywords.card, number.range) || Self.expiryDate(near: number.range, in: bytes) {
                // 12-digit Maestro numbers look like any reference number: only with a card keyword.
                add("credit_card", number.range, confidence: Confidence.high, normalised: digits, head: 4, tail: 4)
            } else if digits.count == 9, Validators.usSSN(digits), near(Keywords.ssn, number.range) {
                let formatted = number.groups == [3, 2, 4]
                guard formatted || number.separator == nil else { return }
                add("us_ssn", number.range, confidence: formatted ? Confidence.high : Confidence.medium, normalised: digits, head: 0, tail: 4)
            }
        }
        // Lower-case IBANs need their keyword: look for them only around it.
        let ibanWindows = evidence[Keywords.iban].map { max(0, $0 - Self.proximity)..<min(bytes.count, $0 + Self.proximity) }
        Candidates.ibans(in: bytes, starts: index.upperStarts, lowercaseWindows: ibanWindows) { compact, range, lowercase in
            let keyword = near(Keywords.iban, range)
            // Lower-case IBANs are typed by hand; without the keyword they are just tokens.
            guard !lowercase || keyword, Validators.iban(compact) else { return }
            add("iban", range, confidence: keyword ? Confidence.high : Confidence.medium, normalised: compact, head: 4, tail: 4)
        }
        Candidates.tokens(in: bytes, starts: index.alphanumericStarts, lengths: 9...16) { token, range in
            for (offset, national) in Self.nationalTokens.enumerated()
            where national.length == token.count && near(Keywords.nationalTokens[offset], range) && national.validate(token) {
                add(national.type, range, confidence: Confidence.high, normalised: token, head: 0, tail: 2)
            }
        }
        Candidates.spacedNINOs(in: bytes, starts: index.upperStarts) { compact, range in
            guard near(Keywords.nino, range), Validators.ukNINO(compact) else { return }
            add("uk_nino", range, confidence: Confidence.high, normalised: compact, head: 0, tail: 2)
        }
        Candidates.phones(in: bytes, starts: index.phoneStarts, visit: { shape in
            let keyword = near(Keywords.phone, shape.range)
            guard PhoneRule.mayMatch(shape, keyword: keyword) else { return }
            let phone = Candidates.phone(shape, in: bytes)
            guard let confidence = PhoneRule.confidence(phone, keyword: keyword) else { return }
            add("phone", phone.range, confidence: confidence, normalised: (phone.plus ? [UInt8(ascii: "+")] : []) + phone.digits, head: 0, tail: 2)
        }, ipv4: { range in
            add("ipv4", range, confidence: near(Keywords.ipv4, range) ? Confidence.medium : Confidence.low,
                normalised: Array(UnsafeRawBufferPointer(rebasing: bytes[range])), head: 0, tail: 0)
        })
        Candidates.ipv6s(in: bytes, colons: index.colons) { range in
            add("ipv6", range, confidence: near(Keywords.ipv6, range) ? Confidence.medium : Confidence.low,
                normalised: Array(UnsafeRawBufferPointer(rebasing: bytes[range])).map(KeywordMatcher.lower), head: 0, tail: 0)
        }
        Candidates.emails(in: bytes, atSigns: index.atSigns) { range in
            let normalised = Array(UnsafeRawBufferPointer(rebasing: bytes[range])).map(KeywordMatcher.lower)
            add("email", range, confidence: Confidence.high, normalised: normalised, head: 1, tail: 4)
        }

        var assignments: [AssignmentRule.Found] = []
        for match in prefixHits {
            let start = match.range.lowerBound
            switch Self.prefixActions[match.keyword].action {
            case .secret(let rule):
                guard let end = rule.match(in: bytes, at: start) else { continue }
                let token = Array(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
                add(rule.type, start..<end, confidence: Confidence.high, normalised: token, head: rule.prefix.utf8.count, tail: 0)
            case .jwt:
                guard let end = JWTRule.match(in: bytes, at: start) else { continue }
                add("jwt", start..<end, confidence: Confidence.high, normalised: Array(UnsafeRawBufferPointer(rebasing: bytes[start..<end])), head: 3, tail: 0)
            case .assignment(_, let kind, let short, let bare):
                if let found = AssignmentRule.match(in: bytes, keyStart: start, keyEnd: match.range.upperBound, kind: kind, short: short, bare: bare) {
                    assignments.append(found)
                }
            case .azureAccountKey:
                guard let key = AzureAccountKeyRule.match(in: bytes, at: start) else { continue }
                matches["azure_storage_key", default: []].append(FindingMatch(
                    start: start, end: key.upperBound, confidence: Confidence.high, masked: AzureAccountKeyRule.prefix + "****",
                    hash: hasher?.hash(Array(UnsafeRawBufferPointer(rebasing: bytes[key])))))
            case .passwordInURL:
                guard let found = PasswordInURLRule.match(in: bytes, at: start) else { continue }
                // Scheme, user and host help find the system; only the password is hidden.
                let before = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[found.url.lowerBound..<found.password.lowerBound]), as: UTF8.self)
                let after = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[found.password.upperBound..<found.url.upperBound]), as: UTF8.self)
                matches["password_in_url", default: []].append(FindingMatch(
                    start: found.url.lowerBound, end: found.url.upperBound, confidence: Confidence.high,
                    masked: before + "****" + after, hash: hasher?.hash(Array(UnsafeRawBufferPointer(rebasing: bytes[found.password])))))
            case .privateKey(let header):
                // Exact case only: "-----begin private key-----" is prose, not a key.
                guard Array(UnsafeRawBufferPointer(rebasing: bytes[match.range])) == Array(header.utf8) else { continue }
                let end = PrivateKeyRule.match(in: bytes, at: start, header: header)
                let block = Array(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
                // A passphrase-protected key is still a key, but not usable on its own: medium.
                let encrypted = header.contains("ENCRYPTED") || String(decoding: block.prefix(200), as: UTF8.self).contains("Proc-Type: 4,ENCRYPTED")
                matches["private_key", default: []].append(FindingMatch(
                    start: start, end: end, confidence: encrypted ? Confidence.medium : Confidence.high,
                    masked: header + " … (\(end - start) bytes\(encrypted ? ", encrypted" : ""))", hash: hasher?.hash(block)))
            }
        }

        // Several key names can match one assignment (aws_secret_access_key holds "secret" and
        // "access_key"): keep one finding per value, of the most specific type.
        // A value a vendor rule already named (GITHUB_TOKEN=ghp_…) is that vendor's secret, not
        // also a generic one.
        let vendorRanges = assignments.isEmpty ? []
            : matches.filter { Self.namedSecretTypes.contains($0.key) }.values.flatMap { $0.map { $0.start..<$0.end } }
        var lastValue: Range<Int>?
        for found in assignments.sorted(by: { ($0.value.lowerBound, -$0.priority) < ($1.value.lowerBound, -$1.priority) }) {
            if found.value == lastValue { continue }
            lastValue = found.value
            if vendorRanges.contains(where: { $0.overlaps(found.value) }) { continue }
            let prefix = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[found.whole.lowerBound..<found.value.lowerBound]), as: UTF8.self)
            let suffix = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[found.value.upperBound..<found.whole.upperBound]), as: UTF8.self)
            matches[found.type, default: []].append(FindingMatch(
                start: found.whole.lowerBound, end: found.whole.upperBound, confidence: Confidence.high,
                masked: prefix + "****" + suffix, hash: hasher?.hash(Array(UnsafeRawBufferPointer(rebasing: bytes[found.value])))))
        }

        custom.scan(bytes, hasher: hasher, into: &matches)

        // A phone is the weakest reading of a number: drop it where a stronger type matched.
        if let phones = matches["phone"] {
            let taken = matches.filter { $0.key != "phone" }.values.flatMap { $0.map { $0.start..<$0.end } }
                .sorted { $0.lowerBound < $1.lowerBound }
            if !taken.isEmpty {
                // Ranges of one type never nest deeply; any range overlapping a phone starts
                // before its end, and the longest taken range bounds how far back it can start.
                let longest = taken.map(\.count).max() ?? 0
                matches["phone"] = phones.filter { phone in
                    var lo = 0, hi = taken.count
                    while lo < hi {
                        let mid = (lo + hi) / 2
                        if taken[mid].lowerBound < phone.start - longest { lo = mid + 1 } else { hi = mid }
                    }
                    return !taken[lo...].prefix { $0.lowerBound < phone.end }.contains { $0.overlaps(phone.start..<phone.end) }
                }
            }
        }
        let findings = matches.keys.sorted().compactMap { type -> Finding? in
            guard let found = matches[type], !found.isEmpty else { return nil }
            return Finding(type: type, count: found.count, confidence: found.map(\.confidence).max() ?? 0, matches: found)
        }
        return ScanResult(findings: findings)
    }

    public func scan(_ text: String) -> ScanResult {
        var copy = text
        return copy.withUTF8 { scan(UnsafeRawBufferPointer($0)) }
    }

    /// An expiry date (MM/YY or MM/YYYY) within the proximity window supports a card number.
    static func expiryDate(near range: Range<Int>, in bytes: UnsafeRawBufferPointer) -> Bool {
        let low = max(0, range.lowerBound - proximity)
        let high = min(bytes.count, range.upperBound + proximity)
        var index = low
        while index + 5 <= high {
            defer { index += 1 }
            guard bytes[index + 2] == UInt8(ascii: "/"), Candidates.isDigit(bytes[index]), Candidates.isDigit(bytes[index + 1]),
                  index == 0 || !Candidates.isAlphanumeric(bytes[index - 1]) else { continue }
            let month = Int(bytes[index] - UInt8(ascii: "0")) * 10 + Int(bytes[index + 1] - UInt8(ascii: "0"))
            var end = index + 3
            while end < high, Candidates.isDigit(bytes[end]) { end += 1 }
            let yearDigits = end - index - 3
            if (1...12).contains(month), yearDigits == 2 || yearDigits == 4, end == bytes.count || !Candidates.isAlphanumeric(bytes[end]) {
                return true
            }
        }
        return false
    }
}
