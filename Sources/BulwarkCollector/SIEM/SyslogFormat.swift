import BulwarkCore
import Foundation
import NIOCore

/// Events as RFC 5424 syslog messages, framed for RFC 5425 (syslog over TLS: `LENGTH SP MSG`).
/// `<PRI>1 TIMESTAMP HOSTNAME bulwark - MSGID [bulwark@32473 id=… agent=… seq=… incident=…] BOM JSON`:
/// facility local0; severity warning for blocks, notice for warnings and overrides, info
/// otherwise; MSGID the event type; the message the event as the API shows it.
enum SyslogFormat {
    /// The SD-ID's enterprise number is 32473, the one RFC 5612 reserves for documentation and
    /// examples, until Bulwark has its own.
    static let structuredDataID = "bulwark@32473"

    static func frame(_ event: RawEvent, hostname: String) -> [UInt8] {
        let message = self.message(event, hostname: hostname)
        return Array("\(message.utf8.count) ".utf8) + Array(message.utf8)
    }

    static func message(_ event: RawEvent, hostname: String) -> String {
        var data: [String: JSONValue] = [:]
        if case .object(let object)? = try? JSONReader.parse(event.data) { data = object }
        let priority = 16 * 8 + severity(type: event.type, action: data["action"]?.stringValue)
        var parameters = [("id", String(event.id)), ("agent", event.agent), ("seq", String(event.seq))]
        if let incident = data["incident_id"]?.stringValue { parameters.append(("incident", incident)) }
        let structured = "[\(structuredDataID) " + parameters.map { "\($0.0)=\"\(escapeParameter($0.1))\"" }.joined(separator: " ") + "]"
        var line = ByteBuffer()
        EventExport.appendNDJSON(event, to: &line)
        let json = String(buffer: line).trimmingCharacters(in: .newlines)
        return "<\(priority)>1 \(WireCoding.string(from: event.time)) \(header(hostname, max: 255)) bulwark - \(header(event.type, max: 32)) \(structured) \u{FEFF}\(json)"
    }

    /// 4 warning for blocks, 5 notice for warnings and overrides, 6 informational otherwise.
    static func severity(type: String, action: String?) -> Int {
        if type.hasSuffix(".blocked") || action == "block" { return 4 }
        if type.hasSuffix(".warned") || type.hasSuffix(".overridden") || action == "warn" { return 5 }
        return 6
    }

    /// Header fields are printable US-ASCII without spaces (RFC 5424 §6); anything else becomes `_`.
    static func header(_ text: String, max: Int) -> String {
        let cleaned = String(text.unicodeScalars.prefix(max).map { (33...126).contains($0.value) ? Character($0) : "_" })
        return cleaned.isEmpty ? "-" : cleaned
    }

    /// `"`, `\` and `]` are escaped in parameter values (RFC 5424 §6.3.3).
    static func escapeParameter(_ text: String) -> String {
        var escaped = ""
        for character in text {
            if character == "\"" || character == "\\" || character == "]" { escaped.append("\\") }
            escaped.append(character)
        }
        return escaped
    }
}
