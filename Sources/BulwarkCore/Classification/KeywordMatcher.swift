/// Finds many keywords in one pass over bytes (Aho–Corasick), ASCII case-insensitively, with an
/// optional whole-word rule. Used for the supporting keywords of information types ("card",
/// "ssn", "iban" within 300 characters) and for custom keyword dictionaries.
///
/// Matching costs two table lookups per input byte whatever the number of keywords: bytes are
/// first mapped to equivalence classes (bytes that occur in no keyword share class 0, upper
/// case shares its lower-case class), so the transition table is `states × classes` instead of
/// `states × 256` and stays in cache; a transition's top bit says "keywords end here".
public struct KeywordMatcher: Sendable {
    /// One occurrence of a keyword.
    public struct Match: Sendable, Equatable {
        /// Index of the keyword in the list the matcher was built from.
        public var keyword: Int
        /// Byte range of the occurrence in the input.
        public var range: Range<Int>
    }

    private let classes: [UInt8]              // byte -> equivalence class
    private let classShift: Int               // log2 of the row stride (classes rounded up to a power of two)
    // (state << classShift | class) -> next state, top bit set when keywords end there. 16-bit
    // entries (half the cache footprint) unless the automaton has 32,768 states or more.
    private let transitions16: [UInt16]
    private let transitions32: [UInt32]
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
        // Byte classes: one per distinct (lower-cased) keyword byte, 0 for all others.
        var classes = [UInt8](repeating: 0, count: 256)
        var classCount = 1
        for (keyword, _) in keywords {
            for byte in keyword.utf8.map(Self.lower) where classes[Int(byte)] == 0 {
                classes[Int(byte)] = UInt8(truncatingIfNeeded: classCount)
                classCount += 1
            }
        }
        for byte in UInt8(ascii: "A")...UInt8(ascii: "Z") { classes[Int(byte)] = classes[Int(byte | 0x20)] }
        var shift = 0
        while 1 << shift < classCount { shift += 1 }

        var goto: [[Int32]] = [Array(repeating: -1, count: classCount)]
        var outputs: [[Int]] = [[]]
        var lengths: [Int] = []
        for (index, (keyword, _)) in keywords.enumerated() {
            let bytes = Array(keyword.utf8).map(Self.lower)
            lengths.append(bytes.count)
            guard !bytes.isEmpty else { continue }
            var state = 0
            for byte in bytes {
                let symbol = Int(classes[Int(byte)])
                if goto[state][symbol] < 0 {
                    goto.append(Array(repeating: -1, count: classCount))
                    outputs.append([])
                    goto[state][symbol] = Int32(goto.count - 1)
                }
                state = Int(goto[state][symbol])
            }
            outputs[state].append(index)
        }
        // Breadth-first: failure links, then complete the transition table.
        var failure = [Int](repeating: 0, count: goto.count)
        var queue: [Int] = []
        for symbol in 0..<classCount {
            let next = goto[0][symbol]
            if next < 0 {
                goto[0][symbol] = 0
            } else {
                failure[Int(next)] = 0
                queue.append(Int(next))
            }
        }
        // Class 0 (bytes in no keyword) always returns to the root.
        var head = 0
        while head < queue.count {
            let state = queue[head]
            head += 1
            outputs[state] += outputs[failure[state]]
            for symbol in 0..<classCount {
                let next = goto[state][symbol]
                if next < 0 {
                    goto[state][symbol] = goto[failure[state]][symbol]
                } else {
                    failure[Int(next)] = Int(goto[failure[state]][symbol])
                    queue.append(Int(next))
                }
            }
        }
        precondition(goto.count < 0x8000_0000, "keyword automaton too large")
        var table = [UInt32](repeating: 0, count: goto.count << shift)
        for (state, row) in goto.enumerated() {
            for (symbol, next) in row.enumerated() {
                table[state << shift | symbol] = UInt32(next) | (outputs[Int(next)].isEmpty ? 0 : 0x8000_0000)
            }
        }
        self.classes = classes
        self.classShift = shift
        if goto.count < 0x8000 {
            transitions16 = table.map { UInt16(truncatingIfNeeded: $0 & 0x7FFF) | ($0 & 0x8000_0000 != 0 ? 0x8000 : 0) }
            transitions32 = []
        } else {
            transitions16 = []
            transitions32 = table
        }
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
    ///
    /// Large inputs are matched as four interleaved streams over four quarters (each quarter
    /// after the first starts one keyword length early): each byte costs a dependent chain of
    /// two loads, and independent chains in one loop keep the CPU busy while each waits.
    public func matches(in bytes: UnsafeRawBufferPointer) -> [Match] {
        transitions32.isEmpty
            ? transitions16.withUnsafeBufferPointer { matches(in: bytes, table: $0, flag: 0x8000) }
            : transitions32.withUnsafeBufferPointer { matches(in: bytes, table: $0, flag: 0x8000_0000) }
    }

    @inline(__always)
    private func matches<Entry: FixedWidthInteger & UnsignedInteger>(in bytes: UnsafeRawBufferPointer, table: UnsafeBufferPointer<Entry>, flag: Entry) -> [Match] {
        var found: [[Match]] = [[], [], [], []]
        let count = bytes.count
        let longest = lengths.max() ?? 0
        let shift = classShift
        classes.withUnsafeBufferPointer { classes in
            outputStart.withUnsafeBufferPointer { starts in
                outputList.withUnsafeBufferPointer { list in
                    func emit(_ state: Int, _ index: Int, into found: inout [Match]) {
                        for slot in Int(starts[state])..<Int(starts[state &+ 1]) {
                            let keyword = Int(list[slot])
                            let start = index + 1 - lengths[keyword]
                            if wholeWord[keyword] {
                                if start > 0, Self.isWordByte(bytes[start - 1]) { continue }
                                if index + 1 < count, Self.isWordByte(bytes[index + 1]) { continue }
                            }
                            found.append(Match(keyword: keyword, range: start..<(index + 1)))
                        }
                    }
                    @inline(__always) func step(_ state: inout Int, _ index: Int) -> Bool {
                        let next = table[state &<< shift | Int(classes[Int(bytes[index])])]
                        state = Int(next & ~flag)
                        return next & flag != 0
                    }
                    guard count >= 16_384, longest > 0, longest < count / 8 else {
                        var state = 0
                        for index in 0..<count where step(&state, index) { emit(state, index, into: &found[0]) }
                        return
                    }
                    // Quarter q covers [q·n/4, (q+1)·n/4); streams after the first start
                    // `longest - 1` bytes early so they know every keyword ending in their
                    // quarter, and report only those.
                    let quarter = count / 4
                    let bounds = [0, quarter, 2 * quarter, 3 * quarter, count]
                    let lead = longest - 1
                    let begin = [0, bounds[1] - lead, bounds[2] - lead, bounds[3] - lead]
                    var s0 = 0, s1 = 0, s2 = 0, s3 = 0
                    let steps = quarter + lead  // every stream's shared length (the last may run longer)
                    for offset in 0..<steps {
                        let i0 = offset, i1 = begin[1] &+ offset, i2 = begin[2] &+ offset, i3 = begin[3] &+ offset
                        let h0 = i0 < bounds[1] && step(&s0, i0)
                        let h1 = step(&s1, i1)
                        let h2 = step(&s2, i2)
                        let h3 = step(&s3, i3)
                        if h0 { emit(s0, i0, into: &found[0]) }
                        if h1, i1 >= bounds[1], i1 < bounds[2] { emit(s1, i1, into: &found[1]) }
                        if h2, i2 >= bounds[2], i2 < bounds[3] { emit(s2, i2, into: &found[2]) }
                        if h3, i3 >= bounds[3] { emit(s3, i3, into: &found[3]) }
                    }
                    for index in (begin[3] + steps)..<count where step(&s3, index) {
                        if index >= bounds[3] { emit(s3, index, into: &found[3]) }
                    }
                }
            }
        }
        return found[0] + found[1] + found[2] + found[3]
    }

    /// Convenience for strings.
    public func matches(in text: String) -> [Match] {
        var copy = text
        return copy.withUTF8 { matches(in: UnsafeRawBufferPointer($0)) }
    }
}
