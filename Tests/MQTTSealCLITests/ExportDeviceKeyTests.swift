import Foundation
import Seal
import SealKeyring
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `mqtt-seal keys export-device-key`: the key for a SealLite device, as hex or as a C header that a C compiler
/// takes, and every refusal.
@Suite("mqtt-seal keys export-device-key")
struct ExportDeviceKeyTests {
    /// The key's secret as the library holds it (an independent check of what the CLI wrote).
    func secretHex(_ workspace: KeyringWorkspace, _ kid: String) throws -> String {
        let key = try #require(try workspace.load().key(KeyringID.parse(kid))?.sealKey)
        return key.withUnsafeSecretBytes { bytes in bytes.map { String(format: "%02x", $0) }.joined() }
    }

    @Test func hexIsTheKeyAloneAndTheDetailsGoToStderr() throws {
        let workspace = try KeyringWorkspace()
        let kid = try workspace.addPrimary(["--suite", "hmac-sha256", "--topics", "plant/7/#"])
        let result = try workspace.keys(["export-device-key", kid, "--topics", "plant/7/#", "--format", "hex"])
        #expect(result.status == 0, "\(result.err)")
        #expect(result.out == (try secretHex(workspace, kid)) + "\n")
        #expect(result.err.contains("key \(kid): suite hmac-sha256, state primary, topics plant/7/#"))
    }

    @Test func theCHeaderCompilesAndHoldsTheKey() throws {
        let workspace = try KeyringWorkspace()
        // A device on two topics, a key on one of them: within. A "*/" in a topic does not end the header's comment.
        let kid = try workspace.addPrimary(["--topics", "plant/7/telemetry*/x"])
        let header = workspace.path("primary_key.h")
        let result = try workspace.keys([
            "export-device-key", kid, "--topics", "plant/7/telemetry*/x,plant/7/commands", "--name", "primary", "-o",
            header,
        ])
        #expect(result.status == 0, "\(result.err)")
        #expect(result.out.isEmpty)
        var info = stat()
        #expect(stat(header, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
        let text = try String(contentsOfFile: header, encoding: .utf8)
        #expect(text.contains("#define SEAL_PRIMARY_KEY_ID 0x\(kid)UL"))
        #expect(text.contains("#define SEAL_PRIMARY_KEY_SUITE \"xchacha20poly1305\""))

        // A C program that includes it prints the kid and the key.
        let source = workspace.path("print_key.c")
        try """
        #include <stdio.h>
        #include "primary_key.h"
        int main(void) {
            printf("%08lx ", (unsigned long)SEAL_PRIMARY_KEY_ID);
            for (unsigned i = 0; i < sizeof seal_primary_key; i++) printf("%02x", seal_primary_key[i]);
            printf(" %s\\n", SEAL_PRIMARY_KEY_SUITE);
            return 0;
        }
        """.write(toFile: source, atomically: true, encoding: .utf8)
        let binary = workspace.path("print_key")
        let compiled = try run("/usr/bin/env", ["cc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-o", binary, source])
        #expect(compiled.status == 0, "\(compiled.output)")
        let printed = try run(binary, [])
        #expect(printed.output == "\(kid) \(try secretHex(workspace, kid)) xchacha20poly1305\n")

        // An existing file is never overwritten.
        let again = try workspace.keys(["export-device-key", kid, "--topics", "plant/7/#", "-o", header])
        #expect(again.status == 73)
        #expect(again.err == "mqtt-seal: cannot create \(header): it already exists\n")
        #expect(try String(contentsOfFile: header, encoding: .utf8) == text)
    }

    @Test func aKeyBeyondTheDeviceTopicsIsRefused() throws {
        let workspace = try KeyringWorkspace()
        let kid = try workspace.addPrimary(["--topics", "plant/#"])
        let result = try workspace.keys(["export-device-key", kid, "--topics", "plant/7/#"])
        #expect(result.status == 65)
        #expect(result.out.isEmpty)
        #expect(
            result.err
                == "mqtt-seal: key \(kid) covers plant/# outside --topics plant/7/#: a device holding it could seal "
                + "for those topics; add a key on the device's topics (keys add --topics ...)\n")
    }

    @Test func signingIdentitiesUnknownAndDisabledKeysAreRefused() throws {
        let workspace = try KeyringWorkspace()
        let created = try workspace.keys(["new-signer", "gateway", "--topics", "plant/#"])
        try #require(created.status == 0, "\(created.err)")
        let sid = try KeyringWorkspace.printedID(created)
        let signer = try workspace.keys(["export-device-key", sid, "--topics", "plant/#"])
        #expect(signer.status == 65)
        #expect(signer.err.hasPrefix("mqtt-seal: \(sid) is a signing identity"))
        #expect(signer.out.isEmpty)

        let unknown = try workspace.keys(["export-device-key", "0badc0de", "--topics", "plant/#"])
        #expect(unknown.status == 65)
        #expect(unknown.err == "mqtt-seal: no key 0badc0de in the keyring\n")

        let kid = try workspace.addKey(["--topics", "plant/#"])
        try #require(try workspace.keys(["disable", kid]).status == 0)
        let disabled = try workspace.keys(["export-device-key", kid, "--topics", "plant/#"])
        #expect(disabled.status == 65)
        #expect(disabled.err == "mqtt-seal: key \(kid) is disabled: it neither seals nor opens\n")
        #expect(disabled.out.isEmpty)
    }

    @Test func badArgumentsAreUsageErrors() throws {
        let workspace = try KeyringWorkspace()
        let kid = try workspace.addPrimary(["--topics", "plant/#"])
        let name = try workspace.keys(["export-device-key", kid, "--topics", "plant/#", "--name", "Primary-1"])
        #expect(name.status == 64)
        #expect(name.err.contains("--name must be 1-32 of a-z 0-9 _, starting with a letter"))
        let format = try workspace.keys(["export-device-key", kid, "--topics", "plant/#", "--format", "pem"])
        #expect(format.status == 64)
        let topics = try workspace.keys(["export-device-key", kid, "--topics", "plant/#/x"])
        #expect(topics.status == 65)
        #expect(topics.err.hasPrefix("mqtt-seal: --topics: "))
    }

    /// Runs a tool (the C compiler, the compiled program); stdout and stderr together.
    func run(_ path: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
