/// A unified diff (`diff -u` style, 3 lines of context) of two texts by line: what
/// `GET /api/v1/policies/diff` answers.
enum TextDiff {
    static func unified(_ old: String, _ new: String, oldName: String, newName: String, context: Int = 3) -> String {
        let a = lines(old)
        let b = lines(new)
        // One line per step through both texts: kept (" "), removed ("-") or added ("+").
        var removed = Set<Int>()
        var inserted = Set<Int>()
        for change in b.difference(from: a) {
            switch change {
            case .remove(let offset, _, _): removed.insert(offset)
            case .insert(let offset, _, _): inserted.insert(offset)
            }
        }
        var steps: [(kind: Character, text: String, oldLine: Int, newLine: Int)] = []
        var (i, j) = (0, 0)
        while i < a.count || j < b.count {
            if i < a.count, removed.contains(i) {
                steps.append(("-", a[i], i, j)); i += 1
            } else if j < b.count, inserted.contains(j) {
                steps.append(("+", b[j], i, j)); j += 1
            } else {
                steps.append((" ", i < a.count ? a[i] : "", i, j)); i += 1; j += 1
            }
        }
        let changed = steps.indices.filter { steps[$0].kind != " " }
        guard !changed.isEmpty else { return "" }
        // Hunks: runs of changes with their context, merged when the contexts touch.
        var hunks: [ClosedRange<Int>] = []
        for index in changed {
            let range = max(0, index - context)...min(steps.count - 1, index + context)
            if let last = hunks.last, range.lowerBound <= last.upperBound + 1 {
                hunks[hunks.count - 1] = last.lowerBound...max(last.upperBound, range.upperBound)
            } else {
                hunks.append(range)
            }
        }
        var output = "--- \(oldName)\n+++ \(newName)\n"
        for hunk in hunks {
            let lines = steps[hunk]
            let oldCount = lines.filter { $0.kind != "+" }.count
            let newCount = lines.filter { $0.kind != "-" }.count
            let first = lines[lines.startIndex]
            output += "@@ -\(first.oldLine + (oldCount > 0 ? 1 : 0)),\(oldCount) +\(first.newLine + (newCount > 0 ? 1 : 0)),\(newCount) @@\n"
            for line in lines { output += "\(line.kind)\(line.text)\n" }
        }
        return output
    }

    /// The text's lines; a final newline ends the last line rather than starting an empty one.
    static func lines(_ text: String) -> [String] {
        guard !text.isEmpty else { return [] }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if text.hasSuffix("\n") { lines.removeLast() }
        return lines
    }
}
