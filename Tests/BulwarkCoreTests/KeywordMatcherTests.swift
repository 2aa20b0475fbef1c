import BulwarkCore
import Crypto
import Foundation
import Testing

@Suite("Keyword matcher, masking, keyed hashes")
struct KeywordMatcherTests {
    @Test("finds every occurrence, case-insensitively, overlapping keywords included")
    func finds() {
        let matcher = KeywordMatcher(["card", "credit card", "CVV", "exp"], wholeWords: false)
        let text = "Credit Card no. 4111, cvv 123, EXPIRES 12/29; cardholder"
        let found = matcher.matches(in: text).map { (["card", "credit card", "CVV", "exp"][$0.keyword], $0.range) }
        let bytes = Array(text.utf8)
        #expect(found.map(\.0) == ["credit card", "card", "CVV", "exp", "card"])  // same end: longer first
        #expect(found.allSatisfy { String(decoding: bytes[$0.1], as: UTF8.self).lowercased() == $0.0.lowercased() })
    }

    @Test("whole words only when asked")
    func wholeWords() {
        let matcher = KeywordMatcher(["ssn", "card"])
        #expect(matcher.matches(in: "my SSN: 123").count == 1)
        #expect(matcher.matches(in: "ssns cards discard sscardss").isEmpty)
        #expect(matcher.matches(in: "card_number").isEmpty)
        #expect(matcher.matches(in: "cardé").isEmpty)
        #expect(matcher.matches(in: "(card)").count == 1)
        #expect(matcher.matches(in: "card").first?.range == 0..<4)
    }

    @Test("agrees with a naive search on random text")
    func agreesWithNaiveSearch() {
        let keywords = ["ab", "abc", "bca", "c", "aaa", "cab"]
        let matcher = KeywordMatcher(keywords, wholeWords: false)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let alphabet = Array("abcAB ")
            let text = String((0..<60).map { _ in alphabet[Int.random(in: 0..<6, using: &generator)] })
            let bytes = Array(text.lowercased().utf8)
            var expected: [(keyword: Int, range: Range<Int>)] = []
            for end in 1...bytes.count {
                for (index, keyword) in keywords.enumerated() {
                    let key = Array(keyword.utf8)
                    if end >= key.count, Array(bytes[(end - key.count)..<end]) == key {
                        expected.append((index, (end - key.count)..<end))
                    }
                }
            }
            let got = matcher.matches(in: text)
            #expect(Set(got.map { "\($0.keyword)@\($0.range)" }) == Set(expected.map { "\($0.keyword)@\($0.range)" }), "\(text)")
        }
    }

    @Test("masking keeps separators and never shows more than half")
    func masking() {
        #expect(Masking.mask("4111 1111 1111 1111", head: 4, tail: 4) == "4111 **** **** 1111")
        #expect(Masking.mask("536-22-1904", head: 0, tail: 4) == "***-**-1904")
        #expect(Masking.mask("AKIA1234", head: 4, tail: 4) == "AKIA****")
        #expect(Masking.mask("ab", head: 4, tail: 4) == "a*")
    }

    @Test("keyed hashes are stable per key, differ across keys and values")
    func keyedHash() {
        let key = SymmetricKey(size: .bits256)
        let hasher = KeyedHash(key: key)
        let a = hasher.hash(Array("4111111111111111".utf8))
        #expect(a.count == 32)
        #expect(a == hasher.hash(Array("4111111111111111".utf8)))
        #expect(a != hasher.hash(Array("4111111111111112".utf8)))
        #expect(a != KeyedHash(key: SymmetricKey(size: .bits256)).hash(Array("4111111111111111".utf8)))
    }

    @Test("large inputs (four interleaved streams) find exactly what a naive search finds, across the quarters")
    func interleavedStreams() {
        let keywords = ["card", "credit card", "ssn", "password", "sk-ant-", "iban"]
        let matcher = KeywordMatcher(keywords.map { ($0, $0 != "sk-ant-") })
        var generator = SplitMix64(seed: 7)
        let alphabet = Array("abcdeinrsw -".utf8)
        var bytes = (0..<20_001).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] }
        // Plant keywords straddling and touching the middle, and at both ends.
        let middle = bytes.count / 2
        let quarter = bytes.count / 4
        for (offset, keyword) in [(middle - 6, " credit card "), (middle - 2, " ssn "), (middle - 1, "sk-ant-"), (0, "iban "),
                                  (quarter - 3, " card "), (3 * quarter - 7, " password "), (3 * quarter + 10, "sk-ant-"),
                                  (bytes.count - 9, " password")] {
            bytes.replaceSubrange(offset..<(offset + keyword.utf8.count), with: Array(keyword.utf8))
        }
        let found = bytes.withUnsafeBytes { matcher.matches(in: $0) }
        // Naive reference: every occurrence, checked with the same whole-word rule.
        var expected: [(keyword: Int, range: Range<Int>)] = []
        for end in 1...bytes.count {
            for (index, keyword) in keywords.enumerated().sorted(by: { $0.element.utf8.count > $1.element.utf8.count }) {
                let word = Array(keyword.utf8)
                let start = end - word.count
                guard start >= 0, Array(bytes[start..<end]) == word else { continue }
                if keyword != "sk-ant-" {
                    func isWord(_ byte: UInt8) -> Bool { byte >= 0x80 || byte == UInt8(ascii: "_") || (byte | 0x20) &- 97 < 26 || byte &- 48 < 10 }
                    if start > 0, isWord(bytes[start - 1]) { continue }
                    if end < bytes.count, isWord(bytes[end]) { continue }
                }
                expected.append((index, start..<end))
            }
        }
        #expect(found.count == expected.count)
        #expect(found.map(\.range) == expected.map(\.range))
        for boundary in [quarter, middle, 3 * quarter] {
            #expect(found.contains { $0.range.lowerBound < boundary && $0.range.upperBound > boundary }, "nothing straddles \(boundary)")
        }
    }
}

@Suite("Keyword matcher: large dictionaries")
struct LargeDictionaryTests {
    @Test("a dictionary too large for 16-bit transitions (over 32,768 states) still matches exactly")
    func wideTransitions() {
        var generator = SplitMix64(seed: 11)
        let letters = Array("abcdefghijklmnopqrstuvwxyz")
        let words = (0..<5_000).map { _ in String((0..<10).map { _ in letters[Int.random(in: 0..<26, using: &generator)] }) }
        let matcher = KeywordMatcher(words)
        let text = "start \(words[0]) middle \(words[4_999].uppercased()) and \(words[1_234])x end"
        let found = matcher.matches(in: text)
        #expect(found.map(\.keyword) == [0, 4_999])
    }
}
