import Metrics

/// What a ``SealedMQTTClient`` reports through swift-metrics: a no-op until the application bootstraps a metrics
/// backend (`mqtt-seal sub --metrics-port` bootstraps swift-prometheus). The labels, for dashboards and alerts:
///
/// - `mqtt_seal_delivered_total`, `mqtt_seal_plaintext_total`: messages handed to the application (verified, or
///   in clear where the policy allows it);
/// - `mqtt_seal_rejected_total{reason}`: rejections by reason (the reasons of ``SealedRejection/Reason``);
/// - `mqtt_seal_duplicates_total`: authentic copies of delivered messages, dropped;
/// - `mqtt_seal_published_total`: messages sealed and published;
/// - `mqtt_seal_keyring_reloads_total`: key reloads made because an envelope named a key or signer not loaded yet;
/// - `mqtt_seal_open_duration_seconds`: the time to open and verify one envelope.
struct SealedMetrics: Sendable {
    let delivered = Counter(label: "mqtt_seal_delivered_total")
    let plaintext = Counter(label: "mqtt_seal_plaintext_total")
    let duplicates = Counter(label: "mqtt_seal_duplicates_total")
    let published = Counter(label: "mqtt_seal_published_total")
    let keyringReloads = Counter(label: "mqtt_seal_keyring_reloads_total")
    let openDuration = Timer(label: "mqtt_seal_open_duration_seconds")

    /// The rejection counter of `reason` (the caller keeps it: a counter is looked up once per reason).
    func rejected(_ reason: SealedRejection.Reason) -> Counter {
        Counter(label: "mqtt_seal_rejected_total", dimensions: [("reason", reason.description)])
    }
}
