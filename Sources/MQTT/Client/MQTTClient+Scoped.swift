public import NIOCore
public import NIOPosix

/// Scoped use of a client and of a subscription, beside the long-lived ``MQTTClient/run()`` `Service`: what is
/// opened for a closure is closed when the closure returns or throws.
extension MQTTClient {
    /// Creates a client, connects, runs `body` with it and disconnects (DISCONNECT, then close) when `body` returns
    /// or throws.
    ///
    /// ```swift
    /// let configuration = MQTTClientConfiguration(host: "127.0.0.1", port: 1883)
    /// try await MQTTClient.withConnection(configuration: configuration) { client in
    ///     try await client.publish(to: "sensors/1", payload: ByteBuffer(string: "21.5"), qos: .atLeastOnce)
    /// }
    /// ```
    ///
    /// The disconnect does not wait for messages accepted by ``enqueue(to:payload:qos:retain:properties:)``: call
    /// ``waitUntilAcknowledged()`` at the end of `body` for that (with a session store they are kept on disk and sent
    /// by the next connection with the same client id).
    ///
    /// - Returns: What `body` returned.
    /// - Throws: The errors of ``init(configuration:eventLoopGroup:)`` and ``connect()``, or what `body` threw.
    public static func withConnection<Result>(
        configuration: MQTTClientConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (MQTTClient) async throws -> Result
    ) async throws -> Result {
        let client = try MQTTClient(configuration: configuration, eventLoopGroup: eventLoopGroup)
        do {
            try await client.connect()
            let result = try await body(client)
            await client.disconnect()
            return result
        } catch {
            await client.disconnect()
            throw error
        }
    }

    /// Subscribes, runs `body` with the messages and ends the subscription when `body` returns or throws: the stream
    /// ends, and its filters that no other stream of this client uses are unsubscribed (the call waits for the
    /// UNSUBACK). This is the scoped form of ``subscribe(to:properties:)``, as mqtt-nio's `subscribe(to:process:)`.
    ///
    /// ```swift
    /// let first = try await client.withSubscription(to: "sensors/#", qos: .atLeastOnce) { messages in
    ///     for try await message in messages { return message }
    ///     return nil
    /// }
    /// ```
    ///
    /// Leaving `body` early (a `break`, a `return`, an error) is the normal way to end the subscription; the stream
    /// must not be kept beyond `body`.
    ///
    /// - Returns: What `body` returned.
    /// - Throws: The errors of ``subscribe(to:properties:)``; what `body` threw (then the unsubscribe is still made,
    ///   and its own failure is not reported); after a `body` that returned, ``MQTTError/Code/unsubscriptionFailed``
    ///   when the broker refused the UNSUBSCRIBE, or the error of the UNSUBSCRIBE request (e.g.
    ///   ``MQTTError/Code/timeout``). A client that is disconnected or was shut down meanwhile is not an error: its
    ///   session no longer holds the filters (a reconnect does not subscribe them again).
    public func withSubscription<Result>(
        to subscriptions: [MQTTSubscription],
        properties: MQTTProperties = MQTTProperties(),
        isolation: isolated (any Actor)? = #isolation,
        _ body: (MQTTMessageStream) async throws -> Result
    ) async throws -> Result {
        let stream = try await subscribe(to: subscriptions, properties: properties)
        let id = stream.lifetime.id
        let result: Result
        do {
            result = try await body(stream)
        } catch {
            try? await endSubscription(id)
            throw error
        }
        try await endSubscription(id)
        return result
    }

    /// Subscribes to one filter for the duration of `body`; see ``withSubscription(to:properties:isolation:_:)``.
    public func withSubscription<Result>(
        to topicFilter: String, qos: MQTTQoS = .atMostOnce, noLocal: Bool = false, retainAsPublished: Bool = false,
        retainHandling: MQTTRetainHandling = .sendOnSubscribe,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (MQTTMessageStream) async throws -> Result
    ) async throws -> Result {
        let options = MQTTSubscriptionOptions(
            qos: qos, noLocal: noLocal, retainAsPublished: retainAsPublished, retainHandling: retainHandling)
        return try await withSubscription(
            to: [MQTTSubscription(topicFilter: topicFilter, options: options)], isolation: isolation, body)
    }

    /// Ends stream `id` and waits for the UNSUBACK of its filters, if any had to be unsubscribed.
    private func endSubscription(_ id: Int) async throws {
        let core = self.core
        let unsuback: MQTTUnsubAck?
        do {
            unsuback = try await core.loop.flatSubmit { core.endStream(id) }.get()
        } catch {
            // Without a connection there is nothing to unsubscribe: the filters are out of the client's session, so
            // a reconnect does not subscribe them again, and a closed client has no session left to end.
            if let error = error as? MQTTError, [.notConnected, .clientShutDown].contains(error.code) { return }
            let closed = try await core.loop.submit { () -> Bool in
                if case .closed = core.phase { return true }
                return false
            }.get()
            if closed { return }
            throw error
        }
        if let unsuback, let failure = unsuback.reasonCodes.first(where: \.isFailure) {
            throw MQTTError.client(.unsubscriptionFailed, failure, "UNSUBACK \(unsuback.reasonCodes)")
        }
    }
}
