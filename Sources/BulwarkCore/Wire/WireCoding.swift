import Foundation

/// The one JSON configuration used on the wire and in stores: RFC 3339 UTC timestamps with
/// millisecond precision, snake_case keys where the types say so, sorted keys for stable output.
public enum WireCoding {
    private static let format = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    /// Formats a date as RFC 3339 with milliseconds, e.g. `2026-11-26T17:26:53.123Z`.
    public static func string(from date: Date) -> String {
        date.formatted(format)
    }

    /// Parses an RFC 3339 timestamp with or without fractional seconds.
    public static func date(from string: String) -> Date? {
        if let date = try? format.parse(string) { return date }
        return try? Date.ISO8601FormatStyle().parse(string)
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
