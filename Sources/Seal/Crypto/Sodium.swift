import CSodium

/// libsodium must be initialised once before use; `sodium_init` is idempotent and thread-safe,
/// and a Swift global is initialised exactly once, lazily.
private let sodiumReady: Bool = sodium_init() >= 0

/// Makes sure libsodium is initialised; throws if it cannot be.
@inline(__always)
func ensureSodium() throws(SealError) {
    guard sodiumReady else { throw SealError(.cryptoFailure, .library, "sodium_init failed") }
}

/// Constant-time equality of two byte regions (`sodium_memcmp`). Different lengths are unequal
/// (the length itself is public).
func constantTimeEquals(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    guard a.count == b.count else { return false }
    guard a.count > 0, let pa = a.baseAddress, let pb = b.baseAddress else { return true }
    return sodium_memcmp(pa, pb, a.count) == 0
}

/// A fixed-size secret byte buffer that is wiped (`sodium_memzero`) when it is released.
///
/// Immutable after initialisation, hence safe to share between threads.
package final class SecureBytes: @unchecked Sendable {
    private let storage: UnsafeMutableRawBufferPointer

    /// Copies `bytes` into fresh storage.
    package init(copying bytes: UnsafeRawBufferPointer) {
        storage = .allocate(byteCount: max(bytes.count, 1), alignment: 16)
        if let base = bytes.baseAddress, bytes.count > 0 {
            storage.baseAddress!.copyMemory(from: base, byteCount: bytes.count)
        }
        count = bytes.count
    }

    /// Fresh storage of `count` bytes filled by `body`.
    package init(count: Int, _ body: (UnsafeMutableRawBufferPointer) -> Void) {
        storage = .allocate(byteCount: max(count, 1), alignment: 16)
        self.count = count
        body(UnsafeMutableRawBufferPointer(rebasing: storage[0..<count]))
    }

    /// `count` bytes from libsodium's CSPRNG.
    package convenience init(randomCount count: Int) {
        self.init(count: count) { buffer in
            if let base = buffer.baseAddress, buffer.count > 0 { randombytes_buf(base, buffer.count) }
        }
    }

    /// Number of secret bytes.
    package let count: Int

    /// Read access to the secret bytes. Do not let the pointer escape.
    @inline(__always)
    package func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(rebasing: storage[0..<count]))
    }

    /// Calls `body` with the address of the secret bytes, for a C call. The address is valid only inside `body`:
    /// there is deliberately no property that hands it out.
    @inline(__always)
    package func withUnsafePointer<R, E: Error>(_ body: (UnsafePointer<UInt8>) throws(E) -> R) throws(E) -> R {
        try body(UnsafePointer(storage.baseAddress!.assumingMemoryBound(to: UInt8.self)))
    }

    /// Constant-time comparison with another secret.
    package func constantTimeEquals(_ other: SecureBytes) -> Bool {
        withUnsafeBytes { a in other.withUnsafeBytes { b in Seal.constantTimeEquals(a, b) } }
    }

    deinit {
        sodium_memzero(storage.baseAddress!, storage.count)
        storage.deallocate()
    }
}
