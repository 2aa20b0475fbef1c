/// Which phone-shaped candidates are reported, and how sure. Phone numbers are low severity
/// and their formats collide with dates, identifiers and SSNs, so without a phone keyword only
/// unambiguous shapes count: E.164 (`+` and 8–15 digits), North American `(NXX) NXX-XXXX` /
/// `NXX-NXX-XXXX`, and national numbers with a trunk `0` and 10–11 digits in groups.
enum PhoneRule {
    /// A cheap first look: can a candidate of this shape be reported at all?
    static func mayMatch(_ shape: Candidates.PhoneShape, keyword: Bool) -> Bool {
        if shape.plus { return shape.digitCount >= 8 }
        if keyword { return shape.groupCount >= 2 || (10...12).contains(shape.digitCount) }
        return (10...11).contains(shape.digitCount) && shape.groupCount >= 2 && shape.separators.kinds <= 1
    }

    static func confidence(_ phone: Candidates.Phone, keyword: Bool) -> Int? {
        let groups = phone.groups
        let digits = phone.digits
        if isExcludedShape(phone) { return nil }
        if phone.plus {
            return (8...15).contains(digits.count) ? ContentClassifier.Confidence.medium : nil
        }
        if keyword, groups.count >= 2 || (10...12).contains(digits.count) {
            return ContentClassifier.Confidence.medium
        }
        let northAmerican = (groups == [3, 3, 4] || (groups == [1, 3, 3, 4] && digits[0] == UInt8(ascii: "1")))
            && (phone.separators.kinds <= 1)
        if northAmerican {
            let area = digits[digits.count - 10]
            let exchange = digits[digits.count - 7]
            if area >= UInt8(ascii: "2"), exchange >= UInt8(ascii: "2") { return ContentClassifier.Confidence.low }
        }
        if digits[0] == UInt8(ascii: "0"), (10...11).contains(digits.count), groups.count >= 2, phone.separators.kinds <= 1 {
            return ContentClassifier.Confidence.low
        }
        return nil
    }

    /// Shapes that are something else even with a phone keyword nearby: dotted quads (IPv4),
    /// dates (2026-11-26, 26.11.2026) and the SSN shape 123-45-6789.
    static func isExcludedShape(_ phone: Candidates.Phone) -> Bool {
        let groups = phone.groups
        if phone.plus || phone.parentheses { return false }
        if phone.separators == .dot, groups.count == 4, groups.allSatisfy({ $0 <= 3 }) { return true }
        if groups == [4, 2, 2] || groups == [2, 2, 4], phone.separators.kinds == 1, !phone.separators.contains(.space) {
            return true
        }
        // A date followed by an hour (2026-11-26 12:30): the time's colon ended the run.
        if groups.starts(with: [4, 2, 2]), phone.separators.contains(.dash) {
            return true
        }
        return groups == [3, 2, 4] && phone.separators == .dash
    }
}
