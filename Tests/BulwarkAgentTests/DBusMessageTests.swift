@testable import BulwarkAgent
import Foundation
import Testing

@Suite("D-Bus wire format")
struct DBusMessageTests {
    static let notify = DBusMessage.methodCall(
        destination: "org.freedesktop.Notifications", path: "/org/freedesktop/Notifications", interface: "org.freedesktop.Notifications",
        member: "Notify",
        body: [
            .string("Bulwark"), .uint32(0), .string("dialog-warning"), .string("Paste blocked"), .string("Incident BW-0123456789 ✓"),
            .stringArray(["paste-anyway", "Paste anyway…", "cancel", "Cancel"]),
            .variantDictionary([("urgency", .byte(2)), ("x-bulwark-incident", .string("BW-0123456789"))]), .int32(-1),
        ])

    @Test("a Notify call round-trips, with its signature and header fields")
    func roundTrip() throws {
        var message = Self.notify
        message.serial = 7
        let bytes = message.encoded()
        #expect(try DBusMessage.totalSize(fixedHeader: Array(bytes.prefix(16))) == bytes.count)
        let decoded = try DBusMessage.decode(bytes)
        #expect(decoded == message)
        #expect(decoded.bodySignature == "susssasa{sv}i")
    }

    @Test("the known bytes of a Hello call: what dbus-daemon expects")
    func helloBytes() throws {
        var hello = DBusMessage.methodCall(destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus", member: "Hello")
        hello.serial = 1
        let bytes = hello.encoded()
        // l, method call, no flags, version 1, body length 0, serial 1, then the field array.
        #expect(Array(bytes.prefix(12)) == [0x6c, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0])
        // First field: code 1 (path), variant signature "o", string length 21.
        #expect(Array(bytes[16..<24]) == [1, 1, 0x6f, 0, 21, 0, 0, 0])
        #expect(bytes.count % 8 == 0)
    }

    @Test("big-endian messages are read too")
    func bigEndian() throws {
        // A signal with body "su" written big-endian by hand.
        var writer: [UInt8] = [UInt8(ascii: "B"), 4, 0, 1]
        func u32(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.bigEndian) { Array($0) } }
        let body = u32(2) + Array("hi".utf8) + [0, 0] + u32(42)  // "hi\0" then pad to 4, then u
        writer += u32(UInt32(body.count)) + u32(9)
        // Header fields: (8, g "su")
        let fields: [UInt8] = [8, 1, UInt8(ascii: "g"), 0, 2, UInt8(ascii: "s"), UInt8(ascii: "u"), 0]
        writer += u32(UInt32(fields.count)) + fields
        while writer.count % 8 != 0 { writer.append(0) }
        writer += body
        let message = try DBusMessage.decode(writer)
        #expect(message.kind == .signal)
        #expect(message.serial == 9)
        #expect(message.body == [.string("hi"), .uint32(42)])
    }

    @Test("malformed messages are errors, not crashes", arguments: [
        "truncated", "bad byte order", "oversized", "string past end", "unknown type", "body too long", "deep nesting",
    ])
    func malformed(_ kind: String) throws {
        var message = Self.notify
        message.serial = 3
        var bytes = message.encoded()
        switch kind {
        case "truncated": bytes.removeLast(5)
        case "bad byte order": bytes[0] = UInt8(ascii: "X")
        case "oversized": bytes[4...7] = [0xff, 0xff, 0xff, 0x7f]
        case "string past end":
            // Corrupt the length of the body's first string ("Bulwark"; the header never says it).
            guard let at = bytes.firstRange(of: Array("Bulwark".utf8))?.lowerBound else { Issue.record("no body string"); return }
            bytes[at - 1] = 0x7f
        case "unknown type":
            guard let at = bytes.firstRange(of: Array("susssasa{sv}i".utf8))?.lowerBound else { Issue.record("no signature"); return }
            bytes[at] = UInt8(ascii: "Z")
        case "body too long":
            bytes += [0, 0, 0, 0, 0, 0, 0, 0]
        default:
            let nested = String(repeating: "(", count: 70) + "y" + String(repeating: ")", count: 70)
            #expect(throws: DBusFormatError.self) { try DBusSignature.split(nested).forEach { type in
                var reader = DBusReader(bytes: [UInt8](repeating: 0, count: 1024), littleEndian: true)
                _ = try reader.read(type: type)
            } }
            return
        }
        #expect(throws: DBusFormatError.self) { try DBusMessage.decode(bytes) }
    }

    @Test("signatures split into complete types")
    func signatures() throws {
        #expect(try DBusSignature.split("susssasa{sv}i").map(String.init) == ["s", "u", "s", "s", "s", "as", "a{sv}", "i"])
        #expect(try DBusSignature.split("a(yv)aas").map(String.init) == ["a(yv)", "aas"])
        #expect(throws: DBusFormatError.self) { try DBusSignature.split("a") }
        #expect(throws: DBusFormatError.self) { try DBusSignature.split("(s}") }
    }

    @Test("a notice names the data types and the incident, never the data")
    func noticeText() {
        let notice = DLPNotice(kind: .warned, incidentID: "BW-ABCDEFGHJK", destination: "ChatGPT", message: nil, types: ["credit_card", "us_ssn"], rule: "r")
        #expect(notice.summary == "Paste to ChatGPT needs your confirmation")
        #expect(notice.body.contains("credit card, us ssn"))
        #expect(notice.body.contains("BW-ABCDEFGHJK"))
        #expect(DesktopNotifier.escapeMarkup("a <b> & c") == "a &lt;b&gt; &amp; c")
    }
}
