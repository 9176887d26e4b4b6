import Foundation

/// One configuration key, declared once in ``ApertureConfiguration/keys``: its name, meaning,
/// allowed values, where its value is stored, and how text becomes that value. The file, the
/// environment override, the documented key list and every error message come from it.
public struct ConfigurationKey: Sendable {
    /// The dotted key, as written in the file (`gateway.listen`).
    public let key: String
    /// What it does.
    public let meaning: String
    /// What a value must be (`between 0.05 and 60.0 seconds`, `simulator or andor`); nil when
    /// any text is accepted.
    public let rule: String?
    /// The default as documented when it is not simply the value (`./run ($RUNTIME_DIRECTORY under systemd)`).
    private let defaultNote: String?
    /// The value held by a configuration, as it would be written in the file; nil for none.
    private let text: @Sendable (ApertureConfiguration) -> String?
    /// Parses, checks and stores a value; a thrown ``Invalid`` says what it must be.
    private let store: @Sendable (inout ApertureConfiguration, String, String) throws(ConfigurationError) -> Void

    /// Why a value was refused; the key, its value and its source are added around it.
    public struct Invalid: Error {
        /// The reason, e.g. `must be an integer from 1 to 100`.
        public let reason: String
        /// Refuses a value for `reason`.
        public init(_ reason: String) { self.reason = reason }
    }

    /// The environment variable that overrides the key: `APERTURE_` and the key in upper case
    /// with dots as underscores.
    public var environmentName: String { ApertureConfiguration.environmentName(of: key) }

    /// The default, as documented: the default configuration's value, `(empty)` or a note.
    public var defaultValue: String {
        if let defaultNote { return defaultNote }
        let value = text(ApertureConfiguration()) ?? ""
        return value.isEmpty ? "(empty)" : value
    }

    /// The value a configuration holds for this key, as it would be written in the file (nil
    /// when unset, or for a key that only sets others).
    public func value(in configuration: ApertureConfiguration) -> String? { text(configuration) }

    /// Sets the key from its text form.
    /// - Throws: ``ConfigurationError`` `SOURCE: KEY = 'VALUE': REASON`.
    func set(_ value: String, in configuration: inout ApertureConfiguration, source: String) throws(ConfigurationError) {
        try store(&configuration, value, source)
    }

    /// The general form: `parse` turns text into a value (or throws ``Invalid``) and `assign`
    /// stores it; `show` gives a configuration's value back as text.
    init<Value>(
        _ key: String, rule: String?, defaultNote: String? = nil, _ meaning: String,
        parse: @escaping @Sendable (String) throws(Invalid) -> Value,
        assign: @escaping @Sendable (inout ApertureConfiguration, Value) -> Void,
        show: @escaping @Sendable (ApertureConfiguration) -> String?
    ) {
        self.key = key
        self.meaning = meaning
        self.rule = rule
        self.defaultNote = defaultNote
        self.text = show
        self.store = { (configuration: inout ApertureConfiguration, value: String, source: String) throws(ConfigurationError) in
            do throws(Invalid) {
                assign(&configuration, try parse(value))
            } catch {
                throw ConfigurationError("\(source): \(key) = '\(value)': \(error.reason)", key: key)
            }
        }
    }

    /// A key whose value sets other keys (`gateway.token_file`): `action` receives the
    /// configuration, the value and its source, and reports its own errors.
    init(_ key: String, rule: String, defaultNote: String, _ meaning: String,
         action: @escaping @Sendable (inout ApertureConfiguration, String, String) throws(ConfigurationError) -> Void) {
        self.key = key
        self.meaning = meaning
        self.rule = rule
        self.defaultNote = defaultNote
        self.text = { _ in nil }
        self.store = action
    }
}

// MARK: - Kinds of keys

/// A configuration field, as a key declaration names it.
typealias Field<Value> = any WritableKeyPath<ApertureConfiguration, Value> & Sendable

extension ConfigurationKey {
    /// A plain value stored in one field.
    static func value<Value>(
        _ key: String, _ field: Field<Value>, rule: String?, defaultNote: String? = nil, _ meaning: String,
        parse: @escaping @Sendable (String) throws(Invalid) -> Value,
        show: @escaping @Sendable (Value) -> String? = { "\($0)" }
    ) -> ConfigurationKey {
        ConfigurationKey(key, rule: rule, defaultNote: defaultNote, meaning, parse: parse,
                         assign: { $0[keyPath: field] = $1 }, show: { show($0[keyPath: field]) })
    }

    /// A duration written in seconds (`0.5`), within `range`.
    static func seconds(_ key: String, _ field: Field<Duration>, _ range: ClosedRange<Double>, _ meaning: String) -> ConfigurationKey {
        value(key, field, rule: secondsRule(range), meaning, parse: { (text: String) throws(Invalid) -> Duration in
            .nanoseconds(Int64((try seconds(text, range) * 1e9).rounded()))
        }, show: { secondsText($0) })
    }

    /// A number of seconds kept as a `Double` (an exposure time, as the protocol has them).
    static func seconds(_ key: String, _ field: Field<Double>, _ range: ClosedRange<Double>, _ meaning: String) -> ConfigurationKey {
        value(key, field, rule: secondsRule(range), meaning, parse: { (text: String) throws(Invalid) -> Double in
            try seconds(text, range)
        }, show: { numberText($0) })
    }

    private static func secondsRule(_ range: ClosedRange<Double>) -> String {
        "between \(range.lowerBound) and \(range.upperBound) seconds"
    }

    private static func seconds(_ text: String, _ range: ClosedRange<Double>) throws(Invalid) -> Double {
        guard let number = Double(text), number.isFinite else { throw Invalid("must be a number of seconds") }
        guard range.contains(number) else { throw Invalid("must be " + secondsRule(range)) }
        return number
    }

    /// A number within `range`, or empty for unknown (nil).
    static func optionalNumber(_ key: String, _ field: Field<Double?>, _ range: ClosedRange<Double>, unit: String,
                               _ meaning: String) -> ConfigurationKey {
        let rule = "a number of \(unit) from \(numberText(range.lowerBound)) to \(numberText(range.upperBound)), or empty for unknown"
        return value(key, field, rule: rule, defaultNote: "(unknown)", meaning, parse: { (text: String) throws(Invalid) -> Double? in
            if text.isEmpty { return nil }
            guard let number = Double(text), number.isFinite, range.contains(number) else { throw Invalid("must be \(rule)") }
            return number
        }, show: { $0.map { numberText($0) } ?? "" })
    }

    /// An integer within `range`; `rule` says so in the key's words (`an integer from 1 to 100`).
    static func integer(_ key: String, _ field: Field<Int>, _ range: ClosedRange<Int>, rule: String? = nil,
                        _ meaning: String) -> ConfigurationKey {
        let rule = rule ?? "an integer from \(range.lowerBound) to \(range.upperBound)"
        return value(key, field, rule: rule, meaning, parse: { (text: String) throws(Invalid) -> Int in
            guard let number = Int(text), range.contains(number) else { throw Invalid("must be \(rule)") }
            return number
        })
    }

    /// A number (not a time) that `accepts` allows.
    static func number(_ key: String, _ field: Field<Double>, rule: String, _ meaning: String,
                       accepts: @escaping @Sendable (Double) -> Bool) -> ConfigurationKey {
        value(key, field, rule: rule, meaning, parse: { (text: String) throws(Invalid) -> Double in
            guard let number = Double(text), accepts(number) else { throw Invalid("must be \(rule)") }
            return number
        }, show: { numberText($0) })
    }

    /// `true`/`false` (also `yes`/`no`, any case).
    static func flag(_ key: String, _ field: Field<Bool>, _ meaning: String) -> ConfigurationKey {
        value(key, field, rule: "true or false", meaning, parse: { (text: String) throws(Invalid) -> Bool in
            guard let flag = ["true": true, "false": false, "yes": true, "no": false][text.lowercased()] else {
                throw Invalid("must be true or false")
            }
            return flag
        })
    }

    /// One of an enumeration's raw values, exactly as written; the error lists them all.
    static func choice<Value: RawRepresentable & CaseIterable & Sendable>(
        _ key: String, _ field: Field<Value>, _ meaning: String
    ) -> ConfigurationKey where Value.RawValue == String {
        let names = Value.allCases.map(\.rawValue)
        let rule = names.count > 3
            ? "one of " + names.joined(separator: ", ")
            : names.dropLast().joined(separator: ", ") + " or " + names[names.count - 1]
        return value(key, field, rule: rule, meaning, parse: { (text: String) throws(Invalid) -> Value in
            guard let value = Value(rawValue: text) else { throw Invalid("must be \(rule)") }
            return value
        }, show: { $0.rawValue })
    }

    /// Text that `check` accepts (it returns the reason for refusing, or nil).
    static func text(_ key: String, _ field: Field<String>, rule: String?, defaultNote: String? = nil, _ meaning: String,
                     check: @escaping @Sendable (String) -> String? = { _ in nil }) -> ConfigurationKey {
        value(key, field, rule: rule, defaultNote: defaultNote, meaning, parse: { (text: String) throws(Invalid) -> String in
            if let reason = check(text) { throw Invalid(reason) }
            return text
        })
    }

    /// A child's program: an absolute path, or nil for the one beside `aperture`.
    static func executable(_ key: String, _ field: Field<String?>, _ meaning: String) -> ConfigurationKey {
        value(key, field, rule: "an absolute path", defaultNote: "(beside aperture)", meaning,
              parse: { (text: String) throws(Invalid) -> String? in
                  guard text.hasPrefix("/") else { throw Invalid("must be an absolute path") }
                  return text
              }, show: { $0 })
    }

    /// A comma-separated list, each item trimmed; `parse` checks and converts the whole list.
    static func list<Item>(_ key: String, _ field: Field<[Item]>, rule: String, _ meaning: String,
                           parse: @escaping @Sendable ([String]) throws(Invalid) -> [Item],
                           show: @escaping @Sendable (Item) -> String = { "\($0)" }) -> ConfigurationKey {
        value(key, field, rule: rule, meaning, parse: { (text: String) throws(Invalid) -> [Item] in
            try parse(text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        }, show: { $0.map(show).joined(separator: ",") })
    }
}

/// Seconds as the file writes them: `60`, `0.5`.
func secondsText(_ duration: Duration) -> String {
    let (seconds, attoseconds) = duration.components
    return numberText(Double(seconds) + Double(attoseconds) / 1e18)
}

/// A number as the file writes it: `60`, `0.5`, `-10`.
func numberText(_ number: Double) -> String {
    number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : String(number)
}

/// A configuration that cannot be used; the message names the file, line, key and reason.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong, naming the key (and file and line when it came from the file).
    public let message: String
    /// The key at fault, when one is.
    public let key: String?
    /// Creates an error.
    /// - Parameters:
    ///   - message: what is wrong, naming the key.
    ///   - key: the key at fault, if any.
    public init(_ message: String, key: String? = nil) {
        self.message = message
        self.key = key
    }
    /// The message.
    public var description: String { message }
}
