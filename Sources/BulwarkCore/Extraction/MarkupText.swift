/// Text out of HTML and XML without a DOM: one pass over the bytes, tags dropped, entities
/// decoded, block boundaries turned into line breaks so keywords stay near their values.
enum MarkupText {
    /// One piece of markup.
    enum Token {
        /// `<name attributes>`; `attributes` is the raw text after the name.
        case open(name: Substring, attributes: Substring, selfClosing: Bool)
        case close(name: Substring)
        case text(Range<Int>)
    }

    /// Walks tags and text. Comments, processing instructions, CDATA markers and doctypes are
    /// skipped (CDATA content is text).
    static func tokens(_ bytes: [UInt8], visit: (Token) -> Void) {
        var index = 0
        let count = bytes.count
        while index < count {
            guard bytes[index] == UInt8(ascii: "<") else {
                let start = index
                while index < count, bytes[index] != UInt8(ascii: "<") { index += 1 }
                visit(.text(start..<index))
                continue
            }
            if bytes[index...].starts(with: Array("<!--".utf8)) {
                index = find(Array("-->".utf8), in: bytes, from: index + 4).map { $0 + 3 } ?? count
                continue
            }
            if bytes[index...].starts(with: Array("<![CDATA[".utf8)) {
                let end = find(Array("]]>".utf8), in: bytes, from: index + 9) ?? count
                visit(.text((index + 9)..<end))
                index = min(count, end + 3)
                continue
            }
            var end = index + 1
            var quote: UInt8?
            while end < count {
                let byte = bytes[end]
                if let open = quote {
                    if byte == open { quote = nil }
                } else if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                    quote = byte
                } else if byte == UInt8(ascii: ">") {
                    break
                }
                end += 1
            }
            let inner = String(decoding: bytes[(index + 1)..<min(end, count)], as: UTF8.self)
            index = min(count, end + 1)
            if inner.hasPrefix("?") || inner.hasPrefix("!") { continue }
            if inner.hasPrefix("/") {
                visit(.close(name: localName(inner.dropFirst().prefix { !$0.isWhitespace })))
                continue
            }
            let selfClosing = inner.hasSuffix("/")
            let body = selfClosing ? inner.dropLast() : Substring(inner)
            let name = body.prefix { !$0.isWhitespace }
            visit(.open(name: localName(name), attributes: body.dropFirst(name.count), selfClosing: selfClosing))
        }
    }

    static func localName(_ name: Substring) -> Substring {
        name.lastIndex(of: ":").map { name[name.index(after: $0)...] } ?? name
    }

    static func find(_ needle: [UInt8], in bytes: [UInt8], from start: Int) -> Int? {
        guard let first = needle.first, needle.count <= bytes.count else { return nil }
        var index = start
        while index + needle.count <= bytes.count {
            if bytes[index] == first, bytes[index..<(index + needle.count)].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }

    /// The value of attribute `name` in a tag's attribute text.
    static func attribute(_ name: String, in attributes: Substring) -> String? {
        var rest = attributes[...]
        while let range = rest.range(of: name + "=") {
            let before = rest[..<range.lowerBound].last
            let after = rest[range.upperBound...]
            rest = after
            guard before == nil || before?.isWhitespace == true || before == ":", let quote = after.first, quote == "\"" || quote == "'" else { continue }
            let value = after.dropFirst().prefix { $0 != quote }
            return decodeEntities(String(value))
        }
        return nil
    }

    private static let textAttributes = ["href", "src", "value", "title", "alt", "placeholder", "content"]

    private static let htmlBlocks: Set<Substring> = [
        "p", "div", "br", "li", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "table", "ul", "ol", "section",
        "article", "header", "footer", "blockquote", "dd", "dt",
    ]

    /// HTML (the clipboard's text/html flavour, saved pages) as text.
    static func html(_ bytes: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count / 2)
        var skipping: Substring?
        tokens(bytes) { token in
            switch token {
            case .open(let name, let attributes, let selfClosing):
                let lowered = Substring(name.lowercased())
                if skipping == nil, !selfClosing, lowered == "script" || lowered == "style" { skipping = lowered }
                if htmlBlocks.contains(lowered) { output.append(UInt8(ascii: "\n")) }
                // Attribute values people read or that carry data (links with tokens, form values).
                for name in textAttributes {
                    if let value = attribute(name, in: attributes), !value.isEmpty {
                        output.append(UInt8(ascii: " "))
                        output += Array(value.utf8)
                        output.append(UInt8(ascii: " "))
                    }
                }
            case .close(let name):
                let lowered = Substring(name.lowercased())
                if skipping == lowered { skipping = nil }
                if htmlBlocks.contains(lowered) { output.append(UInt8(ascii: "\n")) }
            case .text(let range):
                if skipping == nil { appendDecoded(bytes[range], to: &output) }
            }
        }
        return output
    }

    /// Appends text with character references decoded.
    static func appendDecoded(_ text: ArraySlice<UInt8>, to output: inout [UInt8]) {
        guard text.contains(UInt8(ascii: "&")) else {
            output.append(contentsOf: text)
            return
        }
        output.append(contentsOf: decodeEntities(String(decoding: text, as: UTF8.self)).utf8)
    }

    private static let named: [Substring: String] = [
        "amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'", "nbsp": " ", "#160": " ",
    ]

    static func decodeEntities(_ text: String) -> String {
        guard text.contains("&") else { return text }
        var output = ""
        var rest = Substring(text)
        while let amp = rest.firstIndex(of: "&") {
            output += rest[..<amp]
            let after = rest[rest.index(after: amp)...]
            guard let semicolon = after.prefix(12).firstIndex(of: ";") else {
                output += "&"
                rest = after
                continue
            }
            let name = after[..<semicolon]
            var replacement: String?
            if let known = named[name] {
                replacement = known
            } else if name.hasPrefix("#x") || name.hasPrefix("#X"), let code = UInt32(name.dropFirst(2), radix: 16), let scalar = Unicode.Scalar(code) {
                replacement = String(Character(scalar))
            } else if name.hasPrefix("#"), let code = UInt32(name.dropFirst()), let scalar = Unicode.Scalar(code) {
                replacement = String(Character(scalar))
            }
            if let replacement {
                output += replacement
                rest = after[after.index(after: semicolon)...]
            } else {
                output += "&"
                rest = after
            }
        }
        return output + rest
    }
}

/// Text encodings recognised by their byte-order mark.
enum TextDecoding {
    /// UTF-16 (LE or BE by BOM) as UTF-8; unpaired surrogates become U+FFFD.
    static func utf16(_ bytes: [UInt8]) -> [UInt8] {
        let bigEndian = bytes.starts(with: [0xFE, 0xFF])
        var units: [UInt16] = []
        units.reserveCapacity(bytes.count / 2)
        var index = 2
        while index + 1 < bytes.count {
            units.append(bigEndian ? UInt16(bytes[index]) << 8 | UInt16(bytes[index + 1]) : UInt16(bytes[index + 1]) << 8 | UInt16(bytes[index]))
            index += 2
        }
        return Array(String(decoding: units, as: UTF16.self).utf8)
    }
}
