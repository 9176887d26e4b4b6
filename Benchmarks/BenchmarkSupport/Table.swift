import Foundation

/// A number with a fixed count of decimals: `fixed(1.234, 2)` is `1.23`.
public func fixed(_ value: Double, _ decimals: Int = 1) -> String {
    String(format: "%.\(decimals)f", value)
}

/// An integer with commas between groups of three digits: `grouped(1234567)` is `1,234,567`.
public func grouped(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var result = ""
    for (offset, character) in digits.enumerated() {
        if offset > 0, (digits.count - offset) % 3 == 0 { result.append(",") }
        result.append(character)
    }
    return value < 0 ? "-" + result : result
}

/// A table of figures printed in aligned columns: a header, optionally a rule of dashes under
/// it, then the rows. Each column is as wide as its widest cell (or its minimum width).
public struct Table {
    /// Which side of a column its cells keep to.
    public enum Alignment: Sendable { case left, right }

    /// A column: its title, its alignment and its least width.
    public struct Column: Sendable {
        public var title: String
        public var alignment: Alignment
        public var minimumWidth: Int

        /// A column whose cells keep to the left (names).
        public static func left(_ title: String, width: Int = 0) -> Column {
            Column(title: title, alignment: .left, minimumWidth: width)
        }

        /// A column whose cells keep to the right (numbers).
        public static func right(_ title: String, width: Int = 0) -> Column {
            Column(title: title, alignment: .right, minimumWidth: width)
        }
    }

    public var columns: [Column]
    public private(set) var rows: [[String]] = []
    /// Written before every line.
    public var indent: String
    /// Written between two cells.
    public var separator: String
    /// Whether a line of dashes separates the header from the rows.
    public var rule: Bool

    /// - Parameters:
    ///   - columns: the columns, left to right.
    ///   - indent: written before every line (two spaces unless told).
    ///   - separator: written between cells (two spaces unless told).
    ///   - rule: whether dashes underline the header.
    public init(_ columns: [Column], indent: String = "  ", separator: String = "  ", rule: Bool = true) {
        self.columns = columns
        self.indent = indent
        self.separator = separator
        self.rule = rule
    }

    /// A table whose first column (the case's name) keeps left and the others right.
    public init(names title: String, figures: [String], nameWidth: Int = 0, indent: String = "  ",
                separator: String = "  ", rule: Bool = true) {
        self.init([.left(title, width: nameWidth)] + figures.map { .right($0) },
                  indent: indent, separator: separator, rule: rule)
    }

    /// Adds a row; missing cells are blank.
    public mutating func append(_ cells: [String]) {
        rows.append(cells)
    }

    /// The printed lines, header first.
    public var lines: [String] {
        var widths = columns.map { Swift.max($0.title.count, $0.minimumWidth) }
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count {
                widths[index] = Swift.max(widths[index], cell.count)
            }
        }
        func line(_ cells: [String]) -> String {
            columns.indices.map { index in
                let cell = index < cells.count ? cells[index] : ""
                let padding = String(repeating: " ", count: widths[index] - cell.count)
                return columns[index].alignment == .left ? cell + padding : padding + cell
            }
            .joined(separator: separator)
        }
        var result = [indent + line(columns.map(\.title))]
        if rule { result.append(indent + widths.map { String(repeating: "-", count: $0) }.joined(separator: separator)) }
        result += rows.map { indent + line($0) }
        return result.map { $0.replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression) }
    }

    /// Prints the table on standard output.
    public func print() {
        for line in lines { Swift.print(line) }
    }
}
