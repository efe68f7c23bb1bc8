import NIOCore
import Testing

@testable import MQTT

/// The client's protocol rules, driven event by event without a socket: each test is the packet exchange of one
/// defect that lost, hung or piled up messages on a real broker (issue "MQTT client that loses nothing"), or a
/// rejection path.
@Suite struct ClientStateMachineTests {
    // MARK: - A resumed session's backlog

    @Test func backlogBeforeSubscribeIsKeptAndAcknowledgedOnlyOnceTaken() {
        var driver = MachineDriver { $0.subscriptionBufferCapacity = 2 }
        #expect(driver.connect(initial: false, sessionPresent: true) == ["established keepAlive=60s", "connected"])
        // The broker replays the session right after CONNACK, before the application subscribed again.
        #expect(driver.incoming("b1", topic: "a/1", qos: .atLeastOnce, id: 1) == ["PUBACK 1"])
        #expect(driver.incoming("b2", topic: "a/2", qos: .atLeastOnce, id: 2) == ["PUBACK 2"])
        // The buffer is full: the third is kept, but its PUBACK waits (the broker's flow control stops it).
        #expect(driver.incoming("b3", topic: "a/3", qos: .atLeastOnce, id: 3) == [])
        #expect(driver.incoming("q1", topic: "a/q", qos: .exactlyOnce, id: 4) == [])
        // A resend of the withheld QoS 2 message is neither delivered nor acknowledged twice.
        #expect(driver.incoming("q1", topic: "a/q", qos: .exactlyOnce, id: 4, dup: true) == [])
        #expect(driver.machine.unrouted.entries.count == 4)

        #expect(driver.subscribe(9, to: ["a/#"]) == ["SUBSCRIBE 1 a/#", "timer 1"])
        #expect(
            driver.receive(.suback(MQTTSubAck(packetIdentifier: 1, reasonCodes: [.grantedQoS1]))) == [
                "cancel timer 1", "open stream 1 a/#", "deliver b1 to 1", "deliver b2 to 1", "deliver b3 to 1",
                "deliver q1 to 1", "PUBACK 3", "PUBREC 4", "subscribed 9 stream=1",
            ])
        #expect(driver.machine.unrouted.entries.isEmpty)
        #expect(driver.incoming("live", topic: "a/4", qos: .atLeastOnce, id: 5) == ["deliver live to 1", "PUBACK 5"])
        #expect(driver.receive(.pubrel(MQTTPubAck(packetIdentifier: 4))) == ["PUBCOMP 4"])
    }

    @Test func withheldPubackIsNotSentOnALaterConnection() {
        var driver = MachineDriver { $0.subscriptionBufferCapacity = 1 }
        _ = driver.connect(initial: false, sessionPresent: true)
        #expect(driver.incoming("b1", topic: "a/1", qos: .atLeastOnce, id: 1) == ["PUBACK 1"])
        #expect(driver.incoming("b2", topic: "a/2", qos: .atLeastOnce, id: 2) == [])
        _ = driver.close()
        _ = driver.step { $0.reconnectTimerFired(&$1) }
        _ = driver.connect(initial: false, sessionPresent: true)
        // A PUBACK belongs to the connection its PUBLISH came on: the broker resends b2 on this one instead.
        _ = driver.subscribe(9, to: ["a/#"])
        #expect(
            driver.receive(.suback(MQTTSubAck(packetIdentifier: 1, reasonCodes: [.grantedQoS1]))) == [
                "cancel timer 1", "open stream 1 a/#", "deliver b1 to 1", "deliver b2 to 1", "subscribed 9 stream=1",
            ])
    }

    @Test func messagesOfAFilterUnsubscribedFromAreStragglersNotBacklog() {
        var driver = MachineDriver()
        _ = driver.connect()
        _ = driver.subscribe(9, to: ["s/#"])
        _ = driver.receive(.suback(MQTTSubAck(packetIdentifier: 1, reasonCodes: [.grantedQoS1])))
        #expect(driver.step { $0.removeFilters(["s/#"], &$1) } == ["finish stream 1"])
        #expect(driver.incoming("late", topic: "s/1", qos: .atLeastOnce, id: 7) == ["PUBACK 7"])
        #expect(driver.machine.unrouted.entries.isEmpty)
    }

    // MARK: - Back-pressure across a reconnect

    @Test func aFullStreamKeepsReadingPausedAcrossAReconnect() {
        var driver = MachineDriver()
        _ = driver.connect()
        _ = driver.subscribe(9, to: ["t"])
        _ = driver.receive(.suback(MQTTSubAck(packetIdentifier: 1, reasonCodes: [.grantedQoS0])))
        #expect(driver.step { $0.streamFull(1, &$1) } == ["pause reading"])
        #expect(driver.close() == ["connection lost", "reconnect attempt 1"])
        #expect(driver.step { $0.reconnectTimerFired(&$1) } == ["reconnect"])
        // The new connection starts paused: the stream's consumer has not drained it.
        #expect(
            driver.connect(initial: false, sessionPresent: true) == [
                "established keepAlive=60s resetBackoffLater", "pause reading", "connected",
            ])
        #expect(driver.step { $0.streamDrained(1, &$1) } == ["resume reading"])
        #expect(driver.step { $0.streamDrained(1, &$1) } == [])
    }

    @Test func readingResumesOnlyWhenEveryFullStreamDrained() {
        var driver = MachineDriver()
        _ = driver.connect()
        _ = driver.subscribe(1, to: ["a"])
        _ = driver.receive(.suback(MQTTSubAck(packetIdentifier: 1, reasonCodes: [.grantedQoS0])))
        _ = driver.subscribe(2, to: ["b"])
        _ = driver.receive(.suback(MQTTSubAck(packetIdentifier: 2, reasonCodes: [.grantedQoS0])))
        #expect(driver.step { $0.streamFull(1, &$1) } == ["pause reading"])
        #expect(driver.step { $0.streamFull(2, &$1) } == [])
        #expect(driver.step { $0.streamDrained(1, &$1) } == [])
        #expect(driver.step { $0.streamDrained(2, &$1) } == ["resume reading"])
    }

    // MARK: - Keepalive while reading is paused

    @Test func keepaliveKeepsPingingWhileReadingIsPaused() {
        var driver = MachineDriver { $0.reconnect = .disabled }
        _ = driver.connect()
        _ = driver.subscribe(9, to: ["t"])
        _ = driver.receive(.suback(MQTTSubAck(packetIdentifier: 1, reasonCodes: [.grantedQoS0])))
        _ = driver.step { $0.streamFull(1, &$1) }
        let id = driver.connectionID
        // The PINGRESP may sit unread behind the backlog: its absence proves nothing while paused.
        for _ in 0..<3 { #expect(driver.step { $0.keepAliveTick(id: id, &$1) } == ["PINGREQ"]) }
        _ = driver.step { $0.streamDrained(1, &$1) }
        #expect(driver.step { $0.keepAliveTick(id: id, &$1) } == ["PINGREQ"])
        // Reading again, a missing PINGRESP ends the connection with a keepalive timeout.
        #expect(driver.step { $0.keepAliveTick(id: id, &$1) } == ["close"])
        #expect(
            driver.close() == [
                "connection lost", "terminated connectionClosed 0x8d", "finish stream 1 connectionClosed",
            ])
    }

    @Test func pingrespClearsTheOutstandingPing() {
        var driver = MachineDriver()
        _ = driver.connect()
        let id = driver.connectionID
        #expect(driver.step { $0.keepAliveTick(id: id, &$1) } == ["PINGREQ"])
        #expect(driver.receive(.pingresp) == [])
        #expect(driver.step { $0.keepAliveTick(id: id, &$1) } == ["PINGREQ"])
    }

    // MARK: - A broker that crashed and half-remembers the session

    @Test func backoffGrowsWhileConnectionsDieRightAfterConnack() {
        var driver = MachineDriver()
        _ = driver.connect()
        #expect(driver.close() == ["connection lost", "reconnect attempt 1"])
        for attempt in 2...4 {
            _ = driver.step { $0.reconnectTimerFired(&$1) }
            _ = driver.connect(initial: false, sessionPresent: true)
            // Dropped before it lasted: the CONNACK alone does not reset the backoff.
            #expect(driver.close() == ["connection lost", "reconnect attempt \(attempt)"])
        }
        _ = driver.step { $0.reconnectTimerFired(&$1) }
        _ = driver.connect(initial: false, sessionPresent: true)
        let id = driver.connectionID
        driver.machine.connectionLasted(id: id)
        #expect(driver.close() == ["connection lost", "reconnect attempt 1"])
    }

    @Test func failedReconnectAttemptsCountTowardsTheLimit() {
        var driver = MachineDriver { $0.reconnect.maximumAttempts = 2 }
        _ = driver.connect()
        #expect(driver.publish(1, qos: .atLeastOnce) == ["PUBLISH m1 id=1"])
        #expect(driver.close() == ["connection lost", "reconnect attempt 1"])
        let refused = MQTTError.client(.connectionClosed, .unspecifiedError, "refused")
        #expect(driver.step { $0.reconnectFailed(refused, &$1) } == ["reconnect attempt 2"])
        #expect(
            driver.step { $0.reconnectFailed(refused, &$1) } == [
                "terminated reconnectLimitReached 0x80", "publish 1 failed reconnectLimitReached",
            ])
        #expect(driver.machine.phase == .closed)
    }

    @Test func sessionResumeResendsInOrderAndReleasesHalfDoneQoS2Flows() {
        var driver = MachineDriver()
        _ = driver.connect()
        #expect(driver.publish(1, qos: .exactlyOnce) == ["PUBLISH m1 id=1"])
        #expect(driver.receive(.pubrec(MQTTPubAck(packetIdentifier: 1))) == ["PUBREL 1"])
        #expect(driver.publish(2, qos: .atLeastOnce) == ["PUBLISH m2 id=2"])
        #expect(driver.publish(3, qos: .exactlyOnce) == ["PUBLISH m3 id=3"])
        _ = driver.close()
        // Publishes while disconnected wait for the next connection.
        #expect(driver.publish(4, qos: .atLeastOnce) == [])
        _ = driver.step { $0.reconnectTimerFired(&$1) }
        #expect(
            driver.connect(initial: false, sessionPresent: true) == [
                "established keepAlive=60s resetBackoffLater", "PUBREL 1", "PUBLISH m2 id=2 dup", "PUBLISH m3 id=3 dup",
                "PUBLISH m4 id=4", "connected",
            ])
        #expect(driver.receive(.pubcomp(MQTTPubAck(packetIdentifier: 1))) == ["publish 1 done 0x00"])
    }

    @Test func aBrokerThatLostTheSessionGetsTheSubscriptionsAgain() {
        var driver = MachineDriver()
        _ = driver.connect()
        _ = driver.subscribe(9, to: ["a/#", "b"])
        _ = driver.receive(.suback(MQTTSubAck(packetIdentifier: 1, reasonCodes: [.grantedQoS1, .grantedQoS1])))
        #expect(driver.incoming("q", topic: "a/1", qos: .exactlyOnce, id: 5) == ["deliver q to 1", "PUBREC 5"])
        _ = driver.close()
        _ = driver.step { $0.reconnectTimerFired(&$1) }
        #expect(
            driver.connect(initial: false, sessionPresent: false) == [
                "established keepAlive=60s resetBackoffLater", "SUBSCRIBE 2 a/#,b", "connected",
            ])
        // The QoS 2 receive state went with the session: the same packet id is a new message.
        #expect(driver.incoming("q2", topic: "a/1", qos: .exactlyOnce, id: 5) == ["deliver q2 to 1", "PUBREC 5"])
        // The resubscribe has no caller; a SUBACK for it completes nothing.
        #expect(
            driver.receive(.suback(MQTTSubAck(packetIdentifier: 2, reasonCodes: [.grantedQoS1, .grantedQoS1]))) == [
                "cancel timer 2"
            ])
    }

    @Test func aWithheldPubrecIsNotSentForAResendAndGoesOutWhenTheConsumerTakesTheMessage() {
        var driver = MachineDriver()
        _ = driver.connect()
        _ = driver.subscribe(9, to: ["a/#"])
        _ = driver.receive(.suback(MQTTSubAck(packetIdentifier: 1, reasonCodes: [.grantedQoS2])))
        #expect(driver.incoming("q", topic: "a/1", qos: .exactlyOnce, id: 5) == ["deliver q to 1", "PUBREC 5"])
        // The driver's full stream kept the message and withheld the PUBREC.
        _ = driver.step { machine, _ in machine.acknowledgementWithheld(.pubrec(packetIdentifier: 5)) }
        // A resend of it is neither delivered again nor acknowledged while the consumer has not taken it.
        #expect(driver.incoming("q", topic: "a/1", qos: .exactlyOnce, id: 5) == [])
        #expect(
            driver.step { $0.withheldAcknowledgementsTaken([.pubrec(packetIdentifier: 5)], &$1) } == ["PUBREC 5"])
        // Released once: a second release (a stale report) sends nothing.
        #expect(driver.step { $0.withheldAcknowledgementsTaken([.pubrec(packetIdentifier: 5)], &$1) } == [])
    }

    @Test func withheldAcknowledgementsOfAnEarlierConnectionOrALostSessionAreNotSent() {
        var driver = MachineDriver()
        _ = driver.connect()
        _ = driver.subscribe(9, to: ["a/#"])
        _ = driver.receive(.suback(MQTTSubAck(packetIdentifier: 1, reasonCodes: [.grantedQoS2])))
        _ = driver.incoming("q1", topic: "a/1", qos: .atLeastOnce, id: 4)
        _ = driver.incoming("q2", topic: "a/1", qos: .exactlyOnce, id: 5)
        _ = driver.step { machine, _ in machine.acknowledgementWithheld(.pubrec(packetIdentifier: 5)) }
        let connectionID = driver.machine.connection?.id ?? -1
        // On the same connection both go out.
        #expect(
            driver.step {
                $0.withheldAcknowledgementsTaken([.puback(packetIdentifier: 4, connectionID: connectionID)], &$1)
            } == ["PUBACK 4"])
        _ = driver.close()
        _ = driver.step { $0.reconnectTimerFired(&$1) }
        _ = driver.connect(initial: false, sessionPresent: false)
        // A PUBACK for the old connection and a PUBREC of a session the broker no longer has are not sent.
        #expect(
            driver.step {
                $0.withheldAcknowledgementsTaken(
                    [.puback(packetIdentifier: 4, connectionID: connectionID), .pubrec(packetIdentifier: 5)], &$1)
            } == [])
    }

    @Test func quotaExceededWithOthersInFlightRequeuesFirstAndShrinksTheWindow() {
        var driver = MachineDriver()
        var properties = MQTTProperties()
        properties.receiveMaximum = 3
        _ = driver.connect(properties: properties)
        for token in 1...3 { #expect(driver.publish(token, qos: .atLeastOnce) == ["PUBLISH m\(token) id=\(token)"]) }
        #expect(driver.publish(4, qos: .atLeastOnce) == [])
        // Refused: not failed, first in line again, and the window is what the broker took.
        #expect(driver.receive(.puback(MQTTPubAck(packetIdentifier: 1, reasonCode: .quotaExceeded))) == [])
        #expect(driver.machine.sendQuota == 2)
        #expect(driver.receive(.puback(MQTTPubAck(packetIdentifier: 2))) == ["publish 2 done 0x00", "PUBLISH m1 id=4"])
        #expect(driver.receive(.puback(MQTTPubAck(packetIdentifier: 3))) == ["publish 3 done 0x00", "PUBLISH m4 id=5"])
        // The learned window holds for the session, and is forgotten with it.
        _ = driver.close()
        _ = driver.step { $0.reconnectTimerFired(&$1) }
        _ = driver.connect(initial: false, sessionPresent: true, properties: properties)
        #expect(driver.machine.sendQuota == 2)
        _ = driver.close()
        _ = driver.step { $0.reconnectTimerFired(&$1) }
        _ = driver.connect(initial: false, sessionPresent: false, properties: properties)
        #expect(driver.machine.sendQuota == 3)
    }

    @Test func quotaExceededAloneReleasesCompletedQoS2FlowsOnceThenFails() {
        var driver = MachineDriver()
        _ = driver.connect()
        #expect(driver.publish(1, qos: .exactlyOnce) == ["PUBLISH m1 id=1"])
        #expect(driver.receive(.pubrec(MQTTPubAck(packetIdentifier: 1))) == ["PUBREL 1"])
        #expect(driver.receive(.pubcomp(MQTTPubAck(packetIdentifier: 1))) == ["publish 1 done 0x00"])
        #expect(driver.publish(2, qos: .exactlyOnce) == ["PUBLISH m2 id=2"])
        // Nothing else in flight, yet refused: the broker still counts flows it restored from a stale save.
        #expect(
            driver.receive(.pubrec(MQTTPubAck(packetIdentifier: 2, reasonCode: .quotaExceeded))) == [
                "PUBREL 1", "PUBLISH m2 id=3",
            ])
        #expect(driver.receive(.pubcomp(MQTTPubAck(packetIdentifier: 1, reasonCode: .packetIdentifierNotFound))) == [])
        // Refused alone again on the same connection: a real limit, reported.
        #expect(
            driver.receive(.pubrec(MQTTPubAck(packetIdentifier: 3, reasonCode: .quotaExceeded))) == [
                "publish 2 failed publishFailed"
            ])
    }

    @Test func otherRefusalsFailThePublishWithTheBrokersReason() {
        var driver = MachineDriver()
        _ = driver.connect()
        _ = driver.publish(1, qos: .atLeastOnce)
        _ = driver.publish(2, qos: .exactlyOnce)
        #expect(
            driver.receive(.puback(MQTTPubAck(packetIdentifier: 1, reasonCode: .notAuthorized))) == [
                "publish 1 failed publishFailed"
            ])
        #expect(
            driver.receive(.pubrec(MQTTPubAck(packetIdentifier: 2, reasonCode: .topicNameInvalid))) == [
                "publish 2 failed publishFailed"
            ])
        // Acknowledgements for nothing in flight change nothing (PUBREC is answered so the broker can finish).
        #expect(driver.receive(.puback(MQTTPubAck(packetIdentifier: 40))) == [])
        #expect(driver.receive(.pubcomp(MQTTPubAck(packetIdentifier: 41))) == [])
        #expect(driver.receive(.pubrec(MQTTPubAck(packetIdentifier: 42))) == ["PUBREL 42 0x92"])
    }

    // MARK: - QoS 2 answered with PUBACK

    @Test func qos2AnsweredWithPubackEndsWithQoSDowngradedAndFreesTheWindow() {
        var driver = MachineDriver {
            $0.protocolVersion = .v311
            $0.inflightLimitForMQTT311 = 1
        }
        _ = driver.connect()
        #expect(driver.publish(1, qos: .exactlyOnce) == ["PUBLISH m1 id=1"])
        #expect(driver.publish(2, qos: .exactlyOnce) == [])
        #expect(
            driver.receive(.puback(MQTTPubAck(packetIdentifier: 1))) == [
                "publish 1 failed qosDowngraded", "PUBLISH m2 id=2",
            ])
        #expect(driver.machine.inflight.count == 1)
    }

    // MARK: - Oversized messages

    @Test func anOversizedPublishIsSkippedAndAcknowledged() {
        var driver = MachineDriver()
        _ = driver.connect()
        #expect(driver.skipOversized(qos: .atLeastOnce, id: 7) == ["PUBACK 7 0x80"])
        #expect(driver.skipOversized(qos: .atMostOnce, id: nil) == [])
        #expect(driver.machine.oversizedMessagesSkipped == 2)
    }

    @Test func anOversizedQoS2PublishInMQTT311CompletesItsFlowWithoutDelivery() {
        var driver = MachineDriver { $0.protocolVersion = .v311 }
        _ = driver.connect()
        #expect(driver.skipOversized(qos: .exactlyOnce, id: 8) == ["PUBREC 8"])
        #expect(driver.receive(.pubrel(MQTTPubAck(packetIdentifier: 8))) == ["PUBCOMP 8"])
    }

    @Test func anAbandonedStreamEndsAndUnsubscribesTheFiltersNoOtherStreamUses() {
        var driver = MachineDriver()
        _ = driver.connect()
        _ = driver.subscribe(1, to: ["a/#", "shared/#"])
        _ = driver.receive(.suback(MQTTSubAck(packetIdentifier: 1, reasonCodes: [.grantedQoS1, .grantedQoS1])))
        _ = driver.subscribe(2, to: ["shared/#"])
        _ = driver.receive(.suback(MQTTSubAck(packetIdentifier: 2, reasonCodes: [.grantedQoS1])))
        #expect(driver.step { $0.streamAbandoned(1, &$1) } == ["finish stream 1 discard", "UNSUBSCRIBE 3", "timer 3"])
        // A message already on its way for the abandoned filter is acknowledged and dropped, not kept.
        #expect(driver.incoming("late", topic: "a/x", qos: .atLeastOnce, id: 9) == ["PUBACK 9"])
        // The filter the other stream still uses keeps delivering there.
        #expect(driver.incoming("s", topic: "shared/x", qos: .atLeastOnce, id: 10) == ["deliver s to 2", "PUBACK 10"])
        // The UNSUBACK of a request nobody waits for completes nothing.
        #expect(
            driver.receive(.unsuback(MQTTUnsubAck(packetIdentifier: 3, reasonCodes: [.success]))) == ["cancel timer 3"])
        // Abandoning again (or a stream already ended) does nothing.
        #expect(driver.step { $0.streamAbandoned(1, &$1) } == [])
    }
}
