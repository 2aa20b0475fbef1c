import CBulwarkLinux
import Foundation

/// Microsoft Information Protection labels as Office and PDF files carry them.
enum MSIPLabels {
    /// From an Office file's docProps/custom.xml (`MSIP_Label_<GUID>_Enabled/_Name/_SiteId`
    /// properties) and docMetadata/LabelInfo.xml (`<clbl:label id="{GUID}" enabled="1">`).
    /// Disabled or removed labels are not labels.
    static func office(custom: [UInt8]?, labelInfo: [UInt8]?) -> [SensitivityLabel] {
        var properties: [String: String] = [:]
        if let custom {
            var current: String?
            var value: [UInt8] = []
            MarkupText.tokens(custom) { token in
                switch token {
                case .open(let name, let attributes, _):
                    if name == "property" {
                        current = MarkupText.attribute("name", in: attributes)
                        value = []
                    }
                case .close(let name):
                    if name == "property", let key = current {
                        properties[key] = String(decoding: value, as: UTF8.self)
                        current = nil
                    }
                case .text(let range):
                    if current != nil { MarkupText.appendDecoded(custom[range], to: &value) }
                }
            }
        }
        var labels = fromProperties(properties, source: "msip")
        if let labelInfo {
            MarkupText.tokens(labelInfo) { token in
                guard case .open(let name, let attributes, _) = token, name == "label",
                      let id = MarkupText.attribute("id", in: attributes).map(normalisedGUID),
                      MarkupText.attribute("enabled", in: attributes) != "0", MarkupText.attribute("removed", in: attributes) != "1",
                      !labels.contains(where: { $0.id == id })
                else { return }
                labels.append(SensitivityLabel(id: id, name: nil, source: "msip"))
            }
        }
        return labels
    }

    /// From a PDF's Info dictionary (`/MSIP_Label_<GUID>_Name (Confidential)`) or XMP packet
    /// (`<pdfx:MSIP_Label_<GUID>_Name>Confidential</pdfx:…>`), wherever they appear in `bytes`.
    static func pdf(_ bytes: [UInt8]) -> [SensitivityLabel] {
        let marker = Array("MSIP_Label_".utf8)
        var properties: [String: String] = [:]
        var from = 0
        while let at = MarkupText.find(marker, in: bytes, from: from) {
            from = at + marker.count
            var end = from
            while end < bytes.count, end - from < 80, Candidates.isAlphanumeric(bytes[end]) || bytes[end] == UInt8(ascii: "_") || bytes[end] == UInt8(ascii: "-") {
                end += 1
            }
            let key = "MSIP_Label_" + String(decoding: bytes[from..<end], as: UTF8.self)
            // Skip the delimiters between key and value: `>`, ` (`, `="`.
            var valueStart = end
            while valueStart < bytes.count, valueStart - end < 4, [UInt8(ascii: ">"), UInt8(ascii: " "), UInt8(ascii: "("), UInt8(ascii: "="), UInt8(ascii: "\"")].contains(bytes[valueStart]) {
                valueStart += 1
            }
            var valueEnd = valueStart
            while valueEnd < bytes.count, valueEnd - valueStart < 256, ![UInt8(ascii: "<"), UInt8(ascii: ")"), UInt8(ascii: "\""), UInt8(ascii: "\n")].contains(bytes[valueEnd]) {
                valueEnd += 1
            }
            if properties[key] == nil { properties[key] = String(decoding: bytes[valueStart..<valueEnd], as: UTF8.self) }
            from = valueEnd
        }
        return fromProperties(properties, source: "pdf")
    }

    /// Labels from `MSIP_Label_<GUID>_<Field>` properties: enabled ones, with their names.
    static func fromProperties(_ properties: [String: String], source: String) -> [SensitivityLabel] {
        var labels: [SensitivityLabel] = []
        for (key, value) in properties.sorted(by: { $0.key < $1.key }) where key.hasSuffix("_Enabled") {
            guard value.lowercased() == "true" else { continue }
            let guid = String(key.dropFirst("MSIP_Label_".count).dropLast("_Enabled".count))
            labels.append(SensitivityLabel(id: normalisedGUID(guid), name: properties["MSIP_Label_\(guid)_Name"], source: source))
        }
        return labels
    }

    static func normalisedGUID(_ text: String) -> String {
        text.trimmingCharacters(in: CharacterSet(charactersIn: "{}")).lowercased()
    }
}

/// Bulwark's own label for any file: the extended attribute `user.bulwark.label`
/// (`setfattr -n user.bulwark.label -v Confidential FILE`).
public enum FileLabel {
    public static let attribute = "user.bulwark.label"

    public static func read(path: String) -> SensitivityLabel? {
        var buffer = [UInt8](repeating: 0, count: 256)
        let length = getxattr(path, attribute, &buffer, buffer.count)
        return label(buffer: buffer, length: length)
    }

    /// The label of an open file (the file guard reads through the descriptor fanotify gave it).
    public static func read(descriptor: Int32) -> SensitivityLabel? {
        var buffer = [UInt8](repeating: 0, count: 256)
        let length = fgetxattr(descriptor, attribute, &buffer, buffer.count)
        return label(buffer: buffer, length: length)
    }

    private static func label(buffer: [UInt8], length: Int) -> SensitivityLabel? {
        guard length > 0 else { return nil }
        let name = String(decoding: buffer[0..<length], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return name.isEmpty ? nil : SensitivityLabel(id: name, name: name, source: "xattr")
    }
}
