import Testing

/// Issue 16's end-to-end suites (FacilityBus, the export, the archive, two instances, the facility),
/// run one after the other: each starts a nats-server, PostgreSQL or several services at once, and
/// together at the suite's start they would take the two cores from the timing-sensitive suites
/// running beside them.
@Suite(.serialized) enum FacilitySuites {}
