import CBulwarkLinux
import Foundation
import ZIPFoundation

/// Zip archives: Office Open XML documents (docx, xlsx, pptx) as their text in reading
/// order, with their Microsoft Information Protection labels, and any other zip as the text of
/// its entries (each extracted in turn, so archives in archives count against the nesting limit).
enum ZipText {
    private struct OverLimit: Error {}

    static func extract(
        _ bytes: [UInt8], depth: Int, extractor: ContentExtractor, budget: inout ExtractionBudget, labels: inout [SensitivityLabel]
    ) -> (String, [UInt8]) {
        guard depth < budget.limits.maxNesting else {
            budget.stop("archives nested deeper than \(budget.limits.maxNesting) levels were not opened")
            return ("zip", [])
        }
        // ZIPFoundation's in-memory mode traps on entries that point past the end of the data
        // (a hostile or truncated archive); its file mode reads with fread, which cannot. An
        // anonymous memory file gives it a file without the content touching a disk.
        let memory = MemoryFile(bytes)
        let archive: Archive
        do {
            guard let path = memory.path else { throw MemoryFile.Unavailable() }
            archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .read)
        } catch {
            budget.stop("zip archive is damaged (\(error)); scanned as raw bytes")
            return ("zip", bytes)
        }
        var entries: [String: Entry] = [:]
        var order: [String] = []
        var seen = 0
        for entry in archive {
            seen += 1
            budget.entries += 1
            if budget.entries > budget.limits.maxEntries {
                budget.stop("more than \(budget.limits.maxEntries) archive entries; the rest were not read")
                break
            }
            guard entry.type == .file else { continue }
            entries[entry.path] = entry
            order.append(entry.path)
        }

        // The iterator stops quietly at an entry it cannot read; an archive that declares more
        // entries than could be read is damaged, and what could not be read is scanned raw.
        var raw: [UInt8] = []
        if let declared = declaredEntries(bytes), seen < min(declared, budget.limits.maxEntries) {
            budget.stop("zip archive is damaged: \(seen) of \(declared) entries readable; the rest scanned as raw bytes")
            raw = bytes
        }

        func read(_ path: String) -> [UInt8]? {
            guard let entry = entries[path] else { return nil }
            var room = budget.inflateRoom
            var data: [UInt8] = []
            data.reserveCapacity(Int(min(UInt64(room), entry.uncompressedSize)))
            do {
                _ = try archive.extract(entry, skipCRC32: false) { chunk in
                    guard chunk.count <= room else { throw OverLimit() }
                    room -= chunk.count
                    data.append(contentsOf: chunk)
                }
            } catch is OverLimit {
                budget.inflated = budget.limits.maxInflatedBytes
                budget.stop("archive inflates past \(budget.limits.maxInflatedBytes) bytes; the rest was not read")
                return nil
            } catch {
                budget.stop("archive entry \(path) is damaged (\(error))")
                return nil
            }
            budget.inflated += data.count
            return data
        }

        let isOOXML = entries["[Content_Types].xml"] != nil
        guard isOOXML else {
            var text: [UInt8] = []
            for path in order {
                guard budget.partialReason == nil || budget.inflateRoom > 0, let data = read(path) else { continue }
                var nested: [SensitivityLabel] = []
                let (_, inner) = extractor.extract(Data(data), hint: .fileName(path), depth: depth + 1, budget: &budget, labels: &nested)
                labels += nested
                text += Array("\n[\(path)]\n".utf8) + inner
            }
            return ("zip", text + raw)
        }

        labels += MSIPLabels.office(custom: read("docProps/custom.xml"), labelInfo: read("docMetadata/LabelInfo.xml"))
        var text: [UInt8] = []
        let format: String
        if entries["word/document.xml"] != nil {
            format = "docx"
            let parts = ["word/document.xml"] + sortedParts(order, prefix: "word/header") + sortedParts(order, prefix: "word/footer")
                + ["word/footnotes.xml", "word/endnotes.xml", "word/comments.xml"]
            for part in parts { if let xml = read(part) { text += OOXMLText.runs(xml) + [UInt8(ascii: "\n")] } }
        } else if entries["xl/workbook.xml"] != nil {
            format = "xlsx"
            let shared = read("xl/sharedStrings.xml").map(OOXMLText.sharedStrings) ?? []
            for part in sortedParts(order, prefix: "xl/worksheets/sheet") {
                if let xml = read(part) { text += OOXMLText.sheet(xml, sharedStrings: shared) + [UInt8(ascii: "\n")] }
            }
        } else if entries["ppt/presentation.xml"] != nil {
            format = "pptx"
            for part in sortedParts(order, prefix: "ppt/slides/slide") + sortedParts(order, prefix: "ppt/notesSlides/notesSlide") {
                if let xml = read(part) { text += OOXMLText.runs(xml) + [UInt8(ascii: "\n")] }
            }
        } else {
            format = "ooxml"
        }
        // Embedded objects (a spreadsheet pasted into a document) are documents of their own.
        for path in order where path.contains("/embeddings/") {
            guard let data = read(path) else { continue }
            var nested: [SensitivityLabel] = []
            let (_, inner) = extractor.extract(Data(data), hint: .fileName(path), depth: depth + 1, budget: &budget, labels: &nested)
            labels += nested
            text += [UInt8(ascii: "\n")] + inner
        }
        return (format, text + raw)
    }

    /// The entry count in the end-of-central-directory record (searched from the end, past a
    /// comment of up to 64 KiB), nil when there is none.
    static func declaredEntries(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 22 else { return nil }
        var index = bytes.count - 22
        let floor = max(0, bytes.count - 22 - 65_535)
        while index >= floor {
            if bytes[index] == 0x50, bytes[index + 1] == 0x4B, bytes[index + 2] == 0x05, bytes[index + 3] == 0x06 {
                return Int(bytes[index + 10]) | Int(bytes[index + 11]) << 8
            }
            index -= 1
        }
        return nil
    }

    /// `prefix1.xml, prefix2.xml, …, prefix10.xml` in numeric order.
    static func sortedParts(_ paths: [String], prefix: String) -> [String] {
        paths.filter { $0.hasPrefix(prefix) && $0.hasSuffix(".xml") && !$0.contains("/_rels/") }
            .sorted { number($0, prefix) < number($1, prefix) }
    }

    private static func number(_ path: String, _ prefix: String) -> Int {
        Int(path.dropFirst(prefix.count).prefix { $0.isNumber }) ?? 0
    }
}

/// The text of Office Open XML parts.
enum OOXMLText {
    private static let lineBreaks: Set<Substring> = ["p", "br", "tr", "si", "cr"]
    private static let tabs: Set<Substring> = ["tab", "tc"]

    /// WordprocessingML and DrawingML: the text of `t` elements, with paragraph, row and tab
    /// boundaries. A word split over several runs stays one word.
    static func runs(_ xml: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        var inText = false
        MarkupText.tokens(xml) { token in
            switch token {
            case .open(let name, _, let selfClosing):
                if name == "t", !selfClosing { inText = true }
                if selfClosing, lineBreaks.contains(name) { output.append(UInt8(ascii: "\n")) }
                if tabs.contains(name), selfClosing { output.append(UInt8(ascii: "\t")) }
            case .close(let name):
                if name == "t" { inText = false }
                if lineBreaks.contains(name) { output.append(UInt8(ascii: "\n")) }
                if tabs.contains(name) { output.append(UInt8(ascii: "\t")) }
            case .text(let range):
                if inText { MarkupText.appendDecoded(xml[range], to: &output) }
            }
        }
        return output
    }

    /// xl/sharedStrings.xml: one string per `si`.
    static func sharedStrings(_ xml: [UInt8]) -> [[UInt8]] {
        var strings: [[UInt8]] = []
        var current: [UInt8] = []
        var inText = false
        MarkupText.tokens(xml) { token in
            switch token {
            case .open(let name, _, let selfClosing):
                if name == "t", !selfClosing { inText = true }
                if name == "si" { current = [] }
            case .close(let name):
                if name == "t" { inText = false }
                if name == "si" { strings.append(current) }
            case .text(let range):
                if inText { MarkupText.appendDecoded(xml[range], to: &current) }
            }
        }
        return strings
    }

    /// A worksheet: cells in row order, tab-separated; shared strings resolved.
    static func sheet(_ xml: [UInt8], sharedStrings: [[UInt8]]) -> [UInt8] {
        var output: [UInt8] = []
        var cellType: String?
        var inValue = false
        var value: [UInt8] = []
        MarkupText.tokens(xml) { token in
            switch token {
            case .open(let name, let attributes, let selfClosing):
                if name == "c" { cellType = MarkupText.attribute("t", in: attributes) }
                if (name == "v" || name == "t"), !selfClosing {
                    inValue = true
                    value = []
                }
            case .close(let name):
                switch name {
                case "v", "t":
                    inValue = false
                    if cellType == "s", name == "v" {
                        let index = Int(String(decoding: value, as: UTF8.self)) ?? -1
                        if sharedStrings.indices.contains(index) { output += sharedStrings[index] }
                    } else {
                        output += value
                    }
                case "c": output.append(UInt8(ascii: "\t"))
                case "row": output.append(UInt8(ascii: "\n"))
                default: break
                }
            case .text(let range):
                if inValue { MarkupText.appendDecoded(xml[range], to: &value) }
            }
        }
        return output
    }
}

/// An anonymous in-memory file (memfd) holding some bytes, closed when released.
final class MemoryFile {
    struct Unavailable: Error, CustomStringConvertible {
        var description: String { "no memory file available (memfd_create failed)" }
    }

    private let descriptor: Int32

    init(_ bytes: [UInt8]) {
        var fd = cbulwark_memfd_create("bulwark-extract")
        if fd >= 0 {
            let written = bytes.withUnsafeBytes { raw -> Bool in
                var offset = 0
                while offset < raw.count {
                    let count = write(fd, raw.baseAddress.map { $0 + offset }, raw.count - offset)
                    if count <= 0 { return false }
                    offset += count
                }
                return true
            }
            if !written {
                close(fd)
                fd = -1
            }
        }
        descriptor = fd
    }

    /// A path that opens the same memory file.
    var path: String? { descriptor >= 0 ? "/proc/self/fd/\(descriptor)" : nil }

    deinit {
        if descriptor >= 0 { close(descriptor) }
    }
}
