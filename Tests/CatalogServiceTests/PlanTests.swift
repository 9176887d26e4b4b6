import ApertureProtocol
import Bus
@testable import CatalogService
import Foundation
import Testing

/// Plans without a service: unrolling and its limits, and the queue's order in the database.
struct PlanTests {
    static func decode(_ json: String) throws -> PlanDocument {
        try JSONDecoder().decode(PlanDocument.self, from: Data(json.utf8))
    }

    @Test func repeatsUnrollInOrderWithTheirSourceAndPass() throws {
        let document = try Self.decode("""
            {"name": "LRGB", "steps": [
              {"wait": {"sun_below": -12}},
              {"repeat": {"times": 2, "steps": [
                {"exposure": {"type": "object", "time": 60, "filter": "g", "count": 3}},
                {"repeat": {"times": 2, "steps": [{"exposure": {"type": "object", "time": 30, "filter": "r"}}]}}]}},
              {"exposure": {"type": "dark", "time": 60, "count": 2, "mode": "series"}}]}
            """)
        let steps = try PlanExpansion.expand(document)
        #expect(steps.map(\.step) == Array(1...8))
        #expect(steps.map(\.source) == ["steps[0]", "steps[1].repeat.steps[0]", "steps[1].repeat.steps[1].repeat.steps[0]",
                                        "steps[1].repeat.steps[1].repeat.steps[0]", "steps[1].repeat.steps[0]",
                                        "steps[1].repeat.steps[1].repeat.steps[0]", "steps[1].repeat.steps[1].repeat.steps[0]",
                                        "steps[2]"])
        #expect(steps.map(\.pass) == [[], [1], [1, 1], [1, 2], [2], [2, 1], [2, 2], []])
        #expect(steps.map(\.count) == [1, 3, 1, 1, 3, 1, 1, 2])
        #expect(steps.compactMap { $0.exposure?.filter } == ["g", "r", "r", "g", "r", "r"])
        // Every exposure step runs as a series of its count.
        #expect(steps.compactMap(\.exposure).allSatisfy { $0.mode == .series && $0.count != nil })
        // The document survives a round trip as the queue stores it.
        let again = try JSONDecoder().decode(PlanDocument.self, from: try JSONEncoder().encode(document))
        #expect(again == document)
    }

    @Test func theLimitsAreNamedWithTheStepAndField() throws {
        func refusal(_ json: String) throws -> BusError? {
            let document = try Self.decode(json)
            do throws(BusError) {
                _ = try PlanExpansion.expand(document, now: Date(timeIntervalSince1970: 1_780_000_000))
                return nil
            } catch {
                return error
            }
        }
        let bias = #"{"exposure": {"type": "bias", "time": 0}}"#
        var nested = bias
        for _ in 0..<9 { nested = #"{"repeat": {"times": 1, "steps": [\#(nested)]}}"# }
        let cases: [(String, String)] = [
            (#"{"name": "x", "steps": [{"repeat": {"times": 10001, "steps": [\#(bias)]}}]}"#, "steps[0].repeat.times"),
            // The repeat whose pass crosses the limit is named.
            (#"{"name": "x", "steps": [{"repeat": {"times": 101, "steps": [{"repeat": {"times": 100, "steps": [\#(bias)]}}]}}]}"#,
             "steps[0].repeat.steps[0].repeat.times"),
            (#"{"name": "x", "steps": [\#(nested)]}"#, "steps[0].repeat.steps[0].repeat.steps[0].repeat.steps[0].repeat.steps[0].repeat.steps[0].repeat.steps[0].repeat.steps[0].repeat.steps[0].repeat"),
            (#"{"name": "x", "steps": [{"repeat": {"times": 11, "steps": [{"exposure": {"type": "bias", "time": 0, "count": 100000}}]}}]}"#,
             "steps[0].repeat.steps[0].exposure.count"),
            (#"{"name": "x", "steps": [{"wait": {"until": "2026-07-01T00:00Z"}}]}"#, "steps[0].wait.until"),
            (#"{"name": "x", "steps": [{"wait": {"until": "2026-05-29T00:00Z", "timeout": 5}}]}"#, "steps[0].wait.timeout"),
            (#"{"name": "x", "steps": [{"wait": {"setpoint": false}}]}"#, "steps[0].wait.setpoint"),
            (#"{"name": "x", "steps": [{"wait": {"sun_below": -12, "tolerance": 1}}]}"#, "steps[0].wait.tolerance"),
            (#"{"name": "x", "steps": [{"wait": {"sun_below": -45}}]}"#, "steps[0].wait.sun_below"),
            (#"{"name": "x", "steps": [{"exposure": {"type": "bias", "time": 0, "count": 2, "mode": "single"}}]}"#,
             "steps[0].exposure.count"),
            (#"{"name": "\#(String(repeating: "n", count: 81))", "steps": [\#(bias)]}"#, "name"),
        ]
        for (json, field) in cases {
            let error = try refusal(json)
            #expect(error?.code == .invalidArgument && error?.field == field, "\(json.prefix(120)): \(String(describing: error))")
            #expect(error?.message.hasPrefix(field + ": ") == true, "\(String(describing: error))")
        }
        // A plan of the most steps and frames allowed is accepted.
        let most = #"{"name": "x", "steps": [{"repeat": {"times": 10, "steps": [{"exposure": {"type": "bias", "time": 0, "count": 100000}}]}}]}"#
        #expect(try refusal(most) == nil)
    }

    @Test func aStepIsExactlyOneKind() {
        for json in [#"{"name": "x", "steps": [{}]}"#, #"{"name": "x", "steps": [{"exposure": {"type": "bias", "time": 0}, "wait": {"setpoint": true}}]}"#,
                     #"{"name": "x", "steps": [{"exposures": {"type": "bias", "time": 0}}]}"#] {
            #expect(throws: DecodingError.self, "\(json)") { try Self.decode(json) }
        }
    }

    @Test func theQueueKeepsItsOrderAndTheRunningPlanKeepsTheHead() async throws {
        let folder = FileManager.default.temporaryDirectory.path + "/plans-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let database = try CatalogDatabase(path: folder + "/catalog.sqlite")
        let document = try Self.decode(#"{"name": "x", "steps": [{"exposure": {"type": "bias", "time": 0}}]}"#)
        let steps = try PlanExpansion.expand(document)
        for id in ["PA", "PB", "PC", "PD"] { _ = try await database.insertPlan(id: id, document: document, steps: steps) }
        func order() async throws -> [String] { try await database.plans(finished: 10).filter { $0.position != nil }.map(\.id) }
        #expect(try await order() == ["PA", "PB", "PC", "PD"])
        #expect(try await database.startPlan("PB") == false, "only the head starts")
        #expect(try await database.startPlan("PA"))
        #expect(try await database.movePlan("PD", to: 0) == nil)
        #expect(try await order() == ["PA", "PD", "PB", "PC"], "the running plan keeps the head")
        #expect(try await database.movePlan("PA", to: 3) != nil, "a running plan is not moved")
        #expect(try await database.movePlan("PB", to: 99) == nil)
        #expect(try await order() == ["PA", "PD", "PC", "PB"])
        // A final state leaves the queue, and the places close up.
        #expect(try await database.setPlanState("PD", .cancelled, reason: "by a test", from: [.queued]))
        #expect(try await order() == ["PA", "PC", "PB"])
        #expect(try await database.plans(finished: 10).map(\.position) == [0, 1, 2, nil])
        #expect(try await database.movePlan("PD", to: 0) != nil, "a cancelled plan has no place")
        // A state change from a state not allowed changes nothing.
        #expect(try await database.setPlanState("PD", .queued, reason: nil, from: [.paused]) == false)
        #expect(try await database.plan(id: "PD")?.state == .cancelled)
        #expect(try await database.plan(id: "PD")?.finished != nil)
        // A failed plan resumed goes back last.
        #expect(try await database.setPlanState("PA", .failed, reason: "x", from: [.running]))
        #expect(try await database.resumePlan("PA"))
        #expect(try await order() == ["PC", "PB", "PA"])
    }
}
