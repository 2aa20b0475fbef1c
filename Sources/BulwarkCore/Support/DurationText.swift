/// Parses durations as people write them on command lines and in config: `90s`, `30m`, `24h`, `7d`.
public enum DurationText {
    public struct Invalid: Error, CustomStringConvertible {
        public var text: String
        public var description: String { "'\(text)' is not a duration; use a number with s, m, h or d, e.g. 24h" }
    }

    /// Seconds in `text`.
    public static func seconds(_ text: String) throws(Invalid) -> Double {
        guard let unit = text.last, let value = Double(text.dropLast()), value > 0 else { throw Invalid(text: text) }
        switch unit {
        case "s": return value
        case "m": return value * 60
        case "h": return value * 3_600
        case "d": return value * 86_400
        default: throw Invalid(text: text)
        }
    }
}
