import Foundation

/// Finds the field whose JSON number does not fit its integer type.
///
/// Foundation's `JSONDecoder` reports a fraction, or an integer beyond `Int`, where an `Int`
/// belongs (`"count": 1.5`, `1e308`, `18446744073709551616`) as "not valid JSON", naming no
/// field. When the text is valid JSON, the numbers that cannot be an `Int` are tried one at a
/// time (the first 32, in key order): the one whose replacement by 0 makes that error go away
/// is the field. Both the bus (``CommandRouter``) and the gateway's HTTP bodies use it, so a
/// request gets a message naming the field and the value wherever it enters.
public enum JSONNumberFit {
    /// The field at fault and the rule it breaks.
    public struct Misfit: Sendable, Hashable {
        /// The field's path: `count`, `subframe.width`, `roi[2]`.
        public var field: String
        /// `expected an integer from ... to ..., got 1.5`.
        public var rule: String
    }

    /// Locates the number that made decoding `type` from `data` fail.
    /// - Parameters:
    ///   - error: the decoder's error; only "data corrupted" with no coding path is looked into.
    ///   - data: the JSON text that failed to decode.
    ///   - type: the type it was decoded as.
    /// - Returns: the field and the rule, or nil when no single number explains the failure.
    public static func misfit<T: Decodable>(explaining error: any Error, in data: Data, decoding type: T.Type) -> Misfit? {
        guard case DecodingError.dataCorrupted(let context) = error, context.codingPath.isEmpty else { return nil }
        guard let tree = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else {
            return unrepresentable(in: data)
        }
        var candidates: [[Component]] = []
        func collect(_ value: Any, _ path: [Component]) {
            guard candidates.count < 32 else { return }
            if let object = value as? [String: Any] {
                for key in object.keys.sorted() { collect(object[key]!, path + [.key(key)]) }
            } else if let array = value as? [Any] {
                for (index, element) in array.enumerated() { collect(element, path + [.index(index)]) }
            } else if let number = number(value), number is NSDecimalNumber || Int64(exactly: number.doubleValue) == nil {
                candidates.append(path)
            }
        }
        collect(tree, [])
        for path in candidates {
            guard let replaced = try? JSONSerialization.data(withJSONObject: replacing(path, in: tree, with: 0),
                                                             options: [.fragmentsAllowed]) else { continue }
            do {
                _ = try JSONDecoder().decode(T.self, from: replaced)
            } catch let DecodingError.dataCorrupted(context) where context.codingPath.isEmpty {
                continue
            } catch {}
            let field = path.map(\.text).joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
            let value = number(value(at: path, in: tree))?.stringValue ?? "?"
            return Misfit(field: field, rule: "expected an integer from \(Int.min) to \(Int.max), got \(value)")
        }
        return nil
    }

    /// The first number of the text that no Swift number can hold (`1e400`: Foundation refuses
    /// the whole text as "not valid JSON"), located by standing a marker string in the place of
    /// each such number: when the text then parses, the first marker's path is the field.
    static func unrepresentable(in data: Data) -> Misfit? {
        let bytes = [UInt8](data)
        var index = 0, inString = false
        var replaced = Data(), copied = 0
        var tokens: [String] = []
        while index < bytes.count, tokens.count < 32 {
            let byte = bytes[index]
            if inString {
                if byte == UInt8(ascii: "\\") { index += 2; continue }
                if byte == UInt8(ascii: "\"") { inString = false }
                index += 1
                continue
            }
            if byte == UInt8(ascii: "\"") { inString = true; index += 1; continue }
            guard byte == UInt8(ascii: "-") || (0x30...0x39).contains(byte) else { index += 1; continue }
            var end = index + 1
            while end < bytes.count, "0123456789+-.eE".utf8.contains(bytes[end]) { end += 1 }
            let token = String(decoding: bytes[index..<end], as: UTF8.self)
            if Double(token).map({ !$0.isFinite }) == true {
                replaced += Data(bytes[copied..<index]) + Data("\"\(marker)\(tokens.count)\"".utf8)
                copied = end
                tokens.append(token)
            }
            index = end
        }
        guard !tokens.isEmpty else { return nil }
        replaced += Data(bytes[min(copied, bytes.count)...])
        guard let tree = try? JSONSerialization.jsonObject(with: replaced, options: [.fragmentsAllowed]),
              let path = path(to: marker + "0", in: tree) else { return nil }
        let field = path.map(\.text).joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
        return Misfit(field: field, rule: "\(tokens[0].prefix(40)) is beyond what a number can hold (about 1.8e308)")
    }

    private static let marker = "aperture-misfit-number-"

    private static func path(to marker: String, in tree: Any) -> [Component]? {
        if let text = tree as? String { return text == marker ? [] : nil }
        if let object = tree as? [String: Any] {
            for (key, value) in object { if let rest = path(to: marker, in: value) { return [.key(key)] + rest } }
        } else if let array = tree as? [Any] {
            for (index, value) in array.enumerated() { if let rest = path(to: marker, in: value) { return [.index(index)] + rest } }
        }
        return nil
    }

    /// A JSON number as `JSONSerialization` gives it, or nil for anything else: booleans
    /// included, which it also gives as `NSNumber` (JSON `true` is not the number 1).
    public static func number(_ value: Any?) -> NSNumber? {
        guard let number = value as? NSNumber, !(value is Bool && String(cString: number.objCType) == "c") else { return nil }
        return number
    }

    private enum Component {
        case key(String)
        case index(Int)
        var text: String {
            switch self {
            case .key(let key): return key
            case .index(let index): return "[\(index)]"
            }
        }
    }

    private static func value(at path: [Component], in tree: Any) -> Any? {
        var current: Any? = tree
        for component in path {
            switch component {
            case .key(let key): current = (current as? [String: Any])?[key]
            case .index(let index): current = (current as? [Any]).flatMap { $0.indices.contains(index) ? $0[index] : nil }
            }
        }
        return current
    }

    private static func replacing(_ path: [Component], in tree: Any, with replacement: Any) -> Any {
        guard let first = path.first else { return replacement }
        let rest = Array(path.dropFirst())
        switch first {
        case .key(let key):
            guard var object = tree as? [String: Any], let child = object[key] else { return tree }
            object[key] = replacing(rest, in: child, with: replacement)
            return object
        case .index(let index):
            guard var array = tree as? [Any], array.indices.contains(index) else { return tree }
            array[index] = replacing(rest, in: array[index], with: replacement)
            return array
        }
    }
}
