import Foundation

extension Int64 {
    /// Floor division and a non-negative remainder, for dates before 1970.
    func floorDivided(by divisor: Int64) -> (quotient: Int64, remainder: Int64) {
        let (quotient, remainder) = quotientAndRemainder(dividingBy: divisor)
        return remainder < 0 ? (quotient - 1, remainder + divisor) : (quotient, remainder)
    }
}

/// The one JSON configuration used on the wire and in stores: RFC 3339 UTC timestamps with
/// millisecond precision, snake_case keys where the types say so, sorted keys for stable output.
public enum WireCoding {
    /// The UTC day of a Unix time, `2026-11-26`: how per-day counts are keyed.
    public static func utcDay(unixSeconds: Int64) -> String {
        // Runs for every event the inventory tallies: no String(format:), no gmtime.
        let days = unixSeconds.floorDivided(by: 86_400).quotient
        return String(decoding: rfc3339(millis: days * 86_400_000).prefix(10), as: UTF8.self)
    }

    /// Formats a date as RFC 3339 UTC with milliseconds, e.g. `2026-11-26T17:26:53.123Z`.
    ///
    /// Hand-written because it runs for every event on ingest and in API output, where
    /// Foundation's format styles dominated the profile (and truncated .123 to .122).
    public static func string(from date: Date) -> String {
        String(decoding: rfc3339(millis: date.millis), as: UTF8.self)
    }

    private static func rfc3339(millis: Int64) -> [UInt8] {
        let (days, msOfDay) = millis.floorDivided(by: 86_400_000)
        let (year, month, day) = civil(fromDays: days)
        var bytes = [UInt8](repeating: 0, count: 24)
        func put(_ value: Int64, _ width: Int, at offset: Int) {
            var value = value
            for index in stride(from: offset + width - 1, through: offset, by: -1) {
                bytes[index] = UInt8(ascii: "0") + UInt8(value % 10)
                value /= 10
            }
        }
        put(year, 4, at: 0); bytes[4] = UInt8(ascii: "-")
        put(month, 2, at: 5); bytes[7] = UInt8(ascii: "-")
        put(day, 2, at: 8); bytes[10] = UInt8(ascii: "T")
        put(msOfDay / 3_600_000, 2, at: 11); bytes[13] = UInt8(ascii: ":")
        put(msOfDay / 60_000 % 60, 2, at: 14); bytes[16] = UInt8(ascii: ":")
        put(msOfDay / 1000 % 60, 2, at: 17); bytes[19] = UInt8(ascii: ".")
        put(msOfDay % 1000, 3, at: 20); bytes[23] = UInt8(ascii: "Z")
        return bytes
    }

    /// Parses an RFC 3339 timestamp (`YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, `T` or space,
    /// any case) to millisecond precision; nil for anything else.
    public static func date(from string: String) -> Date? {
        var text = string
        return text.withUTF8 { bytes -> Date? in
            func number(_ start: Int, _ count: Int) -> Int64? {
                guard start + count <= bytes.count else { return nil }
                var value: Int64 = 0
                for index in start..<start + count {
                    let digit = bytes[index] &- UInt8(ascii: "0")
                    guard digit < 10 else { return nil }
                    value = value * 10 + Int64(digit)
                }
                return value
            }
            guard bytes.count >= 20,
                  let year = number(0, 4), bytes[4] == UInt8(ascii: "-"),
                  let month = number(5, 2), bytes[7] == UInt8(ascii: "-"),
                  let day = number(8, 2), [UInt8(ascii: "T"), UInt8(ascii: "t"), UInt8(ascii: " ")].contains(bytes[10]),
                  let hour = number(11, 2), bytes[13] == UInt8(ascii: ":"),
                  let minute = number(14, 2), bytes[16] == UInt8(ascii: ":"),
                  let second = number(17, 2),
                  (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day),
                  hour < 24, minute < 60, second < 61
            else { return nil }
            var index = 19
            var millis: Int64 = 0
            if bytes[index] == UInt8(ascii: ".") {
                index += 1
                var digits = 0
                while index < bytes.count, bytes[index] &- UInt8(ascii: "0") < 10 {
                    if digits < 3 { millis = millis * 10 + Int64(bytes[index] - UInt8(ascii: "0")) }
                    digits += 1
                    index += 1
                }
                guard digits > 0 else { return nil }
                for _ in min(digits, 3)..<3 { millis *= 10 }
            }
            guard index < bytes.count else { return nil }
            var offsetMinutes: Int64 = 0
            switch bytes[index] {
            case UInt8(ascii: "Z"), UInt8(ascii: "z"):
                index += 1
            case UInt8(ascii: "+"), UInt8(ascii: "-"):
                guard let offsetHours = number(index + 1, 2), bytes.count > index + 3, bytes[index + 3] == UInt8(ascii: ":"),
                      let offsetMins = number(index + 4, 2), offsetHours < 24, offsetMins < 60 else { return nil }
                offsetMinutes = (offsetHours * 60 + offsetMins) * (bytes[index] == UInt8(ascii: "-") ? -1 : 1)
                index += 6
            default:
                return nil
            }
            guard index == bytes.count else { return nil }
            let seconds = days(fromCivil: year, month, day) * 86_400 + hour * 3_600 + minute * 60 + min(second, 59) - offsetMinutes * 60
            return Date(millis: seconds * 1000 + millis)
        }
    }

    private static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
    public static func days(fromCivil year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The date of a day count since 1970-01-01.
    static func civil(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(string(from: date))
        }
        return encoder
    }

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = date(from: text) else {
                throw DecodingError.dataCorruptedError(
                    in: container, debugDescription: "'\(text)' is not an RFC 3339 timestamp")
            }
            return date
        }
        return decoder
    }
}
