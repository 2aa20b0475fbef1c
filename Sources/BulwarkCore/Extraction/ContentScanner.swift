import Foundation

/// Extraction followed by classification: what the agent runs on a paste or a file, and what
/// `bulwark-agent scan` prints. Labels and the partial flag travel into the result.
public struct ContentScanner: Sendable {
    public var extractor: ContentExtractor
    public var classifier: ContentClassifier

    public init(classifier: ContentClassifier = ContentClassifier(), extractor: ContentExtractor = ContentExtractor()) {
        self.classifier = classifier
        self.extractor = extractor
    }

    public func scan(_ data: Data, hint: ContentExtractor.Hint = .none) -> ScanResult {
        result(extractor.extract(data, hint: hint))
    }

    public func scan(path: String) throws -> ScanResult {
        result(try extractor.extract(path: path))
    }

    /// Scans an open file (read with pread; `name` gives the type hint and error messages).
    public func scan(descriptor: Int32, name: String) throws -> ScanResult {
        result(try extractor.extract(descriptor: descriptor, name: name))
    }

    private func result(_ content: ExtractedContent) -> ScanResult {
        var result = content.text.withUnsafeBytes { classifier.scan($0) }
        result.labels = content.labels
        if content.partial {
            result.partial = true
            result.partialReason = content.partialReason
        }
        return result
    }
}
