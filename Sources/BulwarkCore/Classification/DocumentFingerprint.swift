import Foundation

/// A winnowed shingle set of a sample document (Schleimer, Wilkerson, Aiken 2003): hashes of
/// every run of `k` consecutive words, thinned by keeping the smallest hash in each window of
/// `window` shingles. Content is similar when it holds at least `threshold` of the sample's
/// selected hashes, whatever was added around, reordered by paragraph or reformatted.
public struct DocumentFingerprint: Sendable, Codable, Equatable {
    public var format = "bulwark-fingerprint"
    public var version = 1
    public var name: String
    public var k: Int
    public var window: Int
    /// Selected shingle hashes (FNV-1a 64 over folded, lower-case words), sorted.
    public var hashes: [UInt64]

    enum CodingKeys: String, CodingKey { case format, version, name, k, window, hashes }

    public static let defaultK = 5
    public static let defaultWindow = 4

    public enum Failure: Error, CustomStringConvertible {
        case tooShort(words: Int, needed: Int)
        public var description: String {
            switch self {
            case .tooShort(let words, let needed): "the sample has \(words) words; a fingerprint needs at least \(needed)"
            }
        }
    }

    /// Fingerprints a sample document's text.
    public static func create(name: String, text: [UInt8], k: Int = defaultK, window: Int = defaultWindow) throws(Failure) -> DocumentFingerprint {
        let folded = text.withUnsafeBytes { raw in TextFolding.fold(raw)?.bytes ?? text }
        let shingles = folded.withUnsafeBytes { Self.shingles(in: $0, k: k) }
        guard shingles.count >= window else { throw .tooShort(words: shingles.count + k - 1, needed: k + window - 1) }
        var selected = Set<UInt64>()
        for start in 0...(shingles.count - window) {
            selected.insert(shingles[start..<(start + window)].map(\.hash).min() ?? 0)
        }
        return DocumentFingerprint(name: name, k: k, window: window, hashes: selected.sorted())
    }

    static func load(path: String, classifier: String) throws(CustomClassifierError) -> DocumentFingerprint {
        do {
            let fingerprint = try WireCoding.decoder().decode(DocumentFingerprint.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
            guard fingerprint.format == "bulwark-fingerprint", fingerprint.version == 1, fingerprint.k >= 1, !fingerprint.hashes.isEmpty else {
                throw CustomClassifierError(classifier: classifier, reason: "\(path) is not a version 1 Bulwark fingerprint")
            }
            return fingerprint
        } catch let error as CustomClassifierError {
            throw error
        } catch {
            throw CustomClassifierError(classifier: classifier, reason: "cannot read fingerprint \(path): \(error)")
        }
    }

    /// Every k-word shingle of `bytes` (already folded) with its byte range.
    static func shingles(in bytes: UnsafeRawBufferPointer, k: Int = defaultK) -> [(hash: UInt64, range: Range<Int>)] {
        var words: [(hash: UInt64, range: Range<Int>)] = []
        var index = 0
        while index < bytes.count {
            guard Candidates.isAlphanumeric(bytes[index]) || bytes[index] >= 0x80 else {
                index += 1
                continue
            }
            let start = index
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            while index < bytes.count, Candidates.isAlphanumeric(bytes[index]) || bytes[index] >= 0x80 {
                hash = (hash ^ UInt64(KeywordMatcher.lower(bytes[index]))) &* 0x0000_0100_0000_01B3
                index += 1
            }
            words.append((hash, start..<index))
        }
        guard words.count >= k else { return [] }
        return (0...(words.count - k)).map { first in
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for word in words[first..<(first + k)] { hash = (hash ^ word.hash) &* 0x0000_0100_0000_01B3 }
            return (hash, words[first].range.lowerBound..<words[first + k - 1].range.upperBound)
        }
    }

    /// The share of this fingerprint's hashes present among `shingles`, and the span they cover.
    func similarity(to shingles: [(hash: UInt64, range: Range<Int>)]) -> (score: Double, range: Range<Int>)? {
        guard !hashes.isEmpty, !shingles.isEmpty else { return nil }
        let wanted = Set(hashes)
        var found = Set<UInt64>()
        var low = Int.max, high = 0
        for shingle in shingles where wanted.contains(shingle.hash) {
            found.insert(shingle.hash)
            low = min(low, shingle.range.lowerBound)
            high = max(high, shingle.range.upperBound)
        }
        guard !found.isEmpty else { return nil }
        return (Double(found.count) / Double(wanted.count), low..<high)
    }
}
