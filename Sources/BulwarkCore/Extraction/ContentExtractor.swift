import Foundation

/// Hard limits on extraction, so a hostile file (a zip bomb, a million entries, archives
/// nested a hundred deep) costs bounded memory and time. Over a limit extraction stops, keeps
/// what it has, and says so (`partial`); policy decides what a partial scan means.
public struct ExtractionLimits: Sendable, Equatable {
    /// Most bytes of input considered.
    public var maxInputBytes = 64 * 1024 * 1024
    /// Most bytes inflated from archives and PDF streams, in total.
    public var maxInflatedBytes = 128 * 1024 * 1024
    /// Most archive entries looked at, in total.
    public var maxEntries = 10_000
    /// Deepest archive-in-archive nesting followed (the outer file is depth 0).
    public var maxNesting = 3
    /// Most bytes of extracted text handed to the classifier.
    public var maxTextBytes = 64 * 1024 * 1024

    public init() {}
}

/// Text and labels pulled out of content, ready for `ContentClassifier`.
public struct ExtractedContent: Sendable {
    /// UTF-8 text (or the raw bytes when the format is plain or unknown).
    public var text: [UInt8]
    public var labels: [SensitivityLabel]
    /// `text`, `utf16`, `html`, `docx`, `xlsx`, `pptx`, `zip`, `pdf`.
    public var format: String
    public var partial: Bool
    public var partialReason: String?
}

/// Turns files and clipboard flavours into scannable text: UTF-8/UTF-16 text (BOM), HTML
/// (tags stripped), Office Open XML (docx, xlsx, pptx), zip archives, and PDF text where the
/// PDF uses literal strings. Never throws: what cannot be parsed is scanned as raw bytes and
/// reported partial with the reason.
public struct ContentExtractor: Sendable {
    public var limits: ExtractionLimits

    public init(limits: ExtractionLimits = ExtractionLimits()) {
        self.limits = limits
    }

    /// What the caller knows about the content's type (a clipboard target, a file name).
    public enum Hint: Sendable {
        case none
        case html
        case fileName(String)
    }

    public func extract(_ data: Data, hint: Hint = .none) -> ExtractedContent {
        var budget = ExtractionBudget(limits: limits)
        var input = data
        if input.count > limits.maxInputBytes {
            input = input.prefix(limits.maxInputBytes)
            budget.stop("input larger than \(limits.maxInputBytes) bytes; only the start was scanned")
        }
        var labels: [SensitivityLabel] = []
        let (format, text) = extract(input, hint: hint, depth: 0, budget: &budget, labels: &labels)
        var output = text
        if output.count > limits.maxTextBytes {
            output.removeSubrange(limits.maxTextBytes...)
            budget.stop("extracted text larger than \(limits.maxTextBytes) bytes; only the start was scanned")
        }
        var unique: [SensitivityLabel] = []
        for label in labels where !unique.contains(label) { unique.append(label) }
        return ExtractedContent(text: output, labels: unique, format: format, partial: budget.partialReason != nil, partialReason: budget.partialReason)
    }

    /// Extracts a file and adds its `user.bulwark.label` extended attribute as a label.
    public func extract(path: String) throws -> ExtractedContent {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ExtractionError.unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        defer { try? handle.close() }
        let data = try handle.read(upToCount: limits.maxInputBytes + 1) ?? Data()
        var content = extract(data, hint: .fileName(path))
        if let label = FileLabel.read(path: path), !content.labels.contains(label) {
            content.labels.append(label)
        }
        return content
    }

    /// Reads an open file from its start (pread: the descriptor's offset is left alone) — what
    /// the file guard does with the descriptor fanotify hands it, without opening the file again.
    public func extract(descriptor: Int32, name: String) throws -> ExtractedContent {
        var status = stat()
        let size = fstat(descriptor, &status) == 0 ? Int(status.st_size) : limits.maxInputBytes
        // One byte past the limit tells a file that was cut from one that fits exactly.
        var bytes = [UInt8](repeating: 0, count: min(size, limits.maxInputBytes) + 1)
        var total = 0
        while total < bytes.count {
            let count = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress.map { $0 + total }, $0.count - total, off_t(total)) }
            if count < 0, errno == EINTR { continue }
            guard count >= 0 else { throw ExtractionError.unreadable(path: name, reason: String(cString: strerror(errno))) }
            if count == 0 { break }
            total += count
        }
        var content = extract(Data(bytes[0..<total]), hint: .fileName(name))
        if let label = FileLabel.read(descriptor: descriptor), !content.labels.contains(label) {
            content.labels.append(label)
        }
        return content
    }

    func extract(_ data: Data, hint: Hint, depth: Int, budget: inout ExtractionBudget, labels: inout [SensitivityLabel]) -> (String, [UInt8]) {
        let bytes = [UInt8](data)
        if bytes.starts(with: [0x50, 0x4B, 0x03, 0x04]) {
            return ZipText.extract(bytes, depth: depth, extractor: self, budget: &budget, labels: &labels)
        }
        if bytes.starts(with: Array("%PDF-".utf8)) {
            return ("pdf", PDFText.extract(bytes, budget: &budget, labels: &labels))
        }
        if bytes.starts(with: [0xFF, 0xFE]) || bytes.starts(with: [0xFE, 0xFF]) {
            return ("utf16", TextDecoding.utf16(bytes))
        }
        let text = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? Array(bytes.dropFirst(3)) : bytes
        if isHTML(text, hint: hint) {
            return ("html", MarkupText.html(text))
        }
        return ("text", text)
    }

    private func isHTML(_ bytes: [UInt8], hint: Hint) -> Bool {
        switch hint {
        case .html: return true
        case .fileName(let name):
            let lowered = name.lowercased()
            if lowered.hasSuffix(".html") || lowered.hasSuffix(".htm") { return true }
        case .none: break
        }
        // The clipboard's text/html flavour and CF_HTML fragments start with markup.
        let head = String(decoding: bytes.prefix(512), as: UTF8.self).lowercased()
        let trimmed = head.drop { $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\t" }
        return trimmed.hasPrefix("<!doctype html") || trimmed.hasPrefix("<html") || trimmed.hasPrefix("<meta")
            || trimmed.hasPrefix("version:0.9") && head.contains("starthtml:")
    }
}

/// Failures that stop extraction before it starts (unreadable files); everything after that
/// becomes a partial result instead.
public enum ExtractionError: Error, CustomStringConvertible {
    case unreadable(path: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): "cannot read \(path): \(reason)"
        }
    }
}

/// Running totals against `ExtractionLimits`; the first limit hit is the partial reason.
struct ExtractionBudget {
    let limits: ExtractionLimits
    var inflated = 0
    var entries = 0
    private(set) var partialReason: String?

    init(limits: ExtractionLimits) {
        self.limits = limits
    }

    mutating func stop(_ reason: String) {
        if partialReason == nil { partialReason = reason }
    }

    /// Bytes that may still be inflated.
    var inflateRoom: Int { max(0, limits.maxInflatedBytes - inflated) }
}
