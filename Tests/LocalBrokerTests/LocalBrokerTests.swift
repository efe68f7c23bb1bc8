import Foundation
import LocalBroker
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Whether a process with this pid exists (zombies included).
private func processExists(_ pid: Int32) -> Bool {
    kill(pid, 0) == 0 || errno != ESRCH
}

/// Whether 127.0.0.1:port accepts a TCP connection.
private func accepts(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
}

@Suite(.serialized, .timeLimit(.minutes(2)))
struct LocalBrokerTests {
    @Test func startsAcceptsAndStopsWithoutLeavingAProcess() async throws {
        let broker = try await LocalBroker.start()
        let pid = try #require(broker.pid)
        #expect(processExists(pid))
        #expect(accepts(broker.plainPort))
        #expect(broker.tlsPort == nil)
        let status = await broker.stop()
        #expect(status == 0, "SIGTERM should end mosquitto cleanly, got \(status)")
        #expect(!processExists(pid))
        #expect(!broker.isRunning)
        #expect(!accepts(broker.plainPort))
        #expect(!FileManager.default.fileExists(atPath: broker.folder))
    }

    @Test func twoBrokersGetDifferentPorts() async throws {
        let first = try await LocalBroker.start()
        defer { first.stopNow() }
        let second = try await LocalBroker.start()
        defer { second.stopNow() }
        #expect(first.plainPort != second.plainPort)
        #expect(first.folder != second.folder)
    }

    @Test(arguments: [LocalBroker.Transport.plain, .tls, .mtls])
    func cliRoundTrip(transport: LocalBroker.Transport) async throws {
        let broker = try await LocalBroker.start(.init(tls: true))
        defer { broker.stopNow() }
        let options = LocalBroker.CLIOptions(transport: transport, qos: 1)
        let subscriber = try await broker.subscribeWithCLI(topic: "t/#", count: 1, options: options)
        let published = try await broker.publishWithCLI(topic: "t/x", message: "hello \(transport)", options: options)
        #expect(published.exitStatus == 0, "\(published.output)")
        let result = await subscriber.wait(timeout: .seconds(15))
        #expect(result.exitStatus == 0, "\(result.output)")
        #expect(subscriber.messages == [.init(topic: "t/x", payload: "hello \(transport)")])
    }

    @Test func tlsRefusesWrongCAMissingClientCertAndWrongHost() async throws {
        let broker = try await LocalBroker.start(.init(tls: true))
        defer { broker.stopNow() }
        let certificates = try #require(broker.certificates)
        let tlsPort = try #require(broker.tlsPort)
        let mtlsPort = try #require(broker.mtlsPort)
        let mismatchPort = try #require(broker.mismatchedHostPort)
        func publish(_ arguments: [String]) async throws -> LocalBroker.CLIResult {
            var options = LocalBroker.CLIOptions()
            options.extraArguments = arguments
            // Start from the plain arguments and override host and port (the last -h/-p win).
            return try await broker.publishWithCLI(topic: "t", message: "m", options: options)
        }
        let good = try await publish(["-h", "localhost", "-p", "\(tlsPort)", "--cafile", certificates.caFile])
        #expect(good.exitStatus == 0, "\(good.output)")
        let wrongCA = try await publish(["-h", "localhost", "-p", "\(tlsPort)", "--cafile", certificates.wrongCAFile])
        #expect(wrongCA.exitStatus != 0)
        let noClientCert = try await publish(["-h", "localhost", "-p", "\(mtlsPort)", "--cafile", certificates.caFile])
        #expect(noClientCert.exitStatus != 0)
        let wrongClientCert = try await publish([
            "-h", "localhost", "-p", "\(mtlsPort)", "--cafile", certificates.caFile,
            "--cert", certificates.wrongClientCert, "--key", certificates.wrongClientKey,
        ])
        #expect(wrongClientCert.exitStatus != 0)
        let mismatch = try await publish(["-h", "localhost", "-p", "\(mismatchPort)", "--cafile", certificates.caFile])
        #expect(mismatch.exitStatus != 0)
        let goodClientCert = try await publish([
            "-h", "localhost", "-p", "\(mtlsPort)", "--cafile", certificates.caFile,
            "--cert", certificates.clientCert, "--key", certificates.clientKey,
        ])
        #expect(goodClientCert.exitStatus == 0, "\(goodClientCert.output)")
    }

    @Test func passwordGoodAndBad() async throws {
        let broker = try await LocalBroker.start(.init(users: [.init("alice", password: "s3cret")]))
        defer { broker.stopNow() }
        let good = try await broker.publishWithCLI(
            topic: "t", message: "m", options: .init(username: "alice", password: "s3cret"))
        #expect(good.exitStatus == 0, "\(good.output)")
        let bad = try await broker.publishWithCLI(
            topic: "t", message: "m", options: .init(username: "alice", password: "wrong"))
        #expect(bad.exitStatus != 0)
        #expect(bad.output.lowercased().contains("not authori"), "\(bad.output)")
        let anonymous = try await broker.publishWithCLI(topic: "t", message: "m")
        #expect(anonymous.exitStatus != 0)
    }

    @Test func aclDeniesPublishAndSubscribe() async throws {
        let acl = LocalBroker.ACL(users: [
            "alice": [.init(.readwrite, "allowed/#"), .init(.read, "readonly/#")]
        ])
        let broker = try await LocalBroker.start(.init(users: [.init("alice", password: "pw")], acl: acl))
        defer { broker.stopNow() }
        let alice = LocalBroker.CLIOptions(qos: 1, username: "alice", password: "pw")
        let subscriber = try await broker.subscribeWithCLI(topic: "readonly/#", count: 1, options: alice)
        let allowedSub = try await broker.subscribeWithCLI(topic: "allowed/#", count: 1, options: alice)
        // Writing to a read-only topic is silently dropped by mosquitto; the allowed one arrives.
        _ = try await broker.publishWithCLI(topic: "readonly/x", message: "denied", options: alice)
        let allowed = try await broker.publishWithCLI(topic: "allowed/x", message: "ok", options: alice)
        #expect(allowed.exitStatus == 0, "\(allowed.output)")
        let allowedResult = await allowedSub.wait(timeout: .seconds(10))
        #expect(allowedResult.exitStatus == 0)
        #expect(allowedSub.messages.map(\.payload) == ["ok"])
        await subscriber.stop()
        #expect(subscriber.messages.isEmpty, "denied publish was delivered: \(subscriber.output)")

    }

    @Test(arguments: [("mqttv5", "135"), ("mqttv311", "128")])
    func dynamicSecurityRefusesSubscription(version: String, code: String) async throws {
        let broker = try await LocalBroker.start(.init(anonymousDeniedTopics: ["secret/#"]))
        defer { broker.stopNow() }
        let options = LocalBroker.CLIOptions(protocolVersion: version, qos: 1)
        let denied = try await broker.subscribeWithCLI(topic: "secret/x", count: 1, options: options)
        let result = await denied.wait(timeout: .seconds(10))
        #expect(result.output.contains("All subscription requests were denied"), "\(result.output)")
        #expect(result.output.contains("Subscribed (mid: 1): \(code)"), "\(result.output)")
        let allowed = try await broker.subscribeWithCLI(topic: "open/x", count: 1, options: options)
        _ = try await broker.publishWithCLI(topic: "open/x", message: "fine", options: options)
        _ = await allowed.wait(timeout: .seconds(10))
        #expect(allowed.messages.map(\.payload) == ["fine"])
    }

    @Test func restartKeepsPortsAndPersistedRetainedMessages() async throws {
        let broker = try await LocalBroker.start(.init(persistence: true))
        defer { broker.stopNow() }
        let firstPid = try #require(broker.pid)
        let port = broker.plainPort
        let retained = try await broker.publishWithCLI(
            topic: "keep", message: "kept", retain: true, options: .init(qos: 1))
        #expect(retained.exitStatus == 0)
        try await broker.restart()
        #expect(!processExists(firstPid))
        #expect(broker.plainPort == port)
        #expect(accepts(port))
        let subscriber = try await broker.subscribeWithCLI(topic: "keep", count: 1, options: .init(qos: 1))
        _ = await subscriber.wait(timeout: .seconds(10))
        #expect(subscriber.messages.map(\.payload) == ["kept"])
    }

    @Test func killIsACrashAndRestartWorksAfterIt() async throws {
        let broker = try await LocalBroker.start(.init(persistence: true))
        defer { broker.stopNow() }
        let pid = try #require(broker.pid)
        await broker.kill()
        #expect(!processExists(pid))
        #expect(!broker.isRunning)
        #expect(!accepts(broker.plainPort))
        try await broker.restart()
        #expect(broker.isRunning)
        #expect(accepts(broker.plainPort))
        await broker.stop()
    }

    @Test func restartAfterStopIsATypedError() async throws {
        let broker = try await LocalBroker.start()
        await broker.stop()
        let error = await #expect(throws: LocalBrokerError.self) { try await broker.restart() }
        #expect(error?.code == .invalidState)
    }
}
