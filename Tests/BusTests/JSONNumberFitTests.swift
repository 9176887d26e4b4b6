import Bus
import Foundation
import Testing

/// Naming the field of a number Foundation's decoder refuses without naming it.
struct JSONNumberFitTests {
    struct Step: Decodable { var time: Double; var count: Int? }
    struct Plan: Decodable { var name: String; var steps: [Step] }

    func misfit(_ json: String) -> JSONNumberFit.Misfit? {
        let data = Data(json.utf8)
        do {
            _ = try JSONDecoder().decode(Plan.self, from: data)
            return nil
        } catch {
            return JSONNumberFit.misfit(explaining: error, in: data, decoding: Plan.self)
        }
    }

    @Test func aNumberNoDoubleCanHoldIsNamedWhereverItIs() {
        let deep = misfit(#"{"name": "1e400", "steps": [{"time": 1}, {"time": 1e400, "count": 2}]}"#)
        #expect(deep?.field == "steps[1].time", "\(String(describing: deep))")
        #expect(deep?.rule.contains("1e400") == true)
        // A string that looks like one is not a number; a negative one is found too.
        let negative = misfit(#"{"name": "-2e999", "steps": [{"time": -2e999}]}"#)
        #expect(negative?.field == "steps[0].time", "\(String(describing: negative))")
        // Escaped quotes inside strings do not confuse the scan.
        let escaped = misfit(#"{"name": "a \"1e400\" b", "steps": [{"time": 1e500}]}"#)
        #expect(escaped?.field == "steps[0].time", "\(String(describing: escaped))")
    }

    @Test func integersOutOfRangeAndBrokenTextStayAsBefore() {
        let fraction = misfit(#"{"name": "x", "steps": [{"time": 1, "count": 1.5}]}"#)
        #expect(fraction?.field == "steps[0].count")
        #expect(fraction?.rule.contains("expected an integer") == true)
        #expect(misfit(#"{"name": "x", "steps": [{"time": 1e400"#) == nil, "not JSON at all: no field to name")
        #expect(misfit(#"{"name": "x", "steps": [{"time": 1}]}"#) == nil)
    }
}
