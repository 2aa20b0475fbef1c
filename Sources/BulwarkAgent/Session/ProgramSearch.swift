import Foundation

/// Finds a program by name in a `PATH`-style list of directories (the optional desktop tools the
/// helper may use: notify-send, zenity, kdialog, yad).
enum ProgramSearch {
    static func find(_ name: String, in searchPath: String?) -> String? {
        (searchPath ?? "/usr/bin:/bin").split(separator: ":").lazy.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
