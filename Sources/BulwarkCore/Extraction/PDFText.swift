import NIOCore

/// Text from PDF content streams, where feasible: uncompressed and FlateDecode streams, text
/// shown with literal or single-byte hex strings (Tj, TJ, ', "). Fonts that map glyph ids
/// through ToUnicode CMaps (typical of subset fonts) are not decoded, so such PDFs yield
/// little text; docs/CLASSIFICATION.md says so. MSIP labels are read from the Info dictionary
/// and XMP metadata, compressed or not.
enum PDFText {
    static func extract(_ bytes: [UInt8], budget: inout ExtractionBudget, labels: inout [SensitivityLabel]) -> [UInt8] {
        var text: [UInt8] = []
        var metadata = MSIPLabels.pdf(bytes)
        let streamKeyword = Array("stream".utf8)
        let endKeyword = Array("endstream".utf8)
        var from = 0
        while let at = MarkupText.find(streamKeyword, in: bytes, from: from) {
            from = at + streamKeyword.count
            // "endstream" also contains "stream"; a stream keyword starts a line's data.
            guard at < 3 || !bytes[(at - 3)..<at].elementsEqual("end".utf8) else { continue }
            var dataStart = from
            if dataStart < bytes.count, bytes[dataStart] == UInt8(ascii: "\r") { dataStart += 1 }
            guard dataStart < bytes.count, bytes[dataStart] == UInt8(ascii: "\n") else { continue }
            dataStart += 1
            guard let dataEnd = MarkupText.find(endKeyword, in: bytes, from: dataStart) else { break }
            from = dataEnd + endKeyword.count
            let dictionary = Self.dictionary(before: at, in: bytes)
            if dictionary.contains("/Image") || dictionary.contains("/FontFile") { continue }
            var end = dataEnd
            while end > dataStart, bytes[end - 1] == UInt8(ascii: "\n") || bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
            var content = Array(bytes[dataStart..<end])
            if dictionary.contains("/FlateDecode") {
                guard budget.inflateRoom > 0 else {
                    budget.stop("PDF streams inflate past \(budget.limits.maxInflatedBytes) bytes; the rest was not read")
                    break
                }
                do {
                    let inflated = try Deflate.inflate(ByteBuffer(bytes: content), limit: budget.inflateRoom)
                    content = Array(inflated.readableBytesView)
                    budget.inflated += content.count
                } catch .limitExceeded {
                    budget.inflated = budget.limits.maxInflatedBytes
                    budget.stop("PDF streams inflate past \(budget.limits.maxInflatedBytes) bytes; the rest was not read")
                    break
                } catch {
                    budget.stop("a PDF stream could not be decompressed (\(error))")
                    continue
                }
            } else if dictionary.contains("/Filter") {
                continue  // other encodings (images, fonts) hold no text we can read
            }
            if dictionary.contains("/Metadata") || content.starts(with: Array("<?xpacket".utf8)) {
                metadata += MSIPLabels.pdf(content)
                continue
            }
            text += showText(content)
        }
        for label in metadata where !labels.contains(label) { labels.append(label) }
        return text
    }

    /// The object dictionary that precedes a `stream` keyword.
    static func dictionary(before index: Int, in bytes: [UInt8]) -> String {
        var start = index
        let floor = max(0, index - 4096)
        while start > floor, !(bytes[start - 1] == UInt8(ascii: "j") && start >= 3 && bytes[(start - 3)..<start].elementsEqual("obj".utf8)) {
            start -= 1
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    /// The strings shown by text operators in a content stream, in order.
    static func showText(_ stream: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        var operands: [[UInt8]] = []
        var index = 0
        let count = stream.count
        while index < count {
            let byte = stream[index]
            switch byte {
            case UInt8(ascii: "("):
                var depth = 1
                var value: [UInt8] = []
                index += 1
                while index < count, depth > 0 {
                    let current = stream[index]
                    if current == UInt8(ascii: "\\"), index + 1 < count {
                        index += 1
                        let escaped = stream[index]
                        switch escaped {
                        case UInt8(ascii: "n"): value.append(UInt8(ascii: "\n"))
                        case UInt8(ascii: "r"): value.append(UInt8(ascii: "\r"))
                        case UInt8(ascii: "t"): value.append(UInt8(ascii: "\t"))
                        case UInt8(ascii: "0")...UInt8(ascii: "7"):
                            var code = 0
                            var digits = 0
                            while index < count, digits < 3, (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(stream[index]) {
                                code = code * 8 + Int(stream[index] - UInt8(ascii: "0"))
                                index += 1
                                digits += 1
                            }
                            index -= 1
                            value.append(UInt8(truncatingIfNeeded: code))
                        case UInt8(ascii: "\n"), UInt8(ascii: "\r"): break
                        default: value.append(escaped)
                        }
                    } else if current == UInt8(ascii: "(") {
                        depth += 1
                        value.append(current)
                    } else if current == UInt8(ascii: ")") {
                        depth -= 1
                        if depth > 0 { value.append(current) }
                    } else {
                        value.append(current)
                    }
                    index += 1
                }
                operands.append(latin1(value))
            case UInt8(ascii: "<") where index + 1 < count && stream[index + 1] != UInt8(ascii: "<"):
                var hex: [UInt8] = []
                index += 1
                while index < count, stream[index] != UInt8(ascii: ">") {
                    if let nibble = hexValue(stream[index]) { hex.append(nibble) }
                    index += 1
                }
                index += 1
                if hex.count % 2 == 1 { hex.append(0) }
                let decoded = stride(from: 0, to: hex.count, by: 2).map { hex[$0] << 4 | hex[$0 + 1] }
                // Two-byte glyph ids (subset fonts) need the font's CMap; skip them.
                if decoded.allSatisfy({ $0 >= 0x20 || $0 == 0x09 || $0 == 0x0A }) { operands.append(latin1(decoded)) }
            case UInt8(ascii: "["), UInt8(ascii: "]"):
                index += 1
            case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "0")...UInt8(ascii: "9"):
                let start = index
                while index < count, stream[index] == UInt8(ascii: "-") || stream[index] == UInt8(ascii: ".") || Candidates.isDigit(stream[index]) { index += 1 }
                // Large negative TJ adjustments are word gaps.
                if let value = Double(String(decoding: stream[start..<index], as: UTF8.self)), value < -200, !operands.isEmpty {
                    operands.append([UInt8(ascii: " ")])
                }
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "'"), UInt8(ascii: "\""), UInt8(ascii: "*"):
                let start = index
                while index < count, Candidates.isAlphanumeric(stream[index]) || stream[index] == UInt8(ascii: "*") || stream[index] == UInt8(ascii: "'") || stream[index] == UInt8(ascii: "\"") {
                    index += 1
                }
                let op = String(decoding: stream[start..<index], as: UTF8.self)
                switch op {
                case "Tj", "TJ":
                    operands.forEach { output += $0 }
                case "'", "\"":
                    output.append(UInt8(ascii: "\n"))
                    operands.forEach { output += $0 }
                case "ET", "T*":
                    output.append(UInt8(ascii: "\n"))
                case "Td", "TD", "Tm":
                    output.append(UInt8(ascii: " "))
                default:
                    break
                }
                operands.removeAll()
            case UInt8(ascii: "/"):
                index += 1
                while index < count, Candidates.isAlphanumeric(stream[index]) || stream[index] == UInt8(ascii: "_") || stream[index] == UInt8(ascii: "-") { index += 1 }
            default:
                index += 1
            }
        }
        return output
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        if Candidates.isDigit(byte) { return byte - UInt8(ascii: "0") }
        let lower = byte | 0x20
        return lower >= UInt8(ascii: "a") && lower <= UInt8(ascii: "f") ? lower - UInt8(ascii: "a") + 10 : nil
    }

    /// PDFDocEncoding is Latin-1 for the printable range; as UTF-8.
    static func latin1(_ bytes: [UInt8]) -> [UInt8] {
        bytes.allSatisfy { $0 < 0x80 } ? bytes : Array(String(bytes.map { Character(Unicode.Scalar($0)) }).utf8)
    }
}
