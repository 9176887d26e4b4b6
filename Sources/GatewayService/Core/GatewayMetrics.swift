import Bus
import ApertureProtocol
import CoreMetrics
import Foundation
import Metrics
import struct Prometheus.PrometheusMetricsFactory
import class Prometheus.PrometheusCollectorRegistry
import Synchronization

/// The gateway's Prometheus metrics, through swift-metrics with the Prometheus backend.
///
/// HTTP requests by route, method and status come from Hummingbird's `MetricsMiddleware`
/// (`hb_requests_total`, `http_server_request_duration_seconds`); the camera, processor and
/// supervisor figures are taken from the children's events as they pass through the gateway.
public final class GatewayMetrics: Sendable {
    /// The registry `/metrics` renders.
    public let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory

    private let exposureCounters = Mutex<[String: CoreMetrics.Counter]>([:])
    private let restartGauges = Mutex<[String: CoreMetrics.Gauge]>([:])
    private let upGauges = Mutex<[String: CoreMetrics.Gauge]>([:])
    private let frames: CoreMetrics.Counter
    private let aborts: CoreMetrics.Counter
    private let temperature: CoreMetrics.Gauge
    private let setpoint: CoreMetrics.Gauge
    private let coolerPower: CoreMetrics.Gauge
    private let sseDropped: CoreMetrics.Counter
    private let sseClients: CoreMetrics.Gauge
    private let processorFrames: CoreMetrics.Counter
    private let lastBusSequence = Mutex<[String: UInt64]>([:])
    private let busDropped: CoreMetrics.Counter
    private let exportGauges: [String: CoreMetrics.Gauge]

    private static let bootstrapped = Mutex(false)

    /// Creates the registry and, once per process, makes it swift-metrics' backend (so that
    /// Hummingbird's request metrics land in it too).
    init() {
        registry = PrometheusCollectorRegistry()
        factory = PrometheusMetricsFactory(registry: registry)
        let first = Self.bootstrapped.withLock { done -> Bool in
            defer { done = true }
            return !done
        }
        if first { MetricsSystem.bootstrap(factory) }
        frames = CoreMetrics.Counter(label: "aperture_frames_total", factory: factory)
        aborts = CoreMetrics.Counter(label: "aperture_aborts_total", factory: factory)
        temperature = CoreMetrics.Gauge(label: "aperture_ccd_temperature_celsius", factory: factory)
        setpoint = CoreMetrics.Gauge(label: "aperture_ccd_setpoint_celsius", factory: factory)
        coolerPower = CoreMetrics.Gauge(label: "aperture_cooler_power_percent", factory: factory)
        sseDropped = CoreMetrics.Counter(label: "aperture_events_dropped_total", dimensions: [("reason", "slow_client")], factory: factory)
        busDropped = CoreMetrics.Counter(label: "aperture_events_dropped_total", dimensions: [("reason", "bus")], factory: factory)
        sseClients = CoreMetrics.Gauge(label: "aperture_event_clients", factory: factory)
        processorFrames = CoreMetrics.Counter(label: "aperture_processor_results_total", factory: factory)
        let factory = factory
        exportGauges = Dictionary(uniqueKeysWithValues: Self.exportGaugeNames.map { name in
            (name, CoreMetrics.Gauge(label: name, factory: factory))
        })
    }

    /// The export's figures (``ExportStatus``), as gauges: the status carries totals since the
    /// catalog started, so a restart of the catalog shows as a reset, as for a counter.
    static let exportGaugeNames = [
        "aperture_export_enabled", "aperture_export_paused", "aperture_export_connected", "aperture_export_backlog_frames",
        "aperture_export_backlog_bytes", "aperture_export_lag_seconds", "aperture_export_sent_frames",
        "aperture_export_sent_bytes", "aperture_export_duplicates", "aperture_export_failures",
        "aperture_export_last_lag_seconds",
    ]

    /// Records the export's status (from `catalog.export`).
    func export(_ status: ExportStatus) {
        let values: [String: Double] = [
            "aperture_export_enabled": status.enabled ? 1 : 0, "aperture_export_paused": status.paused ? 1 : 0,
            "aperture_export_connected": status.connected ? 1 : 0,
            "aperture_export_backlog_frames": Double(status.backlogFrames),
            "aperture_export_backlog_bytes": Double(status.backlogBytes), "aperture_export_lag_seconds": status.lagSeconds,
            "aperture_export_sent_frames": Double(status.sentFrames), "aperture_export_sent_bytes": Double(status.sentBytes),
            "aperture_export_duplicates": Double(status.duplicates), "aperture_export_failures": Double(status.failures),
            "aperture_export_last_lag_seconds": status.lastLagSeconds ?? 0,
        ]
        for (name, value) in values { exportGauges[name]?.record(value) }
    }

    /// The metrics in the Prometheus text format.
    public func render() -> [UInt8] { registry.emitToBuffer() }

    /// Counts what an event from a child tells.
    func busEvent(_ event: BusEvent) {
        let gap = lastBusSequence.withLock { last -> UInt64 in
            defer { last[event.topic] = event.sequence }
            guard let previous = last[event.topic], event.sequence > previous + 1 else { return 0 }
            return event.sequence - previous - 1
        }
        if gap > 0 { busDropped.increment(by: Int64(gap)) }
        switch event.topic {
        case CameraTopic.frame:
            frames.increment()
        case CameraTopic.exposure:
            if let record = try? event.decode(ExposureRecord.self), record.status != .running {
                exposures(record.status.rawValue).increment()
                if record.status == .aborted { aborts.increment() }
            }
        case "processor.result":
            processorFrames.increment()
        case CatalogTopic.export:
            if let status = try? event.decode(ExportStatus.self) { export(status) }
        default:
            break
        }
    }

    /// Records the children's restarts and whether each is up, from the supervisor's status
    /// (so the figures are right even for restarts before the gateway started).
    func childStatus(_ status: SupervisorStatus) {
        for child in status.children {
            self.child(child.name, up: child.state == .running, restarts: child.restarts)
        }
    }

    /// Records a temperature reading (from the telemetry the events hub decoded).
    func temperature(_ reading: TemperatureStatus) {
        temperature.record(reading.celsius)
        setpoint.record(Double(reading.setpoint))
        if let power = reading.coolerPower { coolerPower.record(power) }
    }

    /// Records a child's lifecycle event.
    func childEvent(_ event: ChildLifecycleEvent) {
        child(event.child, up: event.event == .started, restarts: event.restarts)
    }

    private func child(_ name: String, up: Bool, restarts: Int) {
        Self.metric(name, in: restartGauges) {
            CoreMetrics.Gauge(label: "aperture_child_restarts", dimensions: [("child", name)], factory: factory)
        }.record(Double(restarts))
        Self.metric(name, in: upGauges) {
            CoreMetrics.Gauge(label: "aperture_child_up", dimensions: [("child", name)], factory: factory)
        }.record(up ? 1 : 0)
    }

    func eventsDropped(_ count: Int) { sseDropped.increment(by: Int64(count)) }
    func eventClients(_ count: Int) { sseClients.record(Double(count)) }

    private func exposures(_ status: String) -> CoreMetrics.Counter {
        Self.metric(status, in: exposureCounters) {
            CoreMetrics.Counter(label: "aperture_exposures_total", dimensions: [("status", status)], factory: factory)
        }
    }

    /// The metric kept under `key`, made by `make` the first time.
    private static func metric<M>(_ key: String, in metrics: borrowing Mutex<[String: M]>, make: () -> M) -> M {
        metrics.withLock { metrics in
            if let metric = metrics[key] { return metric }
            let metric = make()
            metrics[key] = metric
            return metric
        }
    }
}
