import Foundation
import Logging

/// How the services write their log lines (one line per event, on stderr).
public enum LogFormat: String, Sendable, CaseIterable {
    /// `2026-12-06T23:59:01.123Z info bulwark-agent: message key=value`
    case text
    /// `<6>bulwark-agent: message key=value`: journald reads the priority prefix as the level
    /// and adds the time itself.
    case journal
    /// One JSON object per line: time, level, label, message and the metadata as fields.
    case json

    /// `journal` when stderr goes to journald (systemd sets JOURNAL_STREAM), `text` otherwise.
    public static func automatic(environment: [String: String] = ProcessInfo.processInfo.environment) -> LogFormat {
        environment["JOURNAL_STREAM"].map { !$0.isEmpty } == true ? .journal : .text
    }
}

/// The process's log output: installs the handler once, at start, for every `Logger`.
public enum LogOutput {
    /// Parses a level name as the services' `--log-level` and config files spell it.
    public static func level(_ name: String) -> Logger.Level? { Logger.Level(rawValue: name) }

    /// Routes every logger of the process to stderr in `format` at `level` and above.
    public static func bootstrap(format: LogFormat, level: Logger.Level) {
        LoggingSystem.bootstrap { label in LineLogHandler(label: label, format: format, logLevel: level) }
    }
}

/// Writes each log record as a single line with one `write(2)`, so lines from concurrent
/// tasks never interleave.
public struct LineLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    let label: String
    let format: LogFormat

    public init(label: String, format: LogFormat, logLevel: Logger.Level) {
        self.label = label
        self.format = format
        self.logLevel = logLevel
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        var line = render(level: event.level, message: "\(event.message)", metadata: merged, at: Date())
        line.append("\n")
        line.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Foundation.write(STDERR_FILENO, bytes.baseAddress.map { $0 + offset }, bytes.count - offset)
                if written <= 0 { if errno == EINTR { continue } else { return } }
                offset += written
            }
        }
    }

    /// One record as its line, without the newline.
    public func render(level: Logger.Level, message: String, metadata: Logger.Metadata, at time: Date) -> String {
        switch format {
        case .json:
            var object: [String: JSONValue] = [
                "time": .string(WireCoding.string(from: time)), "level": .string(level.rawValue),
                "label": .string(label), "message": .string(message),
            ]
            for (key, value) in metadata where object[key] == nil { object[key] = Self.json(value) }
            return JSONValue.object(object).jsonText
        case .text:
            return "\(WireCoding.string(from: time)) \(level.rawValue) \(label): \(Self.flatten(message))\(Self.pairs(metadata))"
        case .journal:
            return "<\(Self.priority(level))>\(label): \(Self.flatten(message))\(Self.pairs(metadata))"
        }
    }

    /// syslog priorities journald understands (sd-daemon.h).
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// A message stays one line: newlines inside it would start a new journal entry.
    static func flatten(_ text: String) -> String {
        text.contains(where: \.isNewline) ? text.split(whereSeparator: \.isNewline).joined(separator: " ⏎ ") : text
    }

    static func pairs(_ metadata: Logger.Metadata) -> String {
        guard !metadata.isEmpty else { return "" }
        return metadata.sorted { $0.key < $1.key }.map { key, value in
            let text = flatten("\(value)")
            return " \(key)=\(text.contains(" ") || text.isEmpty ? "\"\(text)\"" : text)"
        }.joined()
    }

    static func json(_ value: Logger.Metadata.Value) -> JSONValue {
        switch value {
        case .string(let text): .string(text)
        case .stringConvertible(let convertible): .string(convertible.description)
        case .array(let values): .array(values.map(json))
        case .dictionary(let values): .object(values.mapValues(json))
        }
    }
}
