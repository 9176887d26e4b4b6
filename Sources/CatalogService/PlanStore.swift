import ApertureProtocol
import Bus
import Foundation
import GRDB

/// The plan queue in the catalog's database (table `plan`, migration "plans-v1"). A plan's
/// frames are not counted here but in `frame` (PLAN, PLANSTEP, PLANIDX), so that what the
/// queue says is done is what the files hold: a frame counts once its file is catalogued.
///
/// `current_step` is the step the sequencer is on: every step before it is complete (its
/// frames catalogued, or its wait over); a queued, running or paused plan has a `position`
/// (0 is the head, numbers contiguous), a finished one none.
extension CatalogDatabase {
    /// The settings a frame was taken with, as its row has them.
    struct FrameSetting: Hashable, Sendable {
        var exptime: Double?
        var binX: Int
        var binY: Int
        var readoutMode: String?
        var gain: String?
        var filter: String?
    }

    /// A plan as stored.
    struct StoredPlan: Sendable {
        var id: String
        var name: String
        var state: PlanState
        var position: Int?
        var document: PlanDocument
        var steps: [PlanStepRecord]
        var submitted: String
        var started: String?
        var finished: String?
        var reason: String?
        var currentStep: Int?
    }

    private static func storedPlan(_ row: Row) throws -> StoredPlan {
        let decoder = JSONDecoder()
        let document: String = row["document"]
        let steps: String = row["steps"]
        let state: String = row["state"]
        return StoredPlan(id: row["id"], name: row["name"], state: PlanState(rawValue: state) ?? .failed,
                          position: row["position"],
                          document: try decoder.decode(PlanDocument.self, from: Data(document.utf8)),
                          steps: try decoder.decode([PlanStepRecord].self, from: Data(steps.utf8)),
                          submitted: row["submitted"], started: row["started"], finished: row["finished"],
                          reason: row["reason"], currentStep: row["current_step"])
    }

    /// Queues a plan last.
    func insertPlan(id: String, document: PlanDocument, steps: [PlanStepRecord]) async throws -> StoredPlan {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let documentText = String(decoding: try encoder.encode(document), as: UTF8.self)
        let stepsText = String(decoding: try encoder.encode(steps), as: UTF8.self)
        let now = FrameTime.canonical(Date())
        return try await pool.write { db in
            let last = try Int.fetchOne(db, sql: "SELECT MAX(position) FROM plan") ?? -1
            try db.execute(sql: """
                INSERT INTO plan (id, name, state, position, document, steps, submitted, current_step)
                VALUES (?, ?, 'queued', ?, ?, ?, ?, 1)
                """, arguments: [id, document.name, last + 1, documentText, stepsText, now])
            return StoredPlan(id: id, name: document.name, state: .queued, position: last + 1, document: document,
                              steps: steps, submitted: now, currentStep: 1)
        }
    }

    /// One plan, or nil.
    func plan(id: String) async throws -> StoredPlan? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM plan WHERE id = ?", arguments: [id]).map(Self.storedPlan)
        }
    }

    /// The plans not over, in queue order, then up to `finished` plans that are, newest first;
    /// only those in `state` when it is given.
    func plans(finished: Int, state: PlanState? = nil) async throws -> [StoredPlan] {
        try await pool.read { db in
            let only = state.map { "AND state = '\($0.rawValue)'" } ?? ""
            let active = try Row.fetchAll(db, sql: "SELECT * FROM plan WHERE position IS NOT NULL \(only) ORDER BY position")
            let over = try Row.fetchAll(db, sql: """
                SELECT * FROM plan WHERE position IS NULL \(only) ORDER BY IFNULL(finished, submitted) DESC, id DESC LIMIT ?
                """, arguments: [finished])
            return try (active + over).map(Self.storedPlan)
        }
    }

    /// The plan at the head of the queue, or nil when the queue is empty.
    func headPlan() async throws -> StoredPlan? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM plan WHERE position IS NOT NULL ORDER BY position LIMIT 1")
                .map(Self.storedPlan)
        }
    }

    /// Changes a plan's state (and reason); a final state takes it out of the queue.
    /// - Parameter from: the states it may be in; nothing changes when it is in another (returns false).
    @discardableResult
    func setPlanState(_ id: String, _ state: PlanState, reason: String?, from: Set<PlanState>) async throws -> Bool {
        let now = FrameTime.canonical(Date())
        return try await pool.write { db in
            guard let current = try String.fetchOne(db, sql: "SELECT state FROM plan WHERE id = ?", arguments: [id]),
                  let known = PlanState(rawValue: current), from.contains(known) else { return false }
            try db.execute(sql: """
                UPDATE plan SET state = ?, reason = ?,
                    started = CASE WHEN ? = 'running' THEN IFNULL(started, ?) ELSE started END,
                    finished = CASE WHEN ? THEN ? ELSE NULL END,
                    position = CASE WHEN ? THEN NULL ELSE position END
                WHERE id = ?
                """, arguments: [state.rawValue, reason, state.rawValue, now, state.isFinal, now, state.isFinal, id])
            try Self.renumber(db)
            return true
        }
    }

    /// A plan's state alone (the loop asks often; a record may be large), or nil.
    func planState(_ id: String) async throws -> PlanState? {
        try await pool.read { db in
            try String.fetchOne(db, sql: "SELECT state FROM plan WHERE id = ?", arguments: [id]).flatMap(PlanState.init(rawValue:))
        }
    }

    /// Plans that are not over.
    func activePlanCount() async throws -> Int {
        try await pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM plan WHERE position IS NOT NULL") ?? 0 }
    }

    /// Starts a queued plan, only while it is the head of the queue and no other plan runs (one
    /// statement: a move or a pause in between cannot leave two plans running or the running
    /// one below the head).
    /// - Returns: whether it started.
    func startPlan(_ id: String) async throws -> Bool {
        let now = FrameTime.canonical(Date())
        return try await pool.write { db in
            try db.execute(sql: """
                UPDATE plan SET state = 'running', reason = NULL, started = IFNULL(started, ?)
                WHERE id = ? AND state = 'queued'
                  AND position = (SELECT MIN(position) FROM plan WHERE position IS NOT NULL)
                  AND NOT EXISTS (SELECT 1 FROM plan WHERE state = 'running')
                """, arguments: [now, id])
            return db.changesCount == 1
        }
    }

    /// Queues a paused plan again at its place, or a failed one at the end, in one statement.
    /// - Returns: false when the plan is in neither state.
    func resumePlan(_ id: String) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: """
                UPDATE plan SET state = 'queued', reason = NULL, finished = NULL,
                    position = IFNULL(position, (SELECT IFNULL(MAX(position), -1) + 1 FROM plan))
                WHERE id = ? AND state IN ('paused', 'failed')
                """, arguments: [id])
            return db.changesCount == 1
        }
    }

    /// Records that every step before `step` is complete.
    func setCurrentStep(_ id: String, _ step: Int) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE plan SET current_step = ? WHERE id = ?", arguments: [step, id])
        }
    }

    /// Sets the reason shown while the plan runs (what it waits for); a plan no longer running
    /// keeps the reason it stopped with.
    func setPlanReason(_ id: String, _ reason: String?) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE plan SET reason = ? WHERE id = ? AND state = 'running'", arguments: [reason, id])
        }
    }

    /// Puts a plan that is not over at `position` (0 is the head; past the end is last). A
    /// running plan keeps the head: another goes no higher than 1, and it cannot be moved.
    /// - Returns: nil when moved, else why not.
    func movePlan(_ id: String, to position: Int) async throws -> String? {
        try await pool.write { db in
            var order = try String.fetchAll(db, sql: "SELECT id FROM plan WHERE position IS NOT NULL ORDER BY position")
            guard let index = order.firstIndex(of: id) else { return "it is not in the queue" }
            let running = try String.fetchOne(db, sql: "SELECT id FROM plan WHERE state = 'running' LIMIT 1")
            if running == id { return "it is running; pause it first" }
            order.remove(at: index)
            order.insert(id, at: min(max(position, 0), order.count))
            // The running plan is the head, whatever else moved.
            if let running, let at = order.firstIndex(of: running), at != 0 {
                order.remove(at: at)
                order.insert(running, at: 0)
            }
            for (place, plan) in order.enumerated() {
                try db.execute(sql: "UPDATE plan SET position = ? WHERE id = ?", arguments: [place, plan])
            }
            return nil
        }
    }

    /// Makes the positions of the plans in the queue 0, 1, 2... in their order.
    private static func renumber(_ db: Database) throws {
        let order = try String.fetchAll(db, sql: "SELECT id FROM plan WHERE position IS NOT NULL ORDER BY position")
        for (place, plan) in order.enumerated() {
            try db.execute(sql: "UPDATE plan SET position = ? WHERE id = ? AND position != ?", arguments: [place, plan, place])
        }
    }

    /// The PLANIDX values the catalog holds for a step of a plan (missing files included: a
    /// frame once saved is never taken again).
    func heldIndexes(plan: String, step: Int) async throws -> Set<Int> {
        try await pool.read { db in
            Set(try Int.fetchAll(db, sql: """
                SELECT plan_index FROM frame WHERE plan = ? AND plan_step = ? AND plan_index IS NOT NULL
                """, arguments: [plan, step]))
        }
    }

    /// Frames held per step of a plan (distinct PLANIDX values).
    func heldCounts(plan: String) async throws -> [Int: Int] {
        try await pool.read { db in
            var counts: [Int: Int] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT plan_step, COUNT(DISTINCT plan_index) AS held FROM frame
                WHERE plan = ? AND plan_step IS NOT NULL AND plan_index IS NOT NULL GROUP BY plan_step
                """, arguments: [plan]) {
                counts[row["plan_step"]] = row["held"]
            }
            return counts
        }
    }

    /// The distinct settings of the frames a query selects (a calibration set's needs).
    func settings(_ query: FrameQuery) async throws -> [FrameSetting] {
        let (clause, arguments) = Self.filters(query)
        return try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT DISTINCT exptime, xbinning, ybinning, readout_mode, gain, filter FROM frame WHERE \(clause)
                """, arguments: arguments).map { row in
                FrameSetting(exptime: row["exptime"], binX: row["xbinning"] ?? 1, binY: row["ybinning"] ?? 1,
                             readoutMode: row["readout_mode"], gain: row["gain"], filter: row["filter"])
            }
        }
    }

    /// Which of `paths` (relative to the data root) have rows.
    func catalogued(_ paths: [String]) async throws -> Set<String> {
        guard !paths.isEmpty else { return [] }
        return try await pool.read { db in
            var found: Set<String> = []
            for chunk in stride(from: 0, to: paths.count, by: 500) {
                let part = Array(paths[chunk..<min(chunk + 500, paths.count)])
                let marks = Array(repeating: "?", count: part.count).joined(separator: ",")
                found.formUnion(try String.fetchAll(db, sql: "SELECT path FROM frame WHERE path IN (\(marks))",
                                                    arguments: StatementArguments(part)))
            }
            return found
        }
    }
}
