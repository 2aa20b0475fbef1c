import Foundation

/// A custom classifier could not be prepared (a missing EDM file, a fingerprint made for
/// something else): the policy is not usable as written.
public struct CustomClassifierError: Error, CustomStringConvertible, Equatable {
    public var classifier: String
    public var reason: String
    public var description: String { "classifier '\(classifier)': \(reason)" }
}

/// The policy's own classifiers, ready to run next to the built-in types: keyword
/// dictionaries (one automaton for all), regular expressions with optional validator and
/// keywords, Exact Data Match tables and document fingerprints.
public struct CustomClassifiers: Sendable {
    var keywords: KeywordMatcher?
    var keywordTypes: [String] = []
    var regexes: [RegexClassifier] = []
    var edm: [ExactDataMatch] = []
    var fingerprints: [(type: String, fingerprint: DocumentFingerprint, threshold: Double)] = []

    public static let none = CustomClassifiers()

    var isEmpty: Bool { keywords == nil && regexes.isEmpty && edm.isEmpty && fingerprints.isEmpty }

    /// Prepares the classifiers of a policy. Files (EDM tables, fingerprints) are read relative
    /// to `directory`; EDM needs the deployment's keyed hash.
    public static func load(_ definitions: [CustomClassifierDefinition], directory: String, keyedHash: KeyedHash?) throws(CustomClassifierError) -> CustomClassifiers {
        var result = CustomClassifiers()
        var words: [(String, String)] = []
        func path(_ file: String) -> String { file.hasPrefix("/") ? file : (directory as NSString).appendingPathComponent(file) }
        for definition in definitions {
            switch definition.kind {
            case .keywords(let list):
                words += list.map { (definition.typeID, TextFolding.fold($0)) }
            case .regex(let pattern, let validator, let keywords):
                do {
                    result.regexes.append(try RegexClassifier(type: definition.typeID, pattern: pattern, validator: validator, keywords: keywords))
                } catch {
                    throw CustomClassifierError(classifier: definition.id, reason: "invalid regular expression: \(error)")
                }
            case .edm(let file):
                guard let keyedHash else {
                    throw CustomClassifierError(classifier: definition.id, reason: "Exact Data Match needs the deployment key (enroll the agent, or pass --key)")
                }
                result.edm.append(try ExactDataMatch.load(path: path(file), type: definition.typeID, keyedHash: keyedHash, classifier: definition.id))
            case .fingerprint(let file, let threshold):
                let fingerprint = try DocumentFingerprint.load(path: path(file), classifier: definition.id)
                result.fingerprints.append((definition.typeID, fingerprint, threshold))
            }
        }
        if !words.isEmpty {
            result.keywords = KeywordMatcher(words.map(\.1), wholeWords: true)
            result.keywordTypes = words.map(\.0)
        }
        return result
    }

    /// Adds the custom findings for `bytes` to `matches`.
    func scan(_ bytes: UnsafeRawBufferPointer, hasher: KeyedHash?, into matches: inout [String: [FindingMatch]]) {
        guard !isEmpty else { return }
        let folded = TextFolding.fold(bytes)
        func inOriginal(_ range: Range<Int>) -> Range<Int> {
            guard let origin = folded?.origin else { return range }
            return origin[range.lowerBound]..<origin[range.upperBound]
        }
        func withFolded<T>(_ body: (UnsafeRawBufferPointer) -> T) -> T {
            guard let folded else { return body(bytes) }
            return folded.bytes.withUnsafeBytes(body)
        }
        if let keywords {
            for match in withFolded({ keywords.matches(in: $0) }) {
                let range = inOriginal(match.range)
                let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
                matches[keywordTypes[match.keyword], default: []].append(FindingMatch(
                    start: range.lowerBound, end: range.upperBound, confidence: ContentClassifier.Confidence.high,
                    masked: Masking.mask(text, head: 1, tail: 0), hash: hasher?.hash(Array(TextFolding.fold(text).utf8))))
            }
        }
        if !regexes.isEmpty {
            let text = String(decoding: bytes, as: UTF8.self)
            for regex in regexes { regex.scan(text, bytes: bytes, hasher: hasher, into: &matches) }
        }
        if !edm.isEmpty {
            withFolded { view in
                for table in edm { table.scan(view, map: inOriginal, original: bytes, hasher: hasher, into: &matches) }
            }
        }
        if !fingerprints.isEmpty {
            var shinglesByK: [Int: [(hash: UInt64, range: Range<Int>)]] = [:]
            for (type, fingerprint, threshold) in fingerprints {
                if shinglesByK[fingerprint.k] == nil { shinglesByK[fingerprint.k] = withFolded { DocumentFingerprint.shingles(in: $0, k: fingerprint.k) } }
                guard let similarity = fingerprint.similarity(to: shinglesByK[fingerprint.k] ?? []), similarity.score >= threshold else { continue }
                let range = inOriginal(similarity.range)
                matches[type, default: []].append(FindingMatch(
                    start: range.lowerBound, end: range.upperBound, confidence: ContentClassifier.Confidence.high,
                    masked: "similar to \(fingerprint.name) (\(Int((similarity.score * 100).rounded()))% of its fingerprint)", hash: nil))
            }
        }
    }
}

/// A policy regular expression. Matches are checked by the named validator (over their
/// letters and digits, upper-cased); a keyword within 300 bytes raises medium to high.
/// Runs on Foundation's ICU regex engine, so it is slower than the built-in types; docs say so.
struct RegexClassifier: @unchecked Sendable {
    // NSRegularExpression is immutable and documented as safe to use from several threads.
    let type: String
    let expression: NSRegularExpression
    let validator: (@Sendable ([UInt8]) -> Bool)?
    let keywords: KeywordMatcher?

    init(type: String, pattern: String, validator: String?, keywords: [String]) throws {
        self.type = type
        expression = try NSRegularExpression(pattern: pattern)
        self.validator = validator.flatMap { Validators.named[$0] }
        self.keywords = keywords.isEmpty ? nil : KeywordMatcher(keywords.map(TextFolding.fold), wholeWords: true)
    }

    func scan(_ text: String, bytes: UnsafeRawBufferPointer, hasher: KeyedHash?, into matches: inout [String: [FindingMatch]]) {
        let keywordPositions = keywords.map { matcher in matcher.matches(in: bytes).map(\.range.lowerBound) } ?? []
        for result in expression.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
            guard let range = Range(result.range, in: text), !range.isEmpty else { continue }
            let start = text.utf8.distance(from: text.startIndex, to: range.lowerBound)
            let end = text.utf8.distance(from: text.startIndex, to: range.upperBound)
            let value = text[range]
            let normalised = value.utf8.filter(Candidates.isAlphanumeric).map { Candidates.isDigit($0) ? $0 : $0 & ~0x20 }
            var confidence = ContentClassifier.Confidence.low
            if let validator {
                guard validator(normalised) else { continue }
                confidence = ContentClassifier.Confidence.medium
            }
            if keywordPositions.contains(where: { $0 >= start - ContentClassifier.proximity && $0 <= end + ContentClassifier.proximity }) {
                confidence += 10
            }
            matches[type, default: []].append(FindingMatch(
                start: start, end: end, confidence: min(confidence, ContentClassifier.Confidence.high),
                masked: Masking.mask(String(value), head: 0, tail: 4), hash: hasher?.hash(normalised)))
        }
    }
}
