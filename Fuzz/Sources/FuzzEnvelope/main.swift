// libFuzzer entry point: arbitrary bytes into `Opener.open`, for every suite and mode the keys allow.
// Every input must be rejected with `SealError` code `.rejected` (or, by astronomically unlikely luck, open);
// anything else — a crash, a trap, another error code — is a finding. Run with `Scripts/fuzz-envelope SECONDS`.
import CFuzzer
import Seal

#if canImport(Glibc)
import Glibc
#endif

/// What every input is opened with. Static storage, so LeakSanitizer sees it as reachable at exit.
enum Target {
    /// Keys whose ids the fuzzer can hit: small ids, so the key-lookup paths past the header are reached.
    static let keys: KeySet = {
        let secret = [UInt8](repeating: 0x5A, count: 32)
        let signer = try! SigningKey(id: 4, seed: [UInt8](repeating: 0x33, count: 32))
        return KeySet(
            keys: [
                try! SealKey(id: 1, suite: .xchacha20poly1305, bytes: secret),
                try! SealKey(id: 2, suite: .aes256gcm, bytes: secret),
                try! SealKey(id: 3, suite: .hmacSHA256, bytes: secret),
            ],
            signers: [signer.verifyingKey])
    }()

    /// A fixed clock, so the freshness checks behave the same on every run.
    static let opener = Opener(keys: keys, replayGuard: ReplayGuard(clock: { 1_800_000_000_000 }))
}

/// Feeds one input to the opener; the first byte chooses the topic, context and retained flag.
let fuzzOne: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt = { data, size in
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let selector = bytes.first ?? 0
    let topic = selector & 1 == 0 ? "a/b" : ""
    let context: [UInt8]? = selector & 2 == 0 ? nil : [1, 2, 3]
    do throws(SealError) {
        _ = try Target.opener.open(Array(bytes), topic: topic, context: context, retained: selector & 4 != 0)
    } catch {
        if error.code != SealError.Code.rejected {
            fatalError("unexpected error code \(error.code) for untrusted input: \(error)")
        }
    }
    return 0
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzOne))
