import BulwarkCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// An error answered as JSON `{"code": …, "message": …}` with its HTTP status.
public struct APIFailure: HTTPResponseError, CustomStringConvertible {
    public let status: HTTPResponse.Status
    public let body: ErrorBody
    public var retryAfterSeconds: Int?

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String, retryAfterSeconds: Int? = nil) {
        self.status = status
        self.body = ErrorBody(code: code, message: message)
        self.retryAfterSeconds = retryAfterSeconds
    }

    public init(_ status: HTTPResponse.Status, _ body: ErrorBody) {
        self.status = status
        self.body = body
    }

    public var description: String { "\(status.code) \(body.code): \(body.message)" }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfterSeconds { headers[.retryAfter] = String(retryAfterSeconds) }
        let data = try WireCoding.encoder().encode(body)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

extension Response {
    /// A JSON response encoded with the wire coding.
    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try WireCoding.encoder().encode(value)
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
