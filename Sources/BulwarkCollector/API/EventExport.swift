import BulwarkCore
import Foundation
import Hummingbird
import NIOCore

/// `GET /api/v1/events/export`: every event a search matches, streamed as NDJSON or CSV a page
/// at a time, so memory stays the same for a thousand events or ten million. The export ends at
/// the newest event stored when it began (events arriving meanwhile are the next export's). A
/// failure part-way aborts the transfer (no final chunk): a cut-off export can never be taken
/// for a whole one.
struct EventExport: Sendable {
    enum Format: String, Sendable {
        case ndjson, csv

        var contentType: String { self == .ndjson ? "application/x-ndjson" : "text/csv; charset=utf-8" }
    }

    let store: any CollectorStore
    let query: EventQuery
    let format: Format
    /// Rows read per page (one read transaction each).
    var pageSize = 2_000

    static let csvHeader = "id,time,received_at,agent,seq,type,v,data\r\n"

    func response() async throws -> Response {
        var query = query
        query.throughID = try await store.latestEventID()
        query.limit = pageSize
        if query.since != nil || query.until != nil {
            // The ids the time range spans, found once rather than for every page.
            if let range = try await store.eventIDRange(since: query.since, until: query.until) {
                query.afterID = max(query.afterID ?? 0, range.lowerBound - 1)
                query.throughID = min(query.throughID ?? .max, range.upperBound)
            } else {
                query.throughID = 0  // nothing in the range: an empty export
            }
        }
        let pages = query
        let headers: HTTPFields = [
            .contentType: format.contentType,
            .contentDisposition: "attachment; filename=\"bulwark-events.\(format == .ndjson ? "ndjson" : "csv")\"",
            .cacheControl: "no-store",
        ]
        return Response(status: .ok, headers: headers, body: ResponseBody { [store, format] writer in
            var query = pages
            var buffer = ByteBuffer()
            if format == .csv { buffer.writeString(Self.csvHeader) }
            while true {
                let events = try await store.rawEvents(query)
                for event in events {
                    format == .ndjson ? Self.appendNDJSON(event, to: &buffer) : Self.appendCSV(event, to: &buffer)
                }
                if buffer.readableBytes > 0 {
                    try await writer.write(buffer)
                    buffer.clear()
                }
                guard events.count == query.limit, let last = events.last else { break }
                query.afterID = last.id
            }
            try await writer.finish(nil)
        })
    }

    /// One line: the event as the search API shows it, `data` copied through as stored.
    static func appendNDJSON(_ event: RawEvent, to buffer: inout ByteBuffer) {
        buffer.writeString(#"{"id":\#(event.id),"agent":"#)
        appendJSONString(event.agent, to: &buffer)
        buffer.writeString(#","seq":\#(event.seq),"time":""#)
        buffer.writeString(WireCoding.string(from: event.time))
        buffer.writeString(#"","received_at":""#)
        buffer.writeString(WireCoding.string(from: event.receivedAt))
        buffer.writeString(#"","type":"#)
        appendJSONString(event.type, to: &buffer)
        buffer.writeString(#","v":\#(event.v),"data":"#)
        buffer.writeString(event.data)
        buffer.writeString("}\n")
    }

    /// One RFC 4180 record; `data` is the event's JSON in one quoted field.
    static func appendCSV(_ event: RawEvent, to buffer: inout ByteBuffer) {
        buffer.writeString("\(event.id),\(WireCoding.string(from: event.time)),\(WireCoding.string(from: event.receivedAt)),")
        appendCSVField(event.agent, to: &buffer)
        buffer.writeString(",\(event.seq),")
        appendCSVField(event.type, to: &buffer)
        buffer.writeString(",\(event.v),")
        appendCSVField(event.data, to: &buffer)
        buffer.writeString("\r\n")
    }

    static func appendJSONString(_ text: String, to buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): buffer.writeString("\\\"")
            case UInt8(ascii: "\\"): buffer.writeString("\\\\")
            case 0..<0x20: buffer.writeString(String(format: "\\u%04x", byte))
            default: buffer.writeInteger(byte)
            }
        }
        buffer.writeInteger(UInt8(ascii: "\""))
    }

    /// Quoted when it holds a comma, quote or line break (quotes doubled); a field a
    /// spreadsheet would run as a formula gets a leading `'`.
    static func appendCSVField(_ text: String, to buffer: inout ByteBuffer) {
        let risky = text.utf8.first.map { "=+-@\t\r".utf8.contains($0) } ?? false
        let quoted = text.utf8.contains { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") }
        if !quoted, !risky {
            buffer.writeString(text)
            return
        }
        if quoted { buffer.writeInteger(UInt8(ascii: "\"")) }
        if risky { buffer.writeInteger(UInt8(ascii: "'")) }
        for byte in text.utf8 {
            if byte == UInt8(ascii: "\"") { buffer.writeInteger(byte) }
            buffer.writeInteger(byte)
        }
        if quoted { buffer.writeInteger(UInt8(ascii: "\"")) }
    }
}
