import BulwarkCore
import Foundation

/// What the agent records about a copy: the `clipboard.copy` event's data. Information types,
/// counts and confidence, the size, the formats offered, the copying process and a keyed hash of
/// the content (so the same text copied twice is recognisable) — never the content.
public enum ClipboardCopyRecord {
    public static func data(_ content: ClipboardContent, scan: ScanResult, keyedHash: KeyedHash?, user: String? = nil) -> [String: JSONValue] {
        var data: [String: JSONValue] = [
            "selection": .string(content.selection.rawValue),
            "bytes": .number(Double(content.text.count)),
            "findings": .array(scan.findings.map { finding in
                .object(["type": .string(finding.type), "count": .number(Double(finding.count)), "confidence": .number(Double(finding.confidence))])
            }),
            "truncated": .bool(content.truncated),
            "targets": .array(content.targets.prefix(32).map(JSONValue.string)),
        ]
        if let keyedHash { data["content_hash"] = .string(keyedHash.hash(content.text)) }
        if let pid = content.ownerPID {
            data["source_pid"] = .number(Double(pid))
            if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe") { data["source_exe"] = .string(exe) }
        }
        if let user { data["user"] = .string(user) }
        return data
    }
}
