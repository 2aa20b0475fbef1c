/// One CSV field (RFC 4180): quoted when it holds a comma, quote or line break (quotes doubled);
/// a field a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab or CR first, and not a
/// number) gets a leading `'`. The CLI's `--csv` and the collector's CSV export both write this.
public enum CSVField {
    public static func escape(_ value: String) -> String {
        var field = value
        if let first = field.utf8.first, "=+-@\t\r".utf8.contains(first), Double(field) == nil { field = "'" + field }
        guard field.utf8.contains(where: { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == 0x0A || $0 == 0x0D }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
