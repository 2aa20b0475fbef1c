/// Finds many keywords in one pass over bytes (Aho–Corasick), ASCII case-insensitively, with an
/// optional whole-word rule. Used for the supporting keywords of information types ("card",
/// "ssn", "iban" within 300 characters) and for custom keyword dictionaries.
///
/// The automaton is a dense 256-way transition table, so matching costs one table lookup per
/// input byte whatever the number of keywords.
public struct KeywordMatcher: Sendable {
    /// One occurrence of a keyword.
    public struct Match: Sendable, Equatable {
        /// Index of the keyword in the list the matcher was built from.
        public var keyword: Int
        /// Byte range of the occurrence in the input.
        public var range: Range<Int>
    }

    private let transitions: [Int32]          // state * 256 + byte -> next state
    // Keywords ending at each state (failure links included), flattened so the hot loop touches
    // only plain integer buffers: state s owns outputList[outputStart[s] ..< outputStart[s + 1]].
    private let outputStart: [Int32]
    private let outputList: [Int32]
    private let lengths: [Int]                // byte length of each keyword
    private let wholeWord: [Bool]             // per keyword: must not touch a word byte

    /// - Parameters:
    ///   - keywords: non-empty strings; matched without regard to ASCII case.
    ///   - wholeWords: a match must not touch an ASCII letter or digit on either side.
    public init(_ keywords: [String], wholeWords: Bool = true) {
        self.init(keywords.map { ($0, wholeWords) })
    }

    /// Keywords with their own whole-word rule, so word keywords and token prefixes share one
    /// pass over the input.
    public init(_ keywords: [(keyword: String, wholeWord: Bool)]) {
        var goto: [[Int32]] = [Array(repeating: -1, count: 256)]
        var outputs: [[Int]] = [[]]
        var lengths: [Int] = []
        for (index, (keyword, _)) in keywords.enumerated() {
            let bytes = Array(keyword.utf8).map(Self.lower)
            lengths.append(bytes.count)
            guard !bytes.isEmpty else { continue }
            var state = 0
            for byte in bytes {
                if goto[state][Int(byte)] < 0 {
                    goto.append(Array(repeating: -1, count: 256))
                    outputs.append([])
                    goto[state][Int(byte)] = Int32(goto.count - 1)
                }
                state = Int(goto[state][Int(byte)])
            }
            outputs[state].append(index)
        }
        // Breadth-first: failure links, then complete the transition table.
        var failure = [Int](repeating: 0, count: goto.count)
        var queue: [Int] = []
        for byte in 0..<256 {
            let next = goto[0][byte]
            if next < 0 {
                goto[0][byte] = 0
            } else {
                failure[Int(next)] = 0
                queue.append(Int(next))
            }
        }
        var head = 0
        while head < queue.count {
            let state = queue[head]
            head += 1
            outputs[state] += outputs[failure[state]]
            for byte in 0..<256 {
                let next = goto[state][byte]
                if next < 0 {
                    goto[state][byte] = goto[failure[state]][byte]
                } else {
                    failure[Int(next)] = Int(goto[failure[state]][byte])
                    queue.append(Int(next))
                }
            }
        }
        // Fold upper-case input onto the lower-case transitions.
        for state in 0..<goto.count {
            for byte in UInt8(ascii: "A")...UInt8(ascii: "Z") {
                goto[state][Int(byte)] = goto[state][Int(byte | 0x20)]
            }
        }
        self.transitions = goto.flatMap { $0 }
        var starts: [Int32] = [0]
        for list in outputs { starts.append(starts[starts.count - 1] + Int32(list.count)) }
        self.outputStart = starts
        self.outputList = outputs.flatMap { $0.map(Int32.init) }
        self.lengths = lengths
        self.wholeWord = keywords.map(\.wholeWord)
    }

    @inline(__always)
    static func lower(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte | 0x20 : byte
    }

    /// ASCII letters, digits and `_`, and any byte of a non-ASCII UTF-8 character (so "card"
    /// does not match inside "cardé").
    @inline(__always)
    static func isWordByte(_ byte: UInt8) -> Bool {
        if byte >= 0x80 { return true }
        let lowered = byte | 0x20
        return (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(lowered) || byte &- UInt8(ascii: "0") < 10 || byte == UInt8(ascii: "_")
    }

    /// Every occurrence in `bytes`, in order of their end (for the same end, longer first).
    public func matches(in bytes: UnsafeRawBufferPointer) -> [Match] {
        var found: [Match] = []
        transitions.withUnsafeBufferPointer { table in
            outputStart.withUnsafeBufferPointer { starts in
                outputList.withUnsafeBufferPointer { list in
                    var state = 0
                    for index in 0..<bytes.count {
                        state = Int(table[state &* 256 &+ Int(bytes[index])])
                        let first = Int(starts[state]), last = Int(starts[state &+ 1])
                        guard first < last else { continue }
                        for slot in first..<last {
                            let keyword = Int(list[slot])
                            let start = index + 1 - lengths[keyword]
                            if wholeWord[keyword] {
                                if start > 0, Self.isWordByte(bytes[start - 1]) { continue }
                                if index + 1 < bytes.count, Self.isWordByte(bytes[index + 1]) { continue }
                            }
                            found.append(Match(keyword: keyword, range: start..<(index + 1)))
                        }
                    }
                }
            }
        }
        return found
    }

    /// Convenience for strings.
    public func matches(in text: String) -> [Match] {
        var copy = text
        return copy.withUTF8 { matches(in: UnsafeRawBufferPointer($0)) }
    }
}
