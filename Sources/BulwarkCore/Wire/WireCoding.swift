import Foundation

/// The one JSON configuration used on the wire and in stores: RFC 3339 UTC timestamps with
/// millisecond precision, snake_case keys where the types say so, sorted keys for stable output.
public enum WireCoding {
    private static let fractional = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
    private static let whole = Date.ISO8601FormatStyle()

    /// Formats a date as RFC 3339 with milliseconds, e.g. `2026-11-26T17:26:53.123Z`.
    ///
    /// The milliseconds are computed here because the fractional format style truncates
    /// binary floating-point (…0.123 prints as .122).
    public static func string(from date: Date) -> String {
        let millis = date.millis
        let seconds = millis.quotientAndRemainder(dividingBy: 1000)
        let (wholeSeconds, fraction) = seconds.remainder < 0 ? (seconds.quotient - 1, seconds.remainder + 1000) : seconds
        var text = Date(timeIntervalSince1970: Double(wholeSeconds)).formatted(whole)
        text.removeLast()  // "Z"
        let digits = String(fraction)
        return text + "." + String(repeating: "0", count: 3 - digits.count) + digits + "Z"
    }

    /// Parses an RFC 3339 timestamp with or without fractional seconds, to millisecond precision.
    public static func date(from string: String) -> Date? {
        guard let date = (try? fractional.parse(string)) ?? (try? whole.parse(string)) else { return nil }
        return Date(millis: date.millis)
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
