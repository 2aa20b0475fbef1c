import BulwarkCore
import CBulwarkLinux
import Foundation
import NIOCore
import Testing
import ZIPFoundation

/// Office files, archives and PDFs built the way their producers write them (ZIP entries
/// with OOXML parts, PDF objects with a Flate content stream), then extracted and scanned.
@Suite("Content extraction: text encodings, HTML, Office, zip, PDF, labels, limits")
struct ContentExtractorTests {
    static let labelGUID = "0c9c8cb0-1d3b-4c3e-9a66-2a5c7d1f8e11"

    static func zip(_ entries: [(String, Data)]) throws -> Data {
        let archive = try Archive(data: Data(), accessMode: .create)
        for (path, data) in entries {
            try archive.addEntry(with: path, type: .file, uncompressedSize: Int64(data.count), compressionMethod: .deflate) { position, size in
                data.subdata(in: Int(position)..<min(data.count, Int(position) + size))
            }
        }
        return try #require(archive.data)
    }

    static func xml(_ text: String) -> Data { Data(("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n" + text).utf8) }

    static let contentTypes = xml(#"<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/></Types>"#)

    static let customProperties = xml("""
    <Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-properties" xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">\
    <property fmtid="{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="2" name="MSIP_Label_\(labelGUID)_Enabled"><vt:lpwstr>true</vt:lpwstr></property>\
    <property fmtid="{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="3" name="MSIP_Label_\(labelGUID)_Name"><vt:lpwstr>Highly Confidential</vt:lpwstr></property>\
    <property fmtid="{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="4" name="MSIP_Label_\(labelGUID)_SiteId"><vt:lpwstr>72f988bf-86f1-41af-91ab-2d7cd011db47</vt:lpwstr></property>\
    </Properties>
    """)

    static func docx(body: String, labelled: Bool = true) throws -> Data {
        var entries = [
            ("[Content_Types].xml", contentTypes),
            ("word/document.xml", xml(#"<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>"# + body + "</w:body></w:document>")),
        ]
        if labelled { entries.append(("docProps/custom.xml", customProperties)) }
        return try zip(entries)
    }

    let scanner = ContentScanner()

    func types(_ result: ScanResult) -> [String] { result.findings.map(\.type) }

    @Test("UTF-16 with either byte order and UTF-8 with a BOM are decoded")
    func encodings() throws {
        let text = "SSN: 536-22-1904"
        var little = Data([0xFF, 0xFE])
        var big = Data([0xFE, 0xFF])
        for unit in text.utf16 {
            little += [UInt8(unit & 0xFF), UInt8(unit >> 8)]
            big += [UInt8(unit >> 8), UInt8(unit & 0xFF)]
        }
        #expect(types(scanner.scan(little)) == ["us_ssn"])
        #expect(types(scanner.scan(big)) == ["us_ssn"])
        #expect(ContentExtractor().extract(little).format == "utf16")
        #expect(types(scanner.scan(Data([0xEF, 0xBB, 0xBF]) + Data(text.utf8))) == ["us_ssn"])
    }

    @Test("HTML: tags stripped, entities decoded, scripts and styles skipped, blocks keep keywords apart from markup")
    func html() {
        let page = "<html><body><table><tr><th>SSN</th><td>536&#45;22&#x2d;1904</td></tr></table><style>.x{}</style>"
            + "<script>var card='4556737586899855'</script><p>mail&nbsp;jane.doe@example.org &amp; more</p></body></html>"
        let result = scanner.scan(Data(page.utf8))
        #expect(types(result) == ["email", "us_ssn"])
        let extracted = ContentExtractor().extract(Data(page.utf8))
        #expect(extracted.format == "html")
        #expect(!String(decoding: extracted.text, as: UTF8.self).contains("<"))
        #expect(types(scanner.scan(Data("<b>SSN</b> 536-22-1904".utf8), hint: .html)) == ["us_ssn"])
    }

    @Test("docx: text across runs, headers, MSIP label from custom properties")
    func docx() throws {
        let body = #"<w:p><w:r><w:t>Card number: 4556 </w:t></w:r><w:r><w:rPr><w:b/></w:rPr><w:t>7375 8689 9855</w:t></w:r></w:p>"#
            + #"<w:p><w:r><w:t xml:space="preserve">Customer &amp; co</w:t></w:r></w:p>"#
        let result = scanner.scan(try Self.docx(body: body))
        #expect(types(result) == ["credit_card"])
        #expect(result.findings.first?.confidence == 85)
        #expect(result.labels == [SensitivityLabel(id: Self.labelGUID, name: "Highly Confidential", source: "msip")])
        #expect(ContentExtractor().extract(try Self.docx(body: body)).format == "docx")
        #expect(result.partial == false)
    }

    @Test("MSIP LabelInfo.xml labels without custom properties; disabled labels are not labels")
    func labelInfo() throws {
        let info = Self.xml(#"<clbl:labelList xmlns:clbl="http://schemas.microsoft.com/office/2020/mipLabelMetadata"><clbl:label id="{\#(Self.labelGUID.uppercased())}" enabled="1" method="Standard" siteId="{72f988bf-86f1-41af-91ab-2d7cd011db47}" removed="0"/><clbl:label id="{11111111-2222-3333-4444-555555555555}" enabled="0" method="Standard" siteId="{x}" removed="0"/></clbl:labelList>"#)
        let data = try Self.zip([("[Content_Types].xml", Self.contentTypes),
                                 ("word/document.xml", Self.xml("<w:document><w:body><w:p><w:r><w:t>hello</w:t></w:r></w:p></w:body></w:document>")),
                                 ("docMetadata/LabelInfo.xml", info)])
        #expect(scanner.scan(data).labels == [SensitivityLabel(id: Self.labelGUID, name: nil, source: "msip")])
    }

    @Test("xlsx: shared strings resolved into row order so a header keyword supports its value")
    func xlsx() throws {
        let shared = Self.xml(#"<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="2" uniqueCount="2"><si><t>Name</t></si><si><t>SSN</t></si><si><t>Jane Roe</t></si><si><r><t>536-22-</t></r><r><t>1904</t></r></si></sst>"#)
        let sheet = Self.xml(#"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row><row r="2"><c r="A2" t="s"><v>2</v></c><c r="B2" t="s"><v>3</v></c><c r="C2"><v>4556737586899855</v></c><c r="D2" t="inlineStr"><is><t>jane@example.org</t></is></c></row></sheetData></worksheet>"#)
        let data = try Self.zip([("[Content_Types].xml", Self.contentTypes), ("xl/workbook.xml", Self.xml("<workbook/>")),
                                 ("xl/sharedStrings.xml", shared), ("xl/worksheets/sheet1.xml", sheet)])
        let extracted = ContentExtractor().extract(data)
        #expect(extracted.format == "xlsx")
        #expect(String(decoding: extracted.text, as: UTF8.self).hasPrefix("Name\tSSN\t\nJane Roe\t536-22-1904\t4556737586899855\tjane@example.org"))
        #expect(types(scanner.scan(data)) == ["credit_card", "email", "us_ssn"])
    }

    @Test("pptx: slides in numeric order, and notes")
    func pptx() throws {
        func slide(_ text: String) -> Data { Self.xml(#"<p:sld xmlns:a="a" xmlns:p="p"><p:cSld><p:spTree><p:sp><p:txBody><a:p><a:r><a:t>\#(text)</a:t></a:r></a:p></p:txBody></p:sp></p:spTree></p:cSld></p:sld>"#) }
        let data = try Self.zip([("[Content_Types].xml", Self.contentTypes), ("ppt/presentation.xml", Self.xml("<p:presentation/>")),
                                 ("ppt/slides/slide10.xml", slide("ten")), ("ppt/slides/slide2.xml", slide("two AKIAZ3MXQ5RW7TBN4P2K")),
                                 ("ppt/notesSlides/notesSlide1.xml", slide("note"))])
        let extracted = ContentExtractor().extract(data)
        #expect(extracted.format == "pptx")
        #expect(String(decoding: extracted.text, as: UTF8.self) == "two AKIAZ3MXQ5RW7TBN4P2K\n\nten\n\nnote\n\n")
        #expect(types(scanner.scan(data)) == ["aws_access_key_id"])
    }

    @Test("zip archives: entries scanned, including a docx inside a zip with its label")
    func archives() throws {
        let inner = try Self.docx(body: "<w:p><w:r><w:t>SSN 536-22-1904</w:t></w:r></w:p>")
        let data = try Self.zip([("notes.txt", Data("mail jane.doe@example.org".utf8)), ("report.docx", inner)])
        let result = scanner.scan(data)
        #expect(types(result) == ["email", "us_ssn"])
        #expect(result.labels.map(\.name) == ["Highly Confidential"])
        #expect(result.partial == false)
    }

    @Test("a zip bomb stops at the inflate limit, keeps what it read, and says partial")
    func zipBomb() throws {
        let zeros = Data(count: 64 * 1024 * 1024)
        let data = try Self.zip([("a.txt", Data("SSN 536-22-1904\n".utf8)), ("bomb.txt", zeros)])
        #expect(data.count < 1024 * 1024)
        var limits = ExtractionLimits()
        limits.maxInflatedBytes = 8 * 1024 * 1024
        let result = ContentScanner(extractor: ContentExtractor(limits: limits)).scan(data)
        #expect(result.partial)
        #expect(result.partialReason == "archive inflates past 8388608 bytes; the rest was not read")
        #expect(types(result) == ["us_ssn"])
    }

    @Test("nesting, entry count and input size limits; a damaged archive is scanned raw")
    func limits() throws {
        var nested = try Self.zip([("deep.txt", Data("SSN 536-22-1904".utf8))])
        for level in 0..<4 { nested = try Self.zip([("level\(level).zip", nested)]) }
        let deep = scanner.scan(nested)
        #expect(deep.partial)
        #expect(deep.partialReason == "archives nested deeper than 3 levels were not opened")

        let many = try Self.zip((0..<30).map { ("f\($0).txt", Data("x".utf8)) })
        var limits = ExtractionLimits()
        limits.maxEntries = 10
        #expect(ContentExtractor(limits: limits).extract(many).partialReason == "more than 10 archive entries; the rest were not read")

        limits = ExtractionLimits()
        limits.maxInputBytes = 16
        let cut = ContentScanner(extractor: ContentExtractor(limits: limits)).scan(Data("hello world, SSN 536-22-1904".utf8))
        #expect(cut.partial)
        #expect(cut.findings.isEmpty)

        var damaged = try Self.zip([("a.txt", Data("hello".utf8))])
        damaged.removeLast(30)
        damaged += Data(" SSN 536-22-1904".utf8)
        let raw = scanner.scan(damaged)
        #expect(raw.partial)
        #expect(raw.partialReason?.hasPrefix("zip archive is damaged") == true)
        #expect(types(raw) == ["us_ssn"])
    }

    static func pdf(content: String, info: String) throws -> Data {
        let compressed = try Deflate.compress(ByteBuffer(string: content))
        var pdf = Data("%PDF-1.4\n%\u{E2}\u{E3}\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n".utf8)
        pdf += Data("2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n".utf8)
        pdf += Data("3 0 obj\n<< /Type /Page /Parent 2 0 R /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>\nendobj\n".utf8)
        pdf += Data("4 0 obj\n<< /Length \(compressed.readableBytes) /Filter /FlateDecode >>\nstream\n".utf8)
        pdf += Data(compressed.readableBytesView) + Data("\nendstream\nendobj\n".utf8)
        pdf += Data("5 0 obj\n<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>\nendobj\n".utf8)
        pdf += Data("6 0 obj\n<< \(info) >>\nendobj\ntrailer\n<< /Root 1 0 R /Info 6 0 R >>\n%%EOF\n".utf8)
        return pdf
    }

    @Test("PDF: text from a Flate content stream (Tj, TJ with word gaps, escapes) and the MSIP label in Info")
    func pdf() throws {
        let content = "BT /F1 12 Tf 72 720 Td (Card number \\(Visa\\):) Tj 0 -14 Td [(4556 7375) -250 (8689 9855)] TJ ET\n"
            + "BT 72 700 Td <53534E3A20> Tj (536-22-1904) Tj ET"
        let info = "/Producer (Test) /MSIP_Label_\(Self.labelGUID)_Enabled (true) /MSIP_Label_\(Self.labelGUID)_Name (Confidential)"
        let data = try Self.pdf(content: content, info: info)
        let extracted = ContentExtractor().extract(data)
        #expect(extracted.format == "pdf")
        #expect(String(decoding: extracted.text, as: UTF8.self).contains("Card number (Visa): 4556 7375 8689 9855"))
        let result = scanner.scan(data)
        #expect(types(result) == ["credit_card", "us_ssn"])
        #expect(result.labels == [SensitivityLabel(id: Self.labelGUID, name: "Confidential", source: "pdf")])

        // A stream that is not valid deflate is reported, not fatal.
        var broken = data
        let marker = try #require(broken.range(of: Data("stream\n".utf8)))
        broken[marker.upperBound] ^= 0xFF
        let partial = scanner.scan(broken)
        #expect(partial.partial)
        #expect(partial.partialReason?.hasPrefix("a PDF stream could not be decompressed") == true)
        #expect(partial.labels.count == 1)
    }

    @Test("the user.bulwark.label extended attribute labels any file")
    func xattrLabel() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bulwark-xattr-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("plan.txt").path
        try Data("roadmap".utf8).write(to: URL(fileURLWithPath: path))
        #expect(try scanner.scan(path: path).labels.isEmpty)
        let value = Array("Internal Only".utf8)
        #expect(setxattr(path, FileLabel.attribute, value, value.count, 0) == 0)
        #expect(try scanner.scan(path: path).labels == [SensitivityLabel(id: "Internal Only", name: "Internal Only", source: "xattr")])
        #expect(throws: ExtractionError.self) { try scanner.scan(path: directory.appendingPathComponent("missing").path) }
    }

    @Test("hostile archives: every truncation and thousands of corrupted variants extract without trapping")
    func corruptedArchives() throws {
        let inner = try Self.docx(body: "<w:p><w:r><w:t>SSN 536-22-1904</w:t></w:r></w:p>")
        let valid = try Self.zip([("a.txt", Data("mail jane.doe@example.org".utf8)), ("nested/report.docx", inner), ("b.zip", inner)])
        let bytes = [UInt8](valid)
        var cases = 0
        // A central directory entry whose local header lies far past the end of the archive
        // (what trapped ZIPFoundation's in-memory reader on a real-world sample).
        var pastTheEnd = bytes
        let signature: [UInt8] = [0x50, 0x4B, 0x01, 0x02]
        let directory = try #require((0..<(bytes.count - 4)).first { Array(bytes[$0..<($0 + 4)]) == signature })
        pastTheEnd.replaceSubrange((directory + 42)..<(directory + 46), with: [0xF0, 0xFF, 0xFF, 0x7F])
        let hostile = ContentScanner().scan(Data(pastTheEnd))
        #expect(hostile.partial)
        #expect(hostile.partialReason?.hasPrefix("archive entry") == true || hostile.partialReason?.hasPrefix("zip archive is damaged") == true)

        for cut in stride(from: 0, to: bytes.count, by: 31) {
            let result = ContentExtractor().extract(Data(bytes[0..<cut]))
            #expect(result.text.count <= bytes.count * 4)
            cases += 1
        }
        var generator = SplitMix64(seed: 42)
        for _ in 0..<300 {
            var mutated = bytes
            for _ in 0..<Int.random(in: 1...8, using: &generator) {
                mutated[Int.random(in: 0..<mutated.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            }
            _ = ContentScanner().scan(Data(mutated))
            cases += 1
        }
        #expect(cases > 300)
        // The undamaged archive still yields everything.
        #expect(types(scanner.scan(valid)) == ["email", "us_ssn"])
    }
}

/// A small deterministic generator so a failing mutation can be reproduced.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
