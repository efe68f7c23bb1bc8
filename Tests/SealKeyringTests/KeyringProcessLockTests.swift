import Testing

@testable import Seal
@testable import SealKeyring

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Another process (util-linux `flock`, holding `<path>.lock` while it runs `sleep`) contends with our writers.
@Suite(.serialized) struct KeyringProcessLockTests {
    let dir = KeyringTempDir()
    var path: String { dir.file("keyring.json") }
    let credential = KeyringFixtures.passphrase()

    /// Starts `flock <lock> sleep <seconds>`; returns its pid once the lock is really held.
    func holdLockInAnotherProcess(seconds: String) throws -> pid_t {
        var pid: pid_t = 0
        let arguments = ["/usr/bin/flock", path + ".lock", "sleep", seconds]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Children inherit the signal mask: clear it so that SIGKILL/SIGTERM land.
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
        let rc = posix_spawn(&pid, arguments[0], nil, &attributes, &argv, environ)
        try #require(rc == 0, "posix_spawn flock failed: \(rc)")
        // Wait (bounded) until the child holds the lock.
        let probe = open(path + ".lock", O_RDWR | O_CREAT, 0o600)
        defer { close(probe) }
        for _ in 0..<500 {
            if flock(probe, LOCK_EX | LOCK_NB) != 0 { return pid }
            flock(probe, LOCK_UN)
            usleep(10_000)
        }
        Issue.record("the flock child never took the lock")
        return pid
    }

    func reap(_ pid: pid_t) {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }

    @Test func writerFailsWithLockedWhileAnotherProcessHoldsTheLock() throws {
        try KeyringFile(path: path).create(credential: credential, kdf: KeyringFixtures.kdf)
        let before = KeyringTestIO.readAll(path)
        let pid = try holdLockInAnotherProcess(seconds: "30")
        defer { reap(pid) }
        #expect {
            try KeyringFile(path: path, lockTimeout: .milliseconds(300)).update(credential: credential) {
                keyring throws(KeyringError) in try keyring.addKey()
            }
        } throws: { error in
            let error = error as! KeyringError
            return error.code == .locked && error.message.contains("locked")
        }
        #expect(KeyringTestIO.readAll(path) == before)
    }

    @Test func writerWaitsForAnotherProcessToReleaseTheLock() throws {
        try KeyringFile(path: path).create(credential: credential, kdf: KeyringFixtures.kdf)
        let pid = try holdLockInAnotherProcess(seconds: "0.5")
        var reaped = false
        defer { if !reaped { reap(pid) } }
        let kid = try KeyringFile(path: path, lockTimeout: .seconds(20)).update(credential: credential) {
            keyring throws(KeyringError) in try keyring.addKey()
        }
        // The child had exited (and released the lock) before our write went through.
        var status: Int32 = 0
        let waited = waitpid(pid, &status, WNOHANG)
        reaped = waited == pid
        #expect(waited == pid)
        #expect(try KeyringFile(path: path).load(credential: credential).key(kid) != nil)
    }
}
