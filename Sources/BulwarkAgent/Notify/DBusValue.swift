import Foundation

/// A value in the D-Bus type system — the subset notifications need (and enough to read any
/// message a bus sends): basic types, strings, arrays, dictionaries, structs and variants.
public indirect enum DBusValue: Sendable, Equatable {
    case byte(UInt8)
    case boolean(Bool)
    case int32(Int32)
    case uint32(UInt32)
    case int64(Int64)
    case uint64(UInt64)
    case double(Double)
    case string(String)
    case objectPath(String)
    case signature(String)
    /// Elements all of `elementSignature` (kept so that an empty array still has a type).
    case array(elementSignature: String, [DBusValue])
    /// A dictionary entry: only inside an array (`a{sv}`).
    case entry(DBusValue, DBusValue)
    case structure([DBusValue])
    case variant(DBusValue)

    /// The value's type signature (`s`, `as`, `a{sv}`, ...).
    public var signature: String {
        switch self {
        case .byte: "y"
        case .boolean: "b"
        case .int32: "i"
        case .uint32: "u"
        case .int64: "x"
        case .uint64: "t"
        case .double: "d"
        case .string: "s"
        case .objectPath: "o"
        case .signature: "g"
        case .array(let element, _): "a" + element
        case .entry(let key, let value): "{" + key.signature + value.signature + "}"
        case .structure(let fields): "(" + fields.map(\.signature).joined() + ")"
        case .variant: "v"
        }
    }

    /// `a{sv}` from string keys and variant values: the shape of notification hints.
    public static func variantDictionary(_ entries: [(String, DBusValue)]) -> DBusValue {
        .array(elementSignature: "{sv}", entries.map { .entry(.string($0.0), .variant($0.1)) })
    }

    /// `as`.
    public static func stringArray(_ strings: [String]) -> DBusValue {
        .array(elementSignature: "s", strings.map(DBusValue.string))
    }

    public var stringValue: String? {
        switch self {
        case .string(let value), .objectPath(let value), .signature(let value): value
        case .variant(let inner): inner.stringValue
        default: nil
        }
    }

    public var uint32Value: UInt32? {
        switch self {
        case .uint32(let value): value
        case .variant(let inner): inner.uint32Value
        default: nil
        }
    }
}

/// A message that does not follow the D-Bus wire format.
public struct DBusFormatError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// Writes values in the D-Bus wire format (little-endian; alignment counted from the start of
/// the buffer, which must itself start 8-aligned in the message).
struct DBusWriter {
    private(set) var bytes: [UInt8] = []

    mutating func pad(to alignment: Int) {
        while bytes.count % alignment != 0 { bytes.append(0) }
    }

    mutating func append<T: FixedWidthInteger>(_ value: T) {
        pad(to: MemoryLayout<T>.size)
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func write(_ value: DBusValue) {
        switch value {
        case .byte(let byte): bytes.append(byte)
        case .boolean(let flag): append(UInt32(flag ? 1 : 0))
        case .int32(let number): append(number)
        case .uint32(let number): append(number)
        case .int64(let number): append(number)
        case .uint64(let number): append(number)
        case .double(let number): append(number.bitPattern)
        case .string(let text), .objectPath(let text):
            let utf8 = Array(text.utf8)
            append(UInt32(utf8.count))
            bytes += utf8
            bytes.append(0)
        case .signature(let text):
            let utf8 = Array(text.utf8)
            bytes.append(UInt8(utf8.count))
            bytes += utf8
            bytes.append(0)
        case .array(let elementSignature, let elements):
            append(UInt32(0))  // length, patched below
            let lengthAt = bytes.count - 4
            pad(to: DBusSignature.alignment(of: elementSignature))
            let start = bytes.count
            for element in elements { write(element) }
            let length = UInt32(bytes.count - start).littleEndian
            withUnsafeBytes(of: length) { raw in for index in 0..<4 { bytes[lengthAt + index] = raw[index] } }
        case .entry(let key, let value):
            pad(to: 8)
            write(key)
            write(value)
        case .structure(let fields):
            pad(to: 8)
            for field in fields { write(field) }
        case .variant(let inner):
            write(.signature(inner.signature))
            write(inner)
        }
    }
}

/// Reads values in the D-Bus wire format, either byte order, with bounds checked everywhere:
/// whatever the peer sends, a malformed message is an error, never a crash.
struct DBusReader {
    let bytes: [UInt8]
    let littleEndian: Bool
    /// Where alignment is counted from (the message start).
    let origin: Int
    var offset: Int
    private var depth = 0

    init(bytes: [UInt8], littleEndian: Bool, origin: Int = 0, offset: Int = 0) {
        self.bytes = bytes
        self.littleEndian = littleEndian
        self.origin = origin
        self.offset = offset
    }

    mutating func align(_ alignment: Int) throws(DBusFormatError) {
        let relative = offset - origin
        let padded = (relative + alignment - 1) / alignment * alignment + origin
        guard padded <= bytes.count else { throw DBusFormatError("message ends inside padding") }
        offset = padded
    }

    mutating func integer<T: FixedWidthInteger>(_: T.Type) throws(DBusFormatError) -> T {
        try align(MemoryLayout<T>.size)
        let size = MemoryLayout<T>.size
        guard offset + size <= bytes.count else { throw DBusFormatError("message ends inside a \(size)-byte integer") }
        var value: T = 0
        for index in 0..<size { value |= T(truncatingIfNeeded: bytes[offset + index]) << (8 * index) }
        offset += size
        return littleEndian ? value : value.byteSwapped
    }

    mutating func readString() throws(DBusFormatError) -> String {
        let length = Int(try integer(UInt32.self))
        guard length < bytes.count, offset + length < bytes.count, bytes[offset + length] == 0 else {
            throw DBusFormatError("string runs past the end of the message")
        }
        defer { offset += length + 1 }
        return String(decoding: bytes[offset..<offset + length], as: UTF8.self)
    }

    mutating func readSignature() throws(DBusFormatError) -> String {
        guard offset < bytes.count else { throw DBusFormatError("message ends before a signature") }
        let length = Int(bytes[offset])
        guard offset + 1 + length < bytes.count, bytes[offset + 1 + length] == 0 else {
            throw DBusFormatError("signature runs past the end of the message")
        }
        defer { offset += length + 2 }
        return String(decoding: bytes[offset + 1..<offset + 1 + length], as: UTF8.self)
    }

    /// Reads every complete type of `signature` in turn.
    mutating func read(signature: String) throws(DBusFormatError) -> [DBusValue] {
        var values: [DBusValue] = []
        for type in try DBusSignature.split(signature) { values.append(try read(type: type)) }
        return values
    }

    /// Reads one value of the complete type `type`.
    mutating func read(type: Substring) throws(DBusFormatError) -> DBusValue {
        depth += 1
        defer { depth -= 1 }
        guard depth <= 64 else { throw DBusFormatError("values nested more than 64 deep") }
        guard let code = type.first else { throw DBusFormatError("empty type") }
        switch code {
        case "y":
            guard offset < bytes.count else { throw DBusFormatError("message ends inside a byte") }
            offset += 1
            return .byte(bytes[offset - 1])
        case "b":
            let raw = try integer(UInt32.self)
            guard raw <= 1 else { throw DBusFormatError("boolean other than 0 or 1") }
            return .boolean(raw == 1)
        case "n": return .int32(Int32(try integer(Int16.self)))
        case "q": return .uint32(UInt32(try integer(UInt16.self)))
        case "i": return .int32(try integer(Int32.self))
        case "u": return .uint32(try integer(UInt32.self))
        case "h": return .uint32(try integer(UInt32.self))  // a file-descriptor index
        case "x": return .int64(try integer(Int64.self))
        case "t": return .uint64(try integer(UInt64.self))
        case "d": return .double(Double(bitPattern: try integer(UInt64.self)))
        case "s": return .string(try readString())
        case "o": return .objectPath(try readString())
        case "g": return .signature(try readSignature())
        case "v":
            let inner = try readSignature()
            let types = try DBusSignature.split(inner)
            guard types.count == 1, let only = types.first else { throw DBusFormatError("variant signature '\(inner)' is not one type") }
            return .variant(try read(type: only))
        case "a":
            let element = type.dropFirst()
            let length = Int(try integer(UInt32.self))
            guard length <= 64 * 1024 * 1024 else { throw DBusFormatError("array of \(length) bytes exceeds the 64 MiB limit") }
            try align(DBusSignature.alignment(of: String(element)))
            let end = offset + length
            guard end <= bytes.count else { throw DBusFormatError("array runs past the end of the message") }
            var elements: [DBusValue] = []
            while offset < end { elements.append(try read(type: element)) }
            guard offset == end else { throw DBusFormatError("array elements overrun the array's length") }
            return .array(elementSignature: String(element), elements)
        case "(", "{":
            try align(8)
            let fields = try read(signature: String(type.dropFirst().dropLast()))
            if code == "{" {
                guard fields.count == 2 else { throw DBusFormatError("dictionary entry without exactly two fields") }
                return .entry(fields[0], fields[1])
            }
            return .structure(fields)
        default:
            throw DBusFormatError("unknown type code '\(code)'")
        }
    }
}

/// Signature helpers: splitting into complete types, and alignment.
enum DBusSignature {
    static func alignment(of type: String) -> Int {
        switch type.first {
        case "y", "g", "v": 1
        case "n", "q": 2
        case "x", "t", "d", "(", "{": 8
        default: 4
        }
    }

    /// `sa{sv}i` → [`s`, `a{sv}`, `i`].
    static func split(_ signature: String) throws(DBusFormatError) -> [Substring] {
        var types: [Substring] = []
        var index = signature.startIndex
        while index < signature.endIndex {
            let end = try completeTypeEnd(signature, from: index)
            types.append(signature[index..<end])
            index = end
        }
        return types
    }

    private static func completeTypeEnd(_ signature: String, from start: String.Index) throws(DBusFormatError) -> String.Index {
        var index = start
        var arrays = 0
        while index < signature.endIndex, signature[index] == "a" {
            arrays += 1
            guard arrays <= 32 else { throw DBusFormatError("signature nests arrays more than 32 deep") }
            index = signature.index(after: index)
        }
        guard index < signature.endIndex else { throw DBusFormatError("signature '\(signature)' ends inside an array type") }
        let code = signature[index]
        if code == "(" || code == "{" {
            let close: Character = code == "(" ? ")" : "}"
            var depth = 0
            while index < signature.endIndex {
                let character = signature[index]
                if character == "(" || character == "{" { depth += 1 }
                if character == ")" || character == "}" {
                    depth -= 1
                    if depth == 0 {
                        guard character == close else { throw DBusFormatError("signature '\(signature)' has mismatched brackets") }
                        return signature.index(after: index)
                    }
                }
                index = signature.index(after: index)
            }
            throw DBusFormatError("signature '\(signature)' has an unclosed bracket")
        }
        guard "ybnqiuxtdsogvh".contains(code) else { throw DBusFormatError("signature '\(signature)' has unknown type code '\(code)'") }
        return signature.index(after: index)
    }
}
