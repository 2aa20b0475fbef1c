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
        buffer.writeString(JSONValue.string(event.agent).jsonText)
        buffer.writeString(#","seq":\#(event.seq),"time":""#)
        buffer.writeString(WireCoding.string(from: event.time))
        buffer.writeString(#"","received_at":""#)
        buffer.writeString(WireCoding.string(from: event.receivedAt))
        buffer.writeString(#"","type":"#)
        buffer.writeString(JSONValue.string(event.type).jsonText)
        buffer.writeString(#","v":\#(event.v),"data":"#)
        buffer.writeString(event.data)
        buffer.writeString("}\n")
    }

    /// One RFC 4180 record (`CSVField`); `data` is the event's JSON in one quoted field.
    static func appendCSV(_ event: RawEvent, to buffer: inout ByteBuffer) {
        buffer.writeString("\(event.id),\(WireCoding.string(from: event.time)),\(WireCoding.string(from: event.receivedAt)),")
        buffer.writeString(CSVField.escape(event.agent))
        buffer.writeString(",\(event.seq),")
        buffer.writeString(CSVField.escape(event.type))
        buffer.writeString(",\(event.v),")
        buffer.writeString(CSVField.escape(event.data))
        buffer.writeString("\r\n")
    }
}
