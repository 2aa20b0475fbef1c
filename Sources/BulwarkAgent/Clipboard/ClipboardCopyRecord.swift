import BulwarkCore
import Foundation

/// What the agent records about a copy: the `clipboard.copy` event's data. Information types,
/// counts and confidence, the size, the formats offered, the copying process, the site a browser
/// copied from (host only: paths and queries can carry personal data) and a keyed hash of the
/// content (so the same text copied twice is recognisable) — never the content.
public enum ClipboardCopyRecord {
    public static func data(
        _ content: ClipboardContent, scan: ScanResult, keyedHash: KeyedHash?, user: String? = nil, catalog: AIAppCatalog = AIAppCatalog()
    ) -> [String: JSONValue] {
        var data: [String: JSONValue] = [
            "selection": .string(content.selection.rawValue),
            "bytes": .number(Double(content.text.count)),
            "findings": findings(scan),
            "truncated": .bool(content.truncated),
            "targets": .array(content.targets.prefix(32).map(JSONValue.string)),
        ]
        if let keyedHash { data["content_hash"] = .string(keyedHash.hash(content.text)) }
        if let pid = content.ownerPID {
            data["source_pid"] = .number(Double(pid))
            if let exe = ProcessLineage.executablePath(of: pid) { data["source_exe"] = .string(exe) }
        }
        if let host = content.sourceURL.flatMap({ URLComponents(string: $0)?.host }), !host.isEmpty {
            data["source_host"] = .string(host)
            if let app = catalog.app(host: host) { data["source_app"] = .string(app.id) }
        }
        if let user { data["user"] = .string(user) }
        return data
    }

    /// Type, count and confidence per finding: what clipboard events say about content.
    static func findings(_ scan: ScanResult) -> JSONValue {
        .array(scan.findings.map { finding in
            .object(["type": .string(finding.type), "count": .number(Double(finding.count)), "confidence": .number(Double(finding.confidence))])
        })
    }
}

extension ContentScanner {
    /// Classifies a copy: its text, plus whatever its HTML flavour adds (attributes, hidden
    /// cells); a copy cut at the read limit is a partial scan.
    public func scan(_ content: ClipboardContent) -> ScanResult {
        var result = scan(Data(content.text))
        if let html = content.html {
            for finding in scan(Data(html), hint: .html).findings where !result.findings.contains(where: { $0.type == finding.type }) {
                result.findings.append(finding)
            }
        }
        if content.truncated {
            result.partial = true
            result.partialReason = "clipboard content over the guard's read limit"
        }
        return result
    }
}
