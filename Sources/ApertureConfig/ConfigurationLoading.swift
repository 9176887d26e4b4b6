import Foundation

extension ApertureConfiguration {
    /// The environment variable that overrides a key.
    /// - Parameter key: a dotted key such as `gateway.listen`.
    public static func environmentName(of key: String) -> String {
        "APERTURE_" + key.uppercased().replacingOccurrences(of: ".", with: "_")
    }

    /// The declaration of a key, nil for an unknown one.
    public static func key(_ name: String) -> ConfigurationKey? { keysByName[name] }

    private static let keysByName = Dictionary(uniqueKeysWithValues: keys.map { ($0.key, $0) })

    /// Loads the configuration: defaults, then the file (if any), then the environment.
    /// - Parameters:
    ///   - path: the configuration file; nil means `$APERTURE_CONFIG` if set, else defaults only.
    ///   - environment: the process environment.
    /// - Returns: the validated configuration.
    /// - Throws: ``ConfigurationError`` naming the file, line and key for a missing file, a
    ///   malformed line, an unknown key or an invalid value.
    public static func load(
        path: String?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigurationError) -> ApertureConfiguration {
        var configuration = ApertureConfiguration()
        if let systemdState = environment["STATE_DIRECTORY"], !systemdState.isEmpty {
            configuration.storage.stateDirectory = String(systemdState.split(separator: ":").first ?? "")
        }
        if let systemdRuntime = environment["RUNTIME_DIRECTORY"], !systemdRuntime.isEmpty {
            // systemd may list several directories separated by colons; the first is ours.
            configuration.storage.runtimeDirectory = String(systemdRuntime.split(separator: ":").first ?? "")
        }
        // aperture@NAME.service sets APERTURE_INSTANCE=NAME: the instance's name is camera.name's
        // default, which the instance's file and APERTURE_CAMERA_NAME may replace.
        if let instance = environment["APERTURE_INSTANCE"], !instance.isEmpty {
            try configuration.set("camera.name", instance,
                                  source: "environment variable APERTURE_INSTANCE (aperture@\(instance).service)")
        }
        if let file = path ?? environment["APERTURE_CONFIG"] {
            let text: String
            do {
                text = try String(contentsOfFile: file, encoding: .utf8)
            } catch {
                let reason = FileManager.default.fileExists(atPath: file)
                    ? "it cannot be read as UTF-8 text" : "no such file"
                throw ConfigurationError("configuration file \(file): \(reason)")
            }
            try configuration.apply(text: text, source: file)
        }
        for key in keys {
            if let value = environment[key.environmentName] {
                try key.set(value, in: &configuration, source: "environment variable \(key.environmentName)")
            }
        }
        return configuration
    }

    /// Applies the `key = value` lines of a configuration text.
    /// - Parameters:
    ///   - text: the file's contents; `#` starts a comment, blank lines are ignored.
    ///   - source: the file's name, for error messages.
    /// - Throws: ``ConfigurationError`` naming the line and key.
    public mutating func apply(text: String, source: String) throws(ConfigurationError) {
        var seen: [String: Int] = [:]
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNumber = index + 1
            var line = Substring(rawLine)
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            guard let equals = trimmed.firstIndex(of: "=") else {
                throw ConfigurationError("\(source):\(lineNumber): expected 'key = value', found '\(trimmed)'")
            }
            let key = trimmed[..<equals].trimmingCharacters(in: .whitespaces)
            var value = trimmed[trimmed.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") {
                value = String(value.dropFirst().dropLast())
            }
            if let first = seen[key] {
                throw ConfigurationError("\(source):\(lineNumber): key '\(key)' is already set on line \(first)", key: key)
            }
            seen[key] = lineNumber
            try set(key, value, source: "\(source):\(lineNumber)")
        }
    }

    /// Sets one key from its text form.
    /// - Parameters:
    ///   - key: a dotted key.
    ///   - value: its value as written.
    ///   - source: where it came from, for error messages.
    /// - Throws: ``ConfigurationError`` for an unknown key or an invalid value.
    public mutating func set(_ key: String, _ value: String, source: String) throws(ConfigurationError) {
        guard let declaration = Self.key(key) else {
            let known = Self.keys.map(\.key).joined(separator: ", ")
            throw ConfigurationError("\(source): unknown key '\(key)'; known keys: \(known)")
        }
        try declaration.set(value, in: &self, source: source)
    }

    /// The documented key list, generated from ``keys``: a Markdown table of every key, its
    /// environment variable, default, allowed values and meaning (docs/configuration.md holds it;
    /// `aperture config keys` prints it).
    public static func keyListMarkdown() -> String {
        var lines = ["| key | environment variable | default | allowed | meaning |", "|---|---|---|---|---|"]
        for key in keys {
            let cells = [key.key, key.environmentName, key.defaultValue, key.rule ?? "any text", key.meaning]
                .map { $0.replacingOccurrences(of: "|", with: "\\|") }
            lines.append("| `\(cells[0])` | `\(cells[1])` | \(cells[2]) | \(cells[3]) | \(cells[4]) |")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
