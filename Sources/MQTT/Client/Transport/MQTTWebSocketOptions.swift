/// MQTT over WebSocket (`ws://`, or `wss://` together with ``MQTTClientConfiguration/tls``): an HTTP/1.1 upgrade
/// to the `mqtt` subprotocol, then every MQTT packet travels in binary frames (MQTT 5.0 §6, MQTT 3.1.1 §6).
///
/// ```swift
/// var configuration = MQTTClientConfiguration(host: "broker.local", port: 15675)
/// configuration.webSocket = MQTTWebSocketOptions(path: "/ws")   // RabbitMQ's rabbitmq_web_mqtt
/// ```
///
/// TLS, client certificates, host name verification and the connect timeout apply as on plain TCP; the timeout
/// bounds the TCP (and TLS) connect, the upgrade and the CONNACK, each.
public struct MQTTWebSocketOptions: Sendable, Hashable {
    /// The request path of the upgrade (`/mqtt` for mosquitto and ejabberd's usual setup, `/ws` for RabbitMQ).
    public var path: String
    /// Extra HTTP headers of the upgrade request (e.g. an `Authorization` a proxy needs). `Host`, `Upgrade`,
    /// `Connection`, `Sec-WebSocket-*` are set by the client.
    public var headers: [String: String]
    /// The largest WebSocket frame accepted from the broker, in bytes; by default the client's
    /// ``MQTTClientConfiguration/maximumPacketSize`` plus room for the frame header, so that any packet the client
    /// accepts fits in one frame. A larger frame closes the connection (close code 1009).
    public var maximumFrameSize: Int?

    /// Creates WebSocket options.
    public init(path: String = "/mqtt", headers: [String: String] = [:], maximumFrameSize: Int? = nil) {
        self.path = path
        self.headers = headers
        self.maximumFrameSize = maximumFrameSize
    }
}
