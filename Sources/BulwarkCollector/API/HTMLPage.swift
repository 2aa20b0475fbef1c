import Crypto
import Foundation
import HTTPTypes

extension HTTPField.Name {
    /// Not among HTTPTypes' predefined names (a valid token: the fallback is never used).
    static let referrerPolicy = HTTPField.Name("Referrer-Policy") ?? .xContentTypeOptions
}

/// Server-rendered HTML with safe defaults: every text is escaped where it is written, styles are
/// one inline sheet allowed by its hash, and the Content-Security-Policy allows nothing else — no
/// script, no remote resource, no framing, no form posting elsewhere.
struct HTMLPage {
    var title: String
    /// Already escaped markup (build it with `escape`).
    var body: String
    var style: String = HTMLPage.defaultStyle

    /// Text for element content and attribute values: `& < > " '` become entities.
    static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    /// A table; cells are escaped here.
    static func table(_ columns: [String], _ rows: [[String]], empty: String) -> String {
        guard !rows.isEmpty else { return "<p class=\"empty\">\(escape(empty))</p>" }
        let head = columns.map { "<th>\(escape($0))</th>" }.joined()
        let body = rows.map { "<tr>" + $0.map { "<td>\(escape($0))</td>" }.joined() + "</tr>" }.joined(separator: "\n")
        return "<table><thead><tr>\(head)</tr></thead><tbody>\n\(body)\n</tbody></table>"
    }

    var html: String {
        """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(Self.escape(title))</title><style>\(style)</style></head>
        <body>
        \(body)
        </body></html>
        """
    }

    var headers: HTTPFields {
        let digest = Data(SHA256.hash(data: Data(style.utf8))).base64EncodedString()
        return [
            .contentType: "text/html; charset=utf-8",
            .contentSecurityPolicy: "default-src 'none'; style-src 'sha256-\(digest)'; img-src data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
            .xContentTypeOptions: "nosniff",
            .referrerPolicy: "no-referrer",
            .cacheControl: "no-store",
        ]
    }

    static let defaultStyle = """
        body{font:14px/1.45 system-ui,sans-serif;color:#1c1f24;margin:2rem auto;max-width:64rem;padding:0 1rem}\
        h1{font-size:1.6rem;margin:0}h2{font-size:1.15rem;margin:2rem 0 .5rem;border-bottom:1px solid #d0d4da}\
        header p{color:#5b6270;margin:.25rem 0 0}table{border-collapse:collapse;width:100%}\
        th,td{text-align:left;padding:.3rem .6rem;border-bottom:1px solid #e4e7eb;vertical-align:top}\
        th{background:#f3f5f7;font-weight:600}td.n,th.n{text-align:right}.empty{color:#5b6270}\
        .figures{display:flex;gap:2rem;flex-wrap:wrap}.figures div{min-width:8rem}.figures b{display:block;font-size:1.5rem}\
        nav{display:flex;gap:1rem;align-items:center;border-bottom:1px solid #d0d4da;padding-bottom:.5rem}nav form.inline{margin-left:auto}\
        form label{margin-right:1rem}input{font:inherit;padding:.2rem .4rem}button{font:inherit;padding:.25rem .8rem}\
        .problem{color:#b42318;font-weight:600}\
        @media print{body{margin:0;max-width:none}h2{break-after:avoid}tr{break-inside:avoid}}
        """
}
