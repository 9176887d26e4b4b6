import Bus

// The plan queue's commands, answered by the sequencer in `aperture-catalog` on catalog.ctl,
// and its events on catalog.events (docs/protocol.md, "Plans").

/// `plan.submit`: checks a plan entirely (every step, against the camera too) and queues it.
public enum PlanSubmitCommand: BusCommand {
    /// The command's name.
    public static let name = "plan.submit"
    /// The plan.
    public typealias Arguments = PlanDocument
    /// The queued plan with its id.
    public typealias Result = PlanRecord
}

/// `plan.list`: the plans, in queue order, then the finished ones, newest first.
public enum PlanListCommand: BusCommand {
    /// The command's name.
    public static let name = "plan.list"
    /// The arguments: which plans.
    public struct Arguments: Codable, Sendable, Hashable {
        /// Only plans in this state.
        public var state: PlanState?
        /// At most this many finished plans (default 50, at most 1000).
        public var limit: Int?
        /// Creates the arguments.
        public init(state: PlanState? = nil, limit: Int? = nil) {
            self.state = state
            self.limit = limit
        }
    }
    /// The reply.
    public struct Result: Codable, Sendable, Hashable {
        /// The plans.
        public var plans: [PlanRecord]
        /// Creates the reply.
        public init(plans: [PlanRecord]) { self.plans = plans }
    }
}

/// The arguments of the commands on one plan.
public struct PlanIdentifier: Codable, Sendable, Hashable {
    /// The plan's id.
    public var id: String
    /// Creates the arguments.
    public init(id: String) { self.id = id }
}

/// `plan.get`: one plan.
public enum PlanGetCommand: BusCommand {
    /// The command's name.
    public static let name = "plan.get"
    /// The plan's id.
    public typealias Arguments = PlanIdentifier
    /// The plan.
    public typealias Result = PlanRecord
}

/// `plan.pause`: stops a queued or running plan; its running exposure is aborted (the frame in
/// progress is taken again on resume; saved frames stay).
public enum PlanPauseCommand: BusCommand {
    /// The command's name.
    public static let name = "plan.pause"
    /// The plan's id.
    public typealias Arguments = PlanIdentifier
    /// The plan, paused.
    public typealias Result = PlanRecord
}

/// `plan.resume`: queues a paused (or failed) plan again at its place; it continues with the
/// first frame the catalog does not hold.
public enum PlanResumeCommand: BusCommand {
    /// The command's name.
    public static let name = "plan.resume"
    /// The plan's id.
    public typealias Arguments = PlanIdentifier
    /// The plan, queued or running.
    public typealias Result = PlanRecord
}

/// `plan.cancel`: ends a plan for good; its running exposure is aborted and nothing more is saved for it.
public enum PlanCancelCommand: BusCommand {
    /// The command's name.
    public static let name = "plan.cancel"
    /// The plan's id.
    public typealias Arguments = PlanIdentifier
    /// The plan, cancelled.
    public typealias Result = PlanRecord
}

/// `plan.move`: puts a plan that is not over at another place in the queue (a running plan
/// keeps the head and cannot be moved).
public enum PlanMoveCommand: BusCommand {
    /// The command's name.
    public static let name = "plan.move"
    /// The arguments.
    public struct Arguments: Codable, Sendable, Hashable {
        /// The plan's id.
        public var id: String
        /// Its new place, from 0 (the head); past the end means last.
        public var position: Int
        /// Creates the arguments.
        public init(id: String, position: Int) {
            self.id = id
            self.position = position
        }
    }
    /// The plan at its new place.
    public typealias Result = PlanRecord
}

/// The topics the catalog process publishes on `catalog.events`.
public enum CatalogTopic {
    /// A plan changed: its state, its step, its frames. The payload is the ``PlanRecord``.
    public static let plan = "catalog.plan"
}
