import NIOCore

/// Outgoing messages: the send window, the QoS 1/2 flows the client starts (PUBACK; PUBREC, PUBREL, PUBCOMP),
/// refusals, and topic aliases.
extension ClientStateMachine {
    /// A publish the application submitted (any QoS). QoS 1/2 complete on PUBACK / PUBCOMP; QoS 0 once written.
    ///
    /// `storeKey` is the session store's key of a QoS 1/2 message the store accepted: its flow is then reported as
    /// ``Action/persist(_:)`` records, and a refusal here ends it in the store too. `token` is `nil` when nobody waits
    /// for the outcome (`enqueue`); a failure is then logged.
    mutating func publish(
        _ publish: MQTTPublish, token: PublishToken?, storeKey: UInt64? = nil, _ actions: inout Actions
    ) {
        let refusal: MQTTError?
        switch phase {
        case .closed:
            refusal = closeError ?? MQTTError.client(.clientShutDown, .unspecifiedError, "the client is closed")
        case .idle:
            refusal = MQTTError.client(.notConnected, .unspecifiedError, "connect first")
        case .connecting, .connected, .reconnecting:
            if publish.qos > brokerMaximumQoS {
                refusal = MQTTError(
                    .invalidArgument, reasonCode: .qosNotSupported, "the broker's Maximum QoS is \(brokerMaximumQoS)")
            } else if publish.retain && !brokerRetainAvailable {
                refusal = MQTTError(.invalidArgument, reasonCode: .retainNotSupported, "the broker has no retain")
            } else {
                refusal = nil
            }
        }
        if let refusal {
            if let storeKey, phase != .closed { actions.append(.persist(.finished(key: storeKey))) }
            reportFailure(token, refusal, what: publish.topic, &actions)
            return
        }
        if publish.qos == .atMostOnce {
            guard isUsable else {
                reportFailure(
                    token, MQTTError.client(.notConnected, .unspecifiedError, "QoS 0 publish while disconnected"),
                    &actions)
                return
            }
            actions.append(.sendPublish(aliased(publish), qos0Token: token))
            return
        }
        if inflight.count < sendQuota && pending.isEmpty {
            startInflight(Pending(publish: publish, token: token, storeKey: storeKey), &actions)
        } else {
            pending.append(Pending(publish: publish, token: token, storeKey: storeKey))
        }
    }

    /// A QoS 0 publish nobody waits for: sent if connected, dropped otherwise (QoS 0 promises at most once).
    mutating func publishQoS0(_ publish: MQTTPublish, _ actions: inout Actions) {
        guard phase == .connected, isUsable else {
            actions.append(.log(.debug, "QoS 0 message to \(publish.topic) dropped: not connected"))
            return
        }
        if publish.retain && !brokerRetainAvailable {
            actions.append(.log(.debug, "retained QoS 0 message to \(publish.topic) dropped: the broker has no retain"))
            return
        }
        actions.append(.sendPublish(aliased(publish), qos0Token: nil))
    }

    /// The driver could not encode a QoS 1/2 PUBLISH (larger than the broker's maximum packet size): it fails.
    mutating func publishNotSent(packetIdentifier: UInt16, error: MQTTError, _ actions: inout Actions) {
        guard let entry = inflight.removeValue(forKey: packetIdentifier) else { return }
        finish(entry, &actions)
        reportFailure(entry.token, error, what: entry.publish.topic, &actions)
        drainPending(&actions)
    }

    private mutating func startInflight(_ entry: Pending, _ actions: inout Actions) {
        var publish = entry.publish
        let id = allocatePacketID()
        publish.packetIdentifier = id
        publish.dup = false
        sequence += 1
        let usable = isUsable
        inflight[id] = Outgoing(
            publish: publish, awaitingPubcomp: false, sent: usable, sequence: sequence, token: entry.token,
            storeKey: entry.storeKey)
        // The store learns the packet id before the PUBLISH can reach the broker (the driver commits the store
        // before every socket flush): a QoS 2 message resent after a crash keeps its id and stays exactly once.
        if let key = entry.storeKey { actions.append(.persist(.assigned(key: key, packetIdentifier: id))) }
        if usable { actions.append(.sendPublish(aliased(publish), qos0Token: nil)) }
    }

    mutating func drainPending(_ actions: inout Actions) {
        while inflight.count < sendQuota, let entry = pending.popFirst() {
            startInflight(entry, &actions)
        }
    }

    /// The flow of `entry` ended: the session store forgets it.
    private func finish(_ entry: Outgoing, _ actions: inout Actions) {
        if let key = entry.storeKey { actions.append(.persist(.finished(key: key))) }
    }

    /// Reports a failed publish to its caller, or logs it when nobody waits (`enqueue`, a recovered message).
    func reportFailure(_ token: PublishToken?, _ error: MQTTError, what topic: String = "", _ actions: inout Actions) {
        if let token {
            actions.append(.failPublish(token, error))
        } else if error.code != .clientShutDown {
            actions.append(.log(.error, "a queued message to \(topic) failed: \(error)"))
        }
    }

    /// The PUBLISH as it goes on the wire of the current connection: with a topic alias when both sides use them.
    mutating func aliased(_ publish: MQTTPublish) -> MQTTPublish {
        guard configuration.usesOutgoingTopicAliases, var connection, connection.version == .v5,
            connection.brokerTopicAliasMaximum > 0
        else { return publish }
        var publish = publish
        if let alias = connection.outgoingAliases[publish.topic] {
            publish.properties.topicAlias = alias
            publish.topic = ""
            publishesSentByAlias += 1
        } else if connection.outgoingAliases.count < Int(connection.brokerTopicAliasMaximum) {
            let alias = UInt16(connection.outgoingAliases.count + 1)
            connection.outgoingAliases[publish.topic] = alias
            self.connection = connection
            aliasesAssigned += 1
            publish.properties.topicAlias = alias
        }
        return publish
    }

    // MARK: - Acknowledgements of outgoing messages

    mutating func handlePubAck(_ ack: MQTTPubAck, _ actions: inout Actions) {
        guard let entry = inflight[ack.packetIdentifier], !entry.awaitingPubcomp else {
            actions.append(.log(.debug, "PUBACK for unknown packet id \(ack.packetIdentifier)"))
            return
        }
        inflight.removeValue(forKey: ack.packetIdentifier)
        if entry.publish.qos == .exactlyOnce {
            finish(entry, &actions)
            // Some brokers (RabbitMQ 3.10) downgrade QoS 2 to 1 and answer PUBACK: the message was taken at most at
            // QoS 1. The publish ends with a typed error rather than waiting for a PUBREC forever.
            actions.append(.log(.warning, "the broker answered a QoS 2 PUBLISH with PUBACK (QoS 1)"))
            reportFailure(
                entry.token,
                MQTTError.client(
                    .qosDowngraded, ack.reasonCode,
                    "the broker answered a QoS 2 PUBLISH with PUBACK: it accepted the message at QoS 1 at most"),
                what: entry.publish.topic, &actions)
            drainPending(&actions)
            return
        }
        if ack.reasonCode == .quotaExceeded, retryAfterQuotaRefusal(entry, &actions) { return }
        finish(entry, &actions)
        complete(entry, ack, what: "PUBACK", &actions)
        drainPending(&actions)
    }

    mutating func handlePubRec(_ ack: MQTTPubAck, _ actions: inout Actions) {
        guard var entry = inflight[ack.packetIdentifier], entry.publish.qos == .exactlyOnce else {
            actions.append(
                .send(.pubrel(MQTTPubAck(packetIdentifier: ack.packetIdentifier, reasonCode: notFoundCode))))
            return
        }
        if ack.reasonCode.isFailure {
            inflight.removeValue(forKey: ack.packetIdentifier)
            if ack.reasonCode == .quotaExceeded, retryAfterQuotaRefusal(entry, &actions) { return }
            finish(entry, &actions)
            complete(entry, ack, what: "PUBREC", &actions)
            drainPending(&actions)
            return
        }
        entry.awaitingPubcomp = true
        inflight[ack.packetIdentifier] = entry
        if let key = entry.storeKey { actions.append(.persist(.released(key: key))) }
        actions.append(.send(.pubrel(MQTTPubAck(packetIdentifier: ack.packetIdentifier))))
    }

    mutating func handlePubComp(_ ack: MQTTPubAck, _ actions: inout Actions) {
        guard let entry = inflight[ack.packetIdentifier], entry.awaitingPubcomp else {
            actions.append(.log(.debug, "PUBCOMP for unknown packet id \(ack.packetIdentifier)"))
            return
        }
        inflight.removeValue(forKey: ack.packetIdentifier)
        if recentQoS2Completions.count == Self.recentQoS2Limit { recentQoS2Completions.removeFirst() }
        recentQoS2Completions.append(ack.packetIdentifier)
        finish(entry, &actions)
        complete(entry, ack, what: "PUBCOMP", &actions)
        drainPending(&actions)
    }

    /// A QoS 1/2 PUBLISH refused with Quota exceeded (already out of ``inflight``). The broker holds more in flight
    /// for this session than the client counts, typically QoS 2 flows it restored from a save older than their
    /// PUBREL. The message is not failed: it goes first in line again and the window shrinks to what the broker
    /// took. When it was alone in flight, the broker's whole quota is held by such flows: the client releases the
    /// QoS 2 flows it completed last (PUBREL; the broker answers PUBCOMP, or 0x92 for a flow it does not hold), once
    /// per connection, and tries again. Refused alone a second time, the publish fails: that is a real limit.
    ///
    /// - Returns: whether the message was queued again (false: the caller fails it).
    private mutating func retryAfterQuotaRefusal(_ entry: Outgoing, _ actions: inout Actions) -> Bool {
        guard var connection else { return false }
        if inflight.isEmpty {
            guard !connection.releasedStaleFlows else { return false }
            connection.releasedStaleFlows = true
            self.connection = connection
            let releasing = recentQoS2Completions.filter { inflight[$0] == nil }
            guard !releasing.isEmpty else { return false }
            actions.append(
                .log(
                    .warning,
                    """
                    the broker refused a message with nothing else in flight (Quota exceeded): releasing the last \
                    \(releasing.count) completed QoS 2 flows it may still hold from a stale save
                    """))
            for id in releasing { actions.append(.send(.pubrel(MQTTPubAck(packetIdentifier: id)))) }
            recentQoS2Completions.removeAll()
            learnedSendQuota = nil
        } else {
            sendQuota = max(1, inflight.count)
            learnedSendQuota = sendQuota
            actions.append(
                .log(.warning, "the broker refused a message (Quota exceeded): send window now \(sendQuota)"))
        }
        var publish = entry.publish
        publish.packetIdentifier = nil
        publish.dup = false
        pending.prepend(Pending(publish: publish, token: entry.token, storeKey: entry.storeKey))
        drainPending(&actions)
        return true
    }

    /// PUBREL / PUBCOMP for a packet id this side does not hold: 0x92 in MQTT 5 (3.1.1 has no reason codes).
    var notFoundCode: MQTTReasonCode { version == .v5 ? .packetIdentifierNotFound : .success }

    private func complete(_ entry: Outgoing, _ ack: MQTTPubAck, what: String, _ actions: inout Actions) {
        if ack.reasonCode.isFailure {
            reportFailure(
                entry.token,
                MQTTError.client(
                    .publishFailed, ack.reasonCode,
                    "\(what) \(ack.reasonCode)" + (ack.properties.reasonString.map { ": " + $0 } ?? "")),
                what: entry.publish.topic, &actions)
        } else if let token = entry.token {
            actions.append(.succeedPublish(token, ack.reasonCode))
        }
    }
}
