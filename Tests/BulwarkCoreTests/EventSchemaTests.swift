import BulwarkCore
import Foundation
import Testing

@Suite("Event schema")
struct EventSchemaTests {
    let catalog = EventCatalog.standard

    func event(_ type: String, v: Int = 1, seq: UInt64 = 1, data: [String: JSONValue]) -> Event {
        Event(seq: seq, time: Date(), type: type, v: v, data: data)
    }

    @Test("valid events of every standard type pass")
    func valid() throws {
        try catalog.validate(event(EventType.selftest, data: ["nonce": "n"]))
        try catalog.validate(event(EventType.heartbeat, data: [
            "agent_version": "0.1.0", "policy_version": 3, "spool_depth": 0, "spool_bytes": 0, "dropped": 0,
        ]))
        try catalog.validate(event(EventType.started, data: ["agent_version": "0.1.0", "pid": 42]))
    }

    @Test("unknown type, unknown version, missing field, wrong kind and seq 0 are refused precisely")
    func refused() {
        #expect(throws: EventValidationError.unknownType("agent.nope")) {
            try catalog.validate(event("agent.nope", data: [:]))
        }
        #expect(throws: EventValidationError.unsupportedVersion(type: EventType.selftest, version: 2, supported: [1])) {
            try catalog.validate(event(EventType.selftest, v: 2, data: ["nonce": "n"]))
        }
        #expect(throws: EventValidationError.missingField(type: EventType.selftest, field: "nonce")) {
            try catalog.validate(event(EventType.selftest, data: [:]))
        }
        #expect(throws: EventValidationError.wrongFieldKind(type: EventType.started, field: "pid", expected: "integer", got: "number")) {
            try catalog.validate(event(EventType.started, data: ["agent_version": "x", "pid": 1.5]))
        }
        #expect(throws: EventValidationError.invalidSequence(0)) {
            try catalog.validate(event(EventType.selftest, seq: 0, data: ["nonce": "n"]))
        }
    }

    @Test("events survive the wire coding with millisecond timestamps")
    func wireRoundTrip() throws {
        let original = Event(seq: 7, time: Date(millis: 1_764_000_000_123), type: EventType.selftest, v: 1,
                             data: ["nonce": "abc", "index": 3, "nested": ["ok": true, "list": .array([1, "two", .null])]])
        let data = try WireCoding.encoder().encode(original)
        #expect(String(decoding: data, as: UTF8.self).contains("\"time\":\"2025-11-24T16:00:00.123Z\""))
        let decoded = try WireCoding.decoder().decode(Event.self, from: data)
        #expect(decoded == original)
    }
}

@Suite("Wire timestamps")
struct WireTimestampTests {
    @Test("milliseconds are exact, zero-padded, and survive a round trip", arguments: [0, 1, 7, 99, 123, 999] as [Int64])
    func exactMillis(millis: Int64) throws {
        let date = Date(millis: 1_764_000_000_000 + millis)
        let text = WireCoding.string(from: date)
        #expect(text.hasSuffix(String(format: ".%03dZ", millis)))
        #expect(WireCoding.date(from: text) == date)
    }

    @Test("timestamps without fraction or with an offset parse; garbage does not")
    func parsing() {
        #expect(WireCoding.date(from: "2026-11-26T17:00:00Z") == Date(millis: 1_795_712_400_000))
        #expect(WireCoding.date(from: "yesterday") == nil)
    }
}

@Suite("RFC 3339 parser and formatter")
struct RFC3339Tests {
    @Test("agrees with Foundation on many instants, both ways")
    func agreesWithFoundation() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            let millis = Int64.random(in: -2_000_000_000_000...4_000_000_000_000, using: &generator)
            let date = Date(millis: millis)
            let text = WireCoding.string(from: date)
            let foundation = try Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text)
            #expect(foundation.millis == millis, "\(text)")
            #expect(WireCoding.date(from: text) == date, "\(text)")
        }
    }

    @Test("UTC days agree with gmtime, before 1970 too")
    func utcDays() {
        var generator = SystemRandomNumberGenerator()
        for seconds in [0, -1, 86_399, 86_400, 951_782_400, 1_795_712_399] + (0..<2_000).map({ _ in Int64.random(in: -2_000_000_000...4_000_000_000, using: &generator) }) {
            var time = time_t(seconds)
            var parts = tm()
            gmtime_r(&time, &parts)
            let expected = String(format: "%04d-%02d-%02d", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday))
            #expect(WireCoding.utcDay(unixSeconds: seconds) == expected, "\(seconds)")
        }
    }

    @Test("offsets, fractions of any length, lower case and leap days")
    func variants() {
        let reference = WireCoding.date(from: "2026-11-26T17:00:00Z")
        #expect(WireCoding.date(from: "2026-11-26T18:30:00+01:30") == reference)
        #expect(WireCoding.date(from: "2026-11-26t12:00:00-05:00") == reference)
        #expect(WireCoding.date(from: "2026-11-26T17:00:00.5Z")?.millis == (reference?.millis ?? 0) + 500)
        #expect(WireCoding.date(from: "2026-11-26T17:00:00.123456789Z")?.millis == (reference?.millis ?? 0) + 123)
        #expect(WireCoding.date(from: "2024-02-29T00:00:00Z") != nil)
    }

    @Test("malformed timestamps are refused", arguments: [
        "", "2026-11-26", "2026-11-26T17:00:00", "2026-13-01T00:00:00Z", "2025-02-29T00:00:00Z", "2026-11-26T24:00:00Z",
        "2026-11-26T17:00:00.Z", "2026-11-26T17:00:00Zjunk", "2026-11-26T17:00:00+0100", "２026-11-26T17:00:00Z",
    ])
    func refused(text: String) {
        #expect(WireCoding.date(from: text) == nil)
    }
}
