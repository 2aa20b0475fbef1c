import Foundation

extension Date {
    /// Milliseconds since the Unix epoch, the storage form of timestamps in SQLite spools and stores.
    public var millis: Int64 { Int64((timeIntervalSince1970 * 1000).rounded()) }

    public init(millis: Int64) {
        self.init(timeIntervalSince1970: Double(millis) / 1000)
    }
}
