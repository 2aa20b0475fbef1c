import Foundation

/// One D-Bus message: a method call, its reply or error, or a signal.
public struct DBusMessage: Sendable, Equatable {
    public enum Kind: UInt8, Sendable {
        case methodCall = 1, methodReturn = 2, error = 3, signal = 4
    }

    public var kind: Kind
    public var serial: UInt32 = 0
    public var noReplyExpected = false
    public var path: String?
    public var interface: String?
    public var member: String?
    public var errorName: String?
    public var replySerial: UInt32?
    public var destination: String?
    public var sender: String?
    public var body: [DBusValue] = []

    public init(kind: Kind, path: String? = nil, interface: String? = nil, member: String? = nil, destination: String? = nil, body: [DBusValue] = []) {
        self.kind = kind
        self.path = path
        self.interface = interface
        self.member = member
        self.destination = destination
        self.body = body
    }

    public static func methodCall(destination: String, path: String, interface: String, member: String, body: [DBusValue] = []) -> DBusMessage {
        DBusMessage(kind: .methodCall, path: path, interface: interface, member: member, destination: destination, body: body)
    }

    /// The reply to `call` (its sender is the destination).
    public static func reply(to call: DBusMessage, body: [DBusValue] = []) -> DBusMessage {
        var message = DBusMessage(kind: .methodReturn, destination: call.sender, body: body)
        message.replySerial = call.serial
        return message
    }

    public static func signal(path: String, interface: String, member: String, body: [DBusValue] = []) -> DBusMessage {
        DBusMessage(kind: .signal, path: path, interface: interface, member: member, body: body)
    }

    public var bodySignature: String { body.map(\.signature).joined() }

    /// The largest message accepted (the specification's own limit is 128 MiB; notifications
    /// are tiny, so a peer sending more than this is broken or hostile).
    static let maxSize = 8 * 1024 * 1024

    /// The wire form, little-endian.
    func encoded() -> [UInt8] {
        var body = DBusWriter()
        for value in self.body { body.write(value) }
        var fields: [DBusValue] = []
        func field(_ code: UInt8, _ value: DBusValue?) {
            if let value { fields.append(.structure([.byte(code), .variant(value)])) }
        }
        field(1, path.map(DBusValue.objectPath))
        field(2, interface.map(DBusValue.string))
        field(3, member.map(DBusValue.string))
        field(4, errorName.map(DBusValue.string))
        field(5, replySerial.map(DBusValue.uint32))
        field(6, destination.map(DBusValue.string))
        field(7, sender.map(DBusValue.string))
        if !self.body.isEmpty { field(8, .signature(bodySignature)) }
        var header = DBusWriter()
        header.write(.byte(UInt8(ascii: "l")))
        header.write(.byte(kind.rawValue))
        header.write(.byte(noReplyExpected ? 1 : 0))
        header.write(.byte(1))  // protocol version
        header.append(UInt32(body.bytes.count))
        header.append(serial)
        header.write(.array(elementSignature: "(yv)", fields))
        header.pad(to: 8)
        return header.bytes + body.bytes
    }

    /// How many bytes the message starting with these 16 bytes takes in all, or an error when
    /// the fixed header is not D-Bus.
    static func totalSize(fixedHeader bytes: [UInt8]) throws(DBusFormatError) -> Int {
        guard bytes.count >= 16 else { throw DBusFormatError("short header") }
        guard bytes[0] == UInt8(ascii: "l") || bytes[0] == UInt8(ascii: "B") else { throw DBusFormatError("unknown byte order '\(bytes[0])'") }
        guard bytes[3] == 1 else { throw DBusFormatError("unsupported protocol version \(bytes[3])") }
        var reader = DBusReader(bytes: bytes, littleEndian: bytes[0] == UInt8(ascii: "l"), offset: 4)
        let bodyLength = Int(try reader.integer(UInt32.self))
        _ = try reader.integer(UInt32.self)
        let fieldsLength = Int(try reader.integer(UInt32.self))
        let headerLength = (16 + fieldsLength + 7) / 8 * 8
        let total = headerLength + bodyLength
        guard fieldsLength <= maxSize, bodyLength <= maxSize, total <= maxSize else {
            throw DBusFormatError("message of \(total) bytes exceeds the \(maxSize)-byte limit")
        }
        return total
    }

    /// Parses one whole message.
    static func decode(_ bytes: [UInt8]) throws(DBusFormatError) -> DBusMessage {
        let total = try totalSize(fixedHeader: Array(bytes.prefix(16)))
        guard bytes.count == total else { throw DBusFormatError("message is \(bytes.count) bytes, header says \(total)") }
        var reader = DBusReader(bytes: bytes, littleEndian: bytes[0] == UInt8(ascii: "l"), offset: 1)
        guard case .byte(let rawKind) = try reader.read(type: "y"), let kind = Kind(rawValue: rawKind) else {
            throw DBusFormatError("unknown message type")
        }
        guard case .byte(let flags) = try reader.read(type: "y") else { throw DBusFormatError("no flags") }
        reader.offset = 4
        let bodyLength = Int(try reader.integer(UInt32.self))
        var message = DBusMessage(kind: kind)
        message.noReplyExpected = flags & 1 != 0
        message.serial = try reader.integer(UInt32.self)
        guard case .array(_, let fields) = try reader.read(type: "a(yv)") else { throw DBusFormatError("no header fields") }
        var signature = ""
        for case .structure(let pair) in fields {
            guard pair.count == 2, case .byte(let code) = pair[0] else { continue }
            let value = pair[1]
            switch code {
            case 1: message.path = value.stringValue
            case 2: message.interface = value.stringValue
            case 3: message.member = value.stringValue
            case 4: message.errorName = value.stringValue
            case 5: message.replySerial = value.uint32Value
            case 6: message.destination = value.stringValue
            case 7: message.sender = value.stringValue
            case 8: signature = value.stringValue ?? ""
            default: break  // unknown fields are ignored, as the specification requires
            }
        }
        try reader.align(8)
        guard reader.offset + bodyLength == bytes.count else { throw DBusFormatError("body length disagrees with the header") }
        var bodyReader = DBusReader(bytes: bytes, littleEndian: reader.littleEndian, origin: reader.offset, offset: reader.offset)
        message.body = try bodyReader.read(signature: signature)
        guard bodyReader.offset == bytes.count else { throw DBusFormatError("body longer than its signature '\(signature)'") }
        return message
    }
}
