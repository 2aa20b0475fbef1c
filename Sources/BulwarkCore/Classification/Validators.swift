/// Checksum and issuance rules of the built-in sensitive information types (issue 3).
///
/// Every function takes the candidate's characters already stripped of separators (spaces,
/// dashes) as ASCII bytes and answers whether it is a number that can exist. They are pure and
/// allocation-free so the scanner can call them on every candidate.
public enum Validators {
    @inline(__always)
    static func digit(_ byte: UInt8) -> Int? {
        let value = byte &- UInt8(ascii: "0")
        return value < 10 ? Int(value) : nil
    }

    /// All bytes are ASCII digits.
    public static func allDigits(_ bytes: some Collection<UInt8>) -> Bool {
        !bytes.isEmpty && bytes.allSatisfy { $0 &- UInt8(ascii: "0") < 10 }
    }

    // MARK: Luhn

    /// The Luhn (mod 10) check used by payment cards and Canadian SINs.
    public static func luhn(_ digits: some BidirectionalCollection<UInt8>) -> Bool {
        var sum = 0
        var double = false
        for byte in digits.reversed() {
            guard var value = digit(byte) else { return false }
            if double {
                value *= 2
                if value > 9 { value -= 9 }
            }
            sum += value
            double.toggle()
        }
        return !digits.isEmpty && sum % 10 == 0
    }

    // MARK: Payment cards

    public enum CardIssuer: String, Sendable, CaseIterable {
        case visa, mastercard, amex, discover, jcb, diners, unionpay, maestro
    }

    /// The issuer whose IIN ranges and lengths the number fits, or nil.
    public static func cardIssuer(_ digits: [UInt8]) -> CardIssuer? {
        guard allDigits(digits) else { return nil }
        func prefix(_ count: Int) -> Int {
            digits.prefix(count).reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        }
        let length = digits.count
        let p1 = prefix(1), p2 = prefix(2), p3 = prefix(3), p4 = prefix(4), p6 = prefix(6)
        if p2 == 34 || p2 == 37 { return length == 15 ? .amex : nil }
        if p1 == 4 { return [13, 16, 19].contains(length) ? .visa : nil }
        if (51...55).contains(p2) || (2221...2720).contains(p4) { return length == 16 ? .mastercard : nil }
        if p4 == 6011 || (644...649).contains(p3) || p2 == 65 || (622_126...622_925).contains(p6) {
            return (16...19).contains(length) ? .discover : nil
        }
        if (3528...3589).contains(p4) { return (16...19).contains(length) ? .jcb : nil }
        if p4 == 1800 || p4 == 2131 { return length == 15 ? .jcb : nil }  // JCB's legacy 15-digit ranges
        if (300...305).contains(p3) || p2 == 36 || p2 == 38 || p2 == 39 { return (14...19).contains(length) ? .diners : nil }
        if p2 == 62 { return (16...19).contains(length) ? .unionpay : nil }
        if [5018, 5020, 5038, 5893, 6304, 6759, 6761, 6762, 6763].contains(p4) { return (12...19).contains(length) ? .maestro : nil }
        return nil
    }

    /// Card numbers published by payment processors for testing; never reported as leaks.
    public static let publicTestCards: Set<String> = [
        "4242424242424242", "4000056655665556", "4111111111111111", "4012888888881881", "4222222222222",
        "5555555555554444", "2223003122003222", "5200828282828210", "5105105105105100",
        "378282246310005", "371449635398431", "378734493671000",
        "6011111111111117", "6011000990139424", "6011981111111113",
        "3530111333300000", "3566002020360505", "30569309025904", "38520000023237", "36227206271667",
        "6200000000000005", "6759649826438453", "4000000000000002", "4000000000009995",
    ]

    /// A payment card number: issuer range and length, Luhn, and not a public test number.
    public static func creditCard(_ digits: [UInt8]) -> Bool {
        cardIssuer(digits) != nil && luhn(digits) && !publicTestCards.contains(String(decoding: digits, as: UTF8.self))
    }

    // MARK: US SSN

    /// Numbers that were published or never issued and so cannot identify a person.
    static let invalidSSNs: Set<String> = ["078051120", "219099999", "457555462", "123456789", "111111111", "333333333"]

    /// A US Social Security Number that can have been issued: no area 000, 666 or 9xx, no group
    /// 00, no serial 0000, not a known advertising or example number.
    public static func usSSN(_ digits: [UInt8]) -> Bool {
        guard digits.count == 9, allDigits(digits) else { return false }
        let text = String(decoding: digits, as: UTF8.self)
        let area = Int(text.prefix(3)) ?? 0
        let group = Int(text.dropFirst(3).prefix(2)) ?? 0
        let serial = Int(text.suffix(4)) ?? 0
        return area != 0 && area != 666 && area < 900 && group != 0 && serial != 0 && !invalidSSNs.contains(text)
    }

    // MARK: IBAN

    /// IBAN length per country (SWIFT IBAN registry).
    public static let ibanLengths: [String: Int] = [
        "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27, "BR": 29,
        "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
        "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
        "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
        "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20,
        "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25,
        "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
        "SO": 23, "ST": 25, "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
    ]

    /// An IBAN (upper-case, no spaces): known country, its length, check digits 02–98, mod 97 = 1.
    public static func iban(_ bytes: [UInt8]) -> Bool {
        guard bytes.count >= 15, bytes.count <= 34 else { return false }
        let country = String(decoding: bytes.prefix(2), as: UTF8.self)
        guard let length = ibanLengths[country], length == bytes.count,
              let check1 = digit(bytes[2]), let check2 = digit(bytes[3]), (2...98).contains(check1 * 10 + check2)
        else { return false }
        var remainder = 0
        for byte in bytes.dropFirst(4) + bytes.prefix(4) {
            if let value = digit(byte) {
                remainder = (remainder * 10 + value) % 97
            } else if (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) {
                remainder = (remainder * 100 + Int(byte - UInt8(ascii: "A")) + 10) % 97
            } else {
                return false
            }
        }
        return remainder == 1
    }

    // MARK: National identifiers

    /// UK National Insurance number: two prefix letters (not D, F, I, Q, U, V; second not O;
    /// not BG, GB, KN, NK, NT, TN, ZZ), six digits, suffix A–D.
    public static func ukNINO(_ bytes: [UInt8]) -> Bool {
        guard bytes.count == 9, allDigits(bytes[2..<8]) else { return false }
        let first = bytes[0], second = bytes[1], suffix = bytes[8]
        let banned: Set<UInt8> = Set("DFIQUV".utf8)
        guard (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(first), (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(second),
              !banned.contains(first), !banned.contains(second), second != UInt8(ascii: "O"),
              (UInt8(ascii: "A")...UInt8(ascii: "D")).contains(suffix)
        else { return false }
        let prefix = String(decoding: bytes.prefix(2), as: UTF8.self)
        return !["BG", "GB", "KN", "NK", "NT", "TN", "ZZ"].contains(prefix)
    }

    /// UK NHS number: 10 digits, mod 11 check digit (weights 10…2); a remainder giving 10 is invalid.
    public static func ukNHS(_ digits: [UInt8]) -> Bool {
        guard digits.count == 10, allDigits(digits) else { return false }
        let values = digits.map { Int($0 - UInt8(ascii: "0")) }
        let sum = zip(values.prefix(9), stride(from: 10, through: 2, by: -1)).reduce(0) { $0 + $1.0 * $1.1 }
        var check = 11 - sum % 11
        if check == 11 { check = 0 }
        return check != 10 && check == values[9] && Set(values).count > 1
    }

    /// Canadian Social Insurance Number: 9 digits, Luhn, first digit not 0 or 8.
    public static func caSIN(_ digits: [UInt8]) -> Bool {
        digits.count == 9 && allDigits(digits) && digits[0] != UInt8(ascii: "0") && digits[0] != UInt8(ascii: "8") && luhn(digits)
    }

    /// German tax identification number (Steuer-IdNr): 11 digits, no leading 0, in the first ten
    /// exactly one digit repeated (twice or thrice, a triple never adjacent), ISO 7064 MOD 11,10.
    public static func deTaxID(_ digits: [UInt8]) -> Bool {
        guard digits.count == 11, allDigits(digits), digits[0] != UInt8(ascii: "0") else { return false }
        let values = digits.map { Int($0 - UInt8(ascii: "0")) }
        var counts = [Int](repeating: 0, count: 10)
        for value in values.prefix(10) { counts[value] += 1 }
        let repeated = counts.filter { $0 > 1 }
        guard repeated.count == 1, let times = repeated.first, times <= 3 else { return false }
        if times == 3 {
            for index in 0..<8 where values[index] == values[index + 1] && values[index] == values[index + 2] { return false }
        }
        var product = 10
        for value in values.prefix(10) {
            var sum = (value + product) % 10
            if sum == 0 { sum = 10 }
            product = (sum * 2) % 11
        }
        var check = 11 - product
        if check == 10 { check = 0 }
        return check == values[10]
    }

    /// French social security number (NIR/INSEE): 13 characters (Corsica 2A/2B in the department)
    /// and a 2-digit key = 97 − (number mod 97).
    public static func frINSEE(_ bytes: [UInt8]) -> Bool {
        guard bytes.count == 15, let sex = digit(bytes[0]), [1, 2, 3, 4, 7, 8].contains(sex) else { return false }
        var body = Array(bytes.prefix(13))
        // Corsica: 2A counts as 19, 2B as 18.
        if body[5] == UInt8(ascii: "2"), body[6] == UInt8(ascii: "A") || body[6] == UInt8(ascii: "B") {
            let b = body[6] == UInt8(ascii: "B")
            body[5] = UInt8(ascii: "1")
            body[6] = UInt8(ascii: b ? "8" : "9")
        }
        guard allDigits(body), allDigits(bytes.suffix(2)) else { return false }
        var remainder = 0
        for byte in body { remainder = (remainder * 10 + Int(byte - UInt8(ascii: "0"))) % 97 }
        let key = Int(bytes[13] - UInt8(ascii: "0")) * 10 + Int(bytes[14] - UInt8(ascii: "0"))
        let month = Int(bytes[3] - UInt8(ascii: "0")) * 10 + Int(bytes[4] - UInt8(ascii: "0"))
        return key == 97 - remainder && ((1...12).contains(month) || (20...42).contains(month) || (50...99).contains(month))
    }

    /// Spanish DNI (8 digits + letter) or NIE (X/Y/Z + 7 digits + letter), mod 23 letter.
    public static func esDNI(_ bytes: [UInt8]) -> Bool {
        guard bytes.count == 9 else { return false }
        var number = Array(bytes.prefix(8))
        switch number[0] {
        case UInt8(ascii: "X"): number[0] = UInt8(ascii: "0")
        case UInt8(ascii: "Y"): number[0] = UInt8(ascii: "1")
        case UInt8(ascii: "Z"): number[0] = UInt8(ascii: "2")
        default: break
        }
        guard allDigits(number), let value = Int(String(decoding: number, as: UTF8.self)) else { return false }
        let letters = Array("TRWAGMYFPDXBNJZSQVHLCKE".utf8)
        return bytes[8] == letters[value % 23]
    }

    /// Italian codice fiscale: 16 characters with the official odd/even check character.
    public static func itFiscalCode(_ bytes: [UInt8]) -> Bool {
        guard bytes.count == 16 else { return false }
        let oddValues = [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23]
        var sum = 0
        for (index, byte) in bytes.prefix(15).enumerated() {
            let position: Int
            if let value = digit(byte) {
                position = value
            } else if (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) {
                position = Int(byte - UInt8(ascii: "A"))
            } else {
                return false
            }
            // Positions are 1-based in the specification: index 0 is "odd".
            sum += index % 2 == 0 ? oddValues[position] : position
        }
        // Shape: 6 letters, 2 digits, letter, 2 digits, letter, 3 digits (omocodia may letter-ize digits).
        guard bytes.prefix(6).allSatisfy({ (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }) else { return false }
        return bytes[15] == UInt8(ascii: "A") + UInt8(sum % 26)
    }

    /// Dutch citizen service number (BSN): 9 digits, "11-proof" with weights 9…2 and −1.
    public static func nlBSN(_ digits: [UInt8]) -> Bool {
        guard digits.count == 9, allDigits(digits) else { return false }
        let values = digits.map { Int($0 - UInt8(ascii: "0")) }
        let sum = zip(values.prefix(8), stride(from: 9, through: 2, by: -1)).reduce(0) { $0 + $1.0 * $1.1 } - values[8]
        return sum % 11 == 0 && sum != 0
    }

    /// Indian Aadhaar: 12 digits, first not 0 or 1, Verhoeff checksum.
    public static func inAadhaar(_ digits: [UInt8]) -> Bool {
        guard digits.count == 12, allDigits(digits), digits[0] > UInt8(ascii: "1") else { return false }
        return verhoeff(digits)
    }

    static func verhoeff(_ digits: [UInt8]) -> Bool {
        let d: [[Int]] = [
            [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
            [3, 4, 0, 1, 2, 8, 9, 5, 6, 7], [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
            [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3], [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
            [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
        ]
        let p: [[Int]] = [
            [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
            [8, 9, 1, 6, 0, 4, 3, 5, 2, 7], [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
            [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
        ]
        var check = 0
        for (index, byte) in digits.reversed().enumerated() {
            check = d[check][p[index % 8][Int(byte - UInt8(ascii: "0"))]]
        }
        return check == 0
    }

    /// Australian tax file number: 9 digits (or 8, older numbers), weighted sum (1, 4, 3, 7, 5,
    /// 8, 6, 9, 10; the first eight for 8-digit numbers, as python-stdnum and other public
    /// validators do) divisible by 11.
    public static func auTFN(_ digits: [UInt8]) -> Bool {
        guard digits.count == 8 || digits.count == 9, allDigits(digits) else { return false }
        let weights = [1, 4, 3, 7, 5, 8, 6, 9, 10]
        let sum = zip(digits, weights).reduce(0) { $0 + Int($1.0 - UInt8(ascii: "0")) * $1.1 }
        return sum % 11 == 0
    }
}

extension Validators {
    /// Validators a custom regex classifier may name (`validator: luhn`). Each receives the
    /// match's letters and digits, upper-cased, separators removed; numeric ones look at the
    /// digits only (so `EMP-7992739871` is checked as 7992739871).
    public static let named: [String: @Sendable ([UInt8]) -> Bool] = {
        func digits(_ check: @escaping @Sendable ([UInt8]) -> Bool) -> @Sendable ([UInt8]) -> Bool {
            { value in check(value.filter { $0 &- UInt8(ascii: "0") < 10 }) }
        }
        return [
            "luhn": digits { luhn($0) },
            "credit_card": digits(creditCard),
            "us_ssn": digits(usSSN),
            "iban": iban,
            "uk_nino": ukNINO,
            "uk_nhs": digits(ukNHS),
            "ca_sin": digits(caSIN),
            "de_tax_id": digits(deTaxID),
            "fr_insee": frINSEE,
            "es_dni": esDNI,
            "it_fiscal_code": itFiscalCode,
            "nl_bsn": digits(nlBSN),
            "in_aadhaar": digits(inAadhaar),
            "au_tfn": digits(auTFN),
        ]
    }()
}
