import Metrics
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus

/// `--metrics-port PORT`: swift-metrics bootstrapped with swift-prometheus, served as Prometheus text at
/// `http://127.0.0.1:PORT/metrics` (loopback only; put a reverse proxy in front to expose it).
struct MetricsEndpoint: Sendable {
    let channel: any Channel

    /// Bootstraps the metrics system (once per process) and listens; a port in use is one line, exit 74.
    static func start(port: Int) async throws(CLIFailure) -> MetricsEndpoint {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        do {
            let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                        try channel.pipeline.syncOperations.addHandler(MetricsHTTPHandler(registry: registry))
                    }
                }
                .bind(host: "127.0.0.1", port: port).get()
            return MetricsEndpoint(channel: channel)
        } catch {
            let reason = (error as? IOError).map { String(cString: strerror($0.errnoCode)) } ?? "\(error)"
            throw CLIFailure(.ioError, "--metrics-port \(port): cannot listen on 127.0.0.1:\(port): \(reason)")
        }
    }

    func stop() async { try? await channel.close() }

    /// `--metrics-port PORT` around a long-running command: checks the port (1-65535, exit 64), serves the metrics
    /// while `body` runs (nothing without a port), and stops serving however `body` ends.
    static func serving(port text: String?, _ body: () async throws -> Void) async throws {
        let port = try text.map { text throws(CLIFailure) in
            try BrokerOptions.integer(text, flag: "--metrics-port", in: 1...65_535)
        }
        var endpoint: MetricsEndpoint?
        if let port { endpoint = try await start(port: port) }
        do {
            try await body()
        } catch {
            await endpoint?.stop()
            throw error
        }
        await endpoint?.stop()
    }
}

/// Answers `GET /metrics` with the registry's Prometheus text (format 0.0.4), anything else with 404 or 405.
final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let registry: PrometheusCollectorRegistry
    private var request: HTTPRequestHead?

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): request = head
        case .body: break
        case .end:
            guard let head = request else { return }
            request = nil
            respond(to: head, context: context)
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        let status: HTTPResponseStatus
        var body = context.channel.allocator.buffer(capacity: 4096)
        if head.method != .GET {
            status = .methodNotAllowed
            body.writeString("only GET\n")
        } else if path != "/metrics" {
            status = .notFound
            body.writeString("the metrics are at /metrics\n")
        } else {
            status = .ok
            body.writeBytes(registry.emitToBuffer())
        }
        var headers = HTTPHeaders()
        headers.add(
            name: "Content-Type", value: status == .ok ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain")
        headers.add(name: "Content-Length", value: "\(body.readableBytes)")
        headers.add(name: "Connection", value: "close")
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
            promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { [channel = context.channel] _ in
            channel.close(promise: nil)
        }
    }
}
