import BulwarkCore
import Foundation
import Testing

@Suite("JSONReader")
struct JSONReaderTests {
    @Test("parses what JSONDecoder parses, to the same values", arguments: [
        #"{"a":1,"b":[true,false,null],"c":{"d":"e"},"f":-2.5e3,"g":0,"h":"\u00e9\ud83d\ude00\n\t\"\\\/"}"#,
        #"  [ 1 , 2.25 , -0 , 1E2 , "x" ]  "#,
        #""plain""#,
        #"{"nested":{"deeper":{"deepest":[[[]]]}}}"#,
        #"12345678901234"#,
        #"{"unicode":"日本語 ✓"}"#,
    ])
    func agreesWithFoundation(text: String) throws {
        let ours = try JSONReader.parse(text)
        let theirs = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        #expect(ours == theirs)
        // And the serializer writes something both read back to the same value.
        #expect(try JSONReader.parse(ours.jsonText) == ours)
        #expect(try JSONDecoder().decode(JSONValue.self, from: Data(ours.jsonText.utf8)) == ours)
    }

    @Test("refuses malformed JSON", arguments: [
        "", "{", "[1,]", "{\"a\":}", "{a:1}", "01", "1.", "-", "tru", "\"unterminated", "\"bad \\x escape\"",
        "\"\\ud800\"", "[1] 2", "{\"a\":1,}", "\"tab\there\"", "1e", "NaN",
    ])
    func refuses(text: String) {
        #expect(throws: JSONReader.Failure.self) { try JSONReader.parse(text) }
    }

    @Test("invalid UTF-8 and hostile nesting are refused without crashing")
    func hostile() {
        let invalid: [UInt8] = [0x22, 0xFF, 0xFE, 0x22]
        let result = invalid.withUnsafeBytes { bytes in Result { () throws(JSONReader.Failure) in try JSONReader.parse(bytes) } }
        #expect(throws: JSONReader.Failure.self) { try result.get() }
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONReader.Failure.self) { try JSONReader.parse(deep) }
    }

    @Test("serializer escapes control characters and sorts keys")
    func serializer() {
        let value: JSONValue = ["b": "line\nbreak\u{1}", "a": 1.5, "c": .array([.null, true])]
        #expect(value.jsonText == #"{"a":1.5,"b":"line\nbreak\u0001","c":[null,true]}"#)
    }

    static func parse(_ text: String) throws -> EventBatch {
        let result = Array(text.utf8).withUnsafeBytes { bytes in
            Result { () throws(EventBatch.ParseError) in try EventBatch.parse(bytes) }
        }
        return try result.get()
    }

    @Test("event batches: fields are checked and errors name their path")
    func batches() throws {
        let good = #"{"agent":"a1","batch":"b","events":[{"seq":1,"time":"2026-11-26T17:00:00.250Z","type":"agent.selftest","v":1,"data":{"nonce":"n"}}]}"#
        let batch = try Self.parse(good)
        #expect(batch.agent == "a1")
        #expect(batch.events.first?.time == WireCoding.date(from: "2026-11-26T17:00:00.250Z"))
        #expect(batch.events.first?.data["nonce"] == "n")

        let badTime = good.replacingOccurrences(of: "2026-11-26T17:00:00.250Z", with: "yesterday")
        #expect {
            try Self.parse(badTime)
        } throws: { error in
            "\(error)".contains("events[0].time")
        }
        let negativeSeq = good.replacingOccurrences(of: "\"seq\":1", with: "\"seq\":-4")
        #expect {
            try Self.parse(negativeSeq)
        } throws: { error in
            "\(error)".contains("events[0].seq")
        }
    }
}
