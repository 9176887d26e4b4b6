import Foundation

/// A rectangular region of interest, psen_processing's `[offset_x, size_x, offset_y, size_y]`:
/// `size_x` columns from column `offset_x` and `size_y` rows from row `offset_y`, counted from the
/// top-left pixel of the image (row 0 is the first row of the frame, as the camera delivers it).
///
/// In JSON an ROI is that 4-element list of integers, and "no ROI" is `null` or `[]`
/// (see ``parse(_:field:)``). An ROI is checked in two steps: ``parse(_:field:)`` checks the form
/// (four integers, offsets >= 0, sizes >= 1); ``validate(width:height:field:)`` checks it against
/// an actual image (offset + size within the width and height), which psen_processing states but
/// never checks.
public struct ROI: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The first column of the region.
    public var offsetX: Int
    /// The number of columns.
    public var sizeX: Int
    /// The first row of the region (row 0 is the top of the image).
    public var offsetY: Int
    /// The number of rows.
    public var sizeY: Int

    /// An ROI from its four numbers; nothing is checked (see ``validate(width:height:field:)``).
    /// - Parameters:
    ///   - offsetX: the first column.
    ///   - sizeX: the number of columns.
    ///   - offsetY: the first row.
    ///   - sizeY: the number of rows.
    public init(offsetX: Int, sizeX: Int, offsetY: Int, sizeY: Int) {
        self.offsetX = offsetX
        self.sizeX = sizeX
        self.offsetY = offsetY
        self.sizeY = sizeY
    }

    /// psen's list form, `[offset_x, size_x, offset_y, size_y]`.
    public var array: [Int] { [offsetX, sizeX, offsetY, sizeY] }

    /// The number of pixels in the region.
    public var pixelCount: Int { sizeX * sizeY }

    /// psen's list form as text, `[offset_x, size_x, offset_y, size_y]`.
    public var description: String { "[\(offsetX), \(sizeX), \(offsetY), \(sizeY)]" }

    /// Reads psen's list form: `nil` or `[]` disable the ROI, otherwise the list must hold exactly
    /// four integers `[offset_x, size_x, offset_y, size_y]` with offsets >= 0 and sizes >= 1.
    /// Whether it fits an image is ``validate(width:height:field:)``'s business.
    /// - Parameters:
    ///   - json: the list as decoded from JSON, or nil for JSON `null`.
    ///   - field: the name used in messages, e.g. `roi_signal`.
    /// - Returns: nil when the ROI is disabled, the ROI otherwise.
    /// - Throws: ``AnalysisError`` `invalid_argument` naming `field` and the rule broken.
    public static func parse(_ json: [Int]?, field: String = "roi") throws(AnalysisError) -> ROI? {
        guard let json, !json.isEmpty else { return nil }
        guard json.count == 4 else {
            throw AnalysisError.invalid(field, "ROI must have exactly 4 elements [offset_x, size_x, offset_y, size_y] "
                + "(or null or [] to disable), got \(json.count)")
        }
        let roi = ROI(offsetX: json[0], sizeX: json[1], offsetY: json[2], sizeY: json[3])
        if let problem = roi.formProblem(field: field) {
            throw AnalysisError(.invalidArgument, problem, field: field)
        }
        return roi
    }

    /// Reads a request body holding the ROI as JSON (`POST /roi_signal` in psen): `null`, `[]`,
    /// or a list of four integers. Anything else (a number, a string, a list holding a fraction
    /// or a string) is refused with a message saying what is expected.
    /// - Parameters:
    ///   - body: the JSON text.
    ///   - field: the name used in messages, e.g. `roi_background`.
    /// - Returns: nil when the ROI is disabled, the ROI otherwise.
    /// - Throws: ``AnalysisError`` `invalid_argument` naming `field` and the rule broken.
    public static func parse(json body: Data, field: String = "roi") throws(AnalysisError) -> ROI? {
        let list: [Int]?
        do {
            list = try JSONDecoder().decode([Int]?.self, from: body)
        } catch {
            throw AnalysisError.invalid(field, "expected null, [] or a list of 4 integers "
                + "[offset_x, size_x, offset_y, size_y]")
        }
        return try parse(list, field: field)
    }

    /// Checks the ROI against an image of `width` x `height` pixels: offsets >= 0, sizes >= 1,
    /// `offset_x + size_x <= width` and `offset_y + size_y <= height`.
    /// - Parameters:
    ///   - width: the image width in pixels.
    ///   - height: the image height in pixels.
    ///   - field: the name used in the message, e.g. `roi_signal`.
    ///   - subject: what the width and height are of, for the message: `image` (a frame) or
    ///     `sensor` (the camera's whole sensor).
    /// - Returns: nil when the ROI fits, otherwise the first rule broken, naming the field, e.g.
    ///   "roi_signal: offset_x + size_x = 1100 exceeds the image width 1024".
    public func validate(width: Int, height: Int, field: String = "roi", subject: String = "image") -> String? {
        if let problem = formProblem(field: field) { return problem }
        let (endX, overflowX) = offsetX.addingReportingOverflow(sizeX)
        if overflowX || endX > width {
            let sum = overflowX ? "\(offsetX) + \(sizeX)" : "\(endX)"
            return "\(field): offset_x + size_x = \(sum) exceeds the \(subject) width \(width)"
        }
        let (endY, overflowY) = offsetY.addingReportingOverflow(sizeY)
        if overflowY || endY > height {
            let sum = overflowY ? "\(offsetY) + \(sizeY)" : "\(endY)"
            return "\(field): offset_y + size_y = \(sum) exceeds the \(subject) height \(height)"
        }
        return nil
    }

    /// The rules that do not depend on the image, in psen_processing's words ("ROI offsets
    /// (first and third elements) must be positive", "ROI sizes ... must be at least 1", which
    /// its client's users match on) followed by the element at fault and its value.
    private func formProblem(field: String) -> String? {
        let offsets = "ROI offsets (first and third elements) must be positive or zero"
        let sizes = "ROI sizes (second and fourth elements) must be at least 1"
        if offsetX < 0 { return "\(field): \(offsets): offset_x is \(offsetX) in \(self)" }
        if offsetY < 0 { return "\(field): \(offsets): offset_y is \(offsetY) in \(self)" }
        if sizeX < 1 { return "\(field): \(sizes): size_x is \(sizeX) in \(self)" }
        if sizeY < 1 { return "\(field): \(sizes): size_y is \(sizeY) in \(self)" }
        return nil
    }

    // MARK: Codable: the 4-element list

    /// Encodes psen's list `[offset_x, size_x, offset_y, size_y]`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        try container.encode(contentsOf: array)
    }

    /// Decodes psen's list; the rules of ``parse(_:field:)`` apply, and an empty list is refused
    /// here (an optional ROI field decodes `[]` as nil through ``AnalysisConfiguration``).
    /// - Throws: `DecodingError.dataCorrupted` with the rule broken.
    public init(from decoder: any Decoder) throws {
        let list = try decoder.singleValueContainer().decode([Int].self)
        let field = decoder.codingPath.last?.stringValue ?? "roi"
        do throws(AnalysisError) {
            guard let roi = try ROI.parse(list, field: field) else {
                throw AnalysisError.invalid(field, "expected 4 integers, got an empty list")
            }
            self = roi
        } catch {
            throw DecodingError.dataCorrupted(DecodingError.Context(codingPath: decoder.codingPath,
                                                                    debugDescription: error.message))
        }
    }
}
