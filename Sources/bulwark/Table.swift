import ArgumentParser
import BulwarkCore
import Foundation

/// How a listing is printed: an aligned table for people, or the API's JSON or CSV for scripts.
struct OutputOptions: ParsableArguments {
    @Flag(help: "Print the API's JSON.") var json = false
    @Flag(help: "Print CSV: a header row, then one row per item.") var csv = false

    func validate() throws {
        if json && csv { throw ValidationError("give --json or --csv, not both") }
    }

    /// Prints `body` as it came (`--json`), else `table` as CSV or aligned text.
    func print(_ table: @autoclosure () throws -> Table, json body: Data) rethrows {
        if json {
            Swift.print(String(decoding: body, as: UTF8.self))
        } else {
            let table = try table()
            Swift.print(csv ? table.csv() : table.text(colour: Terminal.colour), terminator: "")
        }
    }
}

/// Rows under named columns.
struct Table {
    var columns: [String]
    var rows: [[String]]
    /// Printed instead of an empty table (never in CSV).
    var empty: String
    /// Printed after the rows, e.g. how to get the next page (never in CSV).
    var footer: String?

    init(_ columns: [String], rows: [[String]], empty: String, footer: String? = nil) {
        self.columns = columns
        self.rows = rows
        self.empty = empty
        self.footer = footer
    }

    /// Columns padded to their widest cell (the last is not padded); the header bold and
    /// outcome words coloured when `colour`.
    func text(colour: Bool) -> String {
        guard !rows.isEmpty else { return empty + "\n" }
        let widths = columns.indices.map { column in
            ([columns[column]] + rows.map { column < $0.count ? $0[column] : "" }).map(\.count).max() ?? 0
        }
        func line(_ cells: [String], style: (String) -> String) -> String {
            let padded = cells.enumerated().map { index, cell in
                index == cells.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }
            return padded.map { colour ? style($0) : $0 }.joined(separator: "  ").trimmingTrailingSpaces() + "\n"
        }
        var output = line(columns, style: Terminal.bold)
        for row in rows { output += line(row, style: Terminal.tone) }
        if let footer { output += footer + "\n" }
        return output
    }

    /// RFC 4180, formula-safe (`CSVField`).
    func csv() -> String {
        ([columns] + rows).map { $0.map(CSVField.escape).joined(separator: ",") }.joined(separator: "\r\n") + "\r\n"
    }
}

/// ANSI styling, only when standard output is a terminal and `NO_COLOR` is not set.
enum Terminal {
    static let colour = isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"].map(\.isEmpty) ?? true

    static func bold(_ text: String) -> String { "\u{1B}[1m\(text)\u{1B}[0m" }

    /// Outcome words in red (stopped), yellow (needs attention) or green (fine); anything else
    /// as it is.
    static func tone(_ text: String) -> String {
        let word = text.trimmingCharacters(in: .whitespaces)
        let code: String? =
            switch word {
            case "block", "blocked", "unsanctioned", "REVOKED", "revoked", "high", "failed", "certificate expired": "31"
            case "warn", "warned", "open", "override", "elevated", "unreviewed", "degraded", "stale", "certificate expires soon", "dropping events", "backlog": "33"
            case "allow", "allowed", "ok", "sanctioned", "resolved", "active", "low": "32"
            default: word.hasPrefix("refused") ? "31" : nil
            }
        return code.map { "\u{1B}[\($0)m\(text)\u{1B}[0m" } ?? text
    }
}

extension String {
    func trimmingTrailingSpaces() -> String {
        var text = self
        while text.hasSuffix(" ") { text.removeLast() }
        return text
    }
}
