// libFuzzer entry point (placeholder until the owning issue fills in the body of `fuzzOne`).
import CFuzzer

#if canImport(Glibc)
import Glibc
#endif

/// Feeds one input to the code under test; libFuzzer calls it millions of times.
let fuzzOne: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt = { data, size in
    _ = UnsafeRawBufferPointer(start: data, count: size)
    return 0
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzOne))
