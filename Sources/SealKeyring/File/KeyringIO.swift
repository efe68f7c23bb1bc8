#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Identity of a file version as seen by `stat`: a rename-over changes the inode, an in-place edit the size or
/// modification time.
package struct KeyringFileStamp: Sendable, Hashable {
    var device: UInt64
    var inode: UInt64
    var size: Int64
    var modifiedSeconds: Int64
    var modifiedNanoseconds: Int64
    var changedSeconds: Int64
    var changedNanoseconds: Int64
}

/// POSIX file handling for the keyring: permission-checked reads, the sidecar lock and atomic replacement.
package enum KeyringIO {
    /// Files larger than this are refused before they are read.
    static let maximumFileSize = 16 * 1024 * 1024

    static func stamp(of info: stat) -> KeyringFileStamp {
        #if canImport(Darwin)
        let modified = info.st_mtimespec
        let changed = info.st_ctimespec
        #else
        let modified = info.st_mtim
        let changed = info.st_ctim
        #endif
        return KeyringFileStamp(
            device: UInt64(truncatingIfNeeded: info.st_dev), inode: UInt64(truncatingIfNeeded: info.st_ino),
            size: Int64(info.st_size), modifiedSeconds: Int64(modified.tv_sec),
            modifiedNanoseconds: Int64(modified.tv_nsec), changedSeconds: Int64(changed.tv_sec),
            changedNanoseconds: Int64(changed.tv_nsec))
    }

    /// `stat` of the path, nil when it does not exist.
    static func stamp(path: String) throws(KeyringError) -> KeyringFileStamp? {
        var info = stat()
        guard stat(path, &info) == 0 else {
            let err = errno
            if err == ENOENT { return nil }
            throw KeyringError.io("stat", path: path, errno: err)
        }
        return stamp(of: info)
    }

    /// Refuses anything but a regular file without group or other permission bits.
    static func checkSecretFileMode(_ info: stat, path: String, what: String) throws(KeyringError) {
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw KeyringError(.permissions, "\(what) \(path) is not a regular file")
        }
        let mode = info.st_mode & 0o777
        if mode & 0o077 != 0 {
            throw KeyringError(
                .permissions,
                "\(what) \(path) is accessible by group or others (mode \(String(mode, radix: 8))); "
                    + "run: chmod 600 \(path)")
        }
    }

    /// Reads a whole secret-bearing file after checking that it is a regular file with mode 0600 (or stricter).
    package static func readSecretFile(path: String, what: String) throws(KeyringError) -> ([UInt8], KeyringFileStamp) {
        // O_NONBLOCK: opening a FIFO for reading would otherwise block until a writer appears (while a caller
        // may hold the keyring lock); the regular-file check below refuses it. Regular files ignore the flag.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            let err = errno
            if err == ENOENT { throw KeyringError(.notFound, "\(what) \(path) does not exist") }
            if err == EACCES { throw KeyringError(.permissions, "\(what) \(path) is not readable by this user") }
            throw KeyringError.io("open", path: path, errno: err)
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw KeyringError.io("fstat", path: path, errno: errno) }
        try checkSecretFileMode(info, path: path, what: what)
        guard let size = Int(exactly: info.st_size), size <= maximumFileSize else {
            throw KeyringError(.corrupt, "\(what) \(path) is larger than \(maximumFileSize) bytes")
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(size)
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw KeyringError.io("read", path: path, errno: errno)
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
            guard bytes.count <= maximumFileSize else {
                throw KeyringError(.corrupt, "\(what) \(path) is larger than \(maximumFileSize) bytes")
            }
        }
        return (bytes, stamp(of: info))
    }

    /// Runs `body` holding an exclusive `flock` on `<path>.lock` (created 0600 if needed). Waits up to `timeout`,
    /// then throws `locked`.
    package static func withLock<R>(
        path: String, timeout: Duration, _ body: () throws(KeyringError) -> R
    ) throws(KeyringError) -> R {
        let lockPath = path + ".lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw KeyringError.io("open lock file", path: lockPath, errno: errno) }
        defer { close(fd) }  // closing the descriptor releases the lock
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let err = errno
            guard err == EWOULDBLOCK || err == EINTR else {
                throw KeyringError.io("flock", path: lockPath, errno: err)
            }
            guard clock.now < deadline else {
                throw KeyringError(
                    .locked, "keyring \(path) is locked by another writer (waited \(timeout)); try again")
            }
            usleep(5_000)
        }
        removeStaleTemporaries(of: path)
        return try body()
    }

    /// Removes `.<name>.tmp-*` files a writer killed mid-write left behind. Only called under the lock, when no
    /// other writer of this keyring can be between creating and renaming its temporary file.
    package static func removeStaleTemporaries(of path: String) {
        let directory = directoryName(path)
        let prefix = "." + baseName(path) + ".tmp-"
        guard let dir = opendir(directory) else { return }
        defer { closedir(dir) }
        var stale: [String] = []
        while let entry = readdir(dir) {
            let name = entryName(UnsafeRawPointer(entry))
            if name.hasPrefix(prefix) { stale.append(name) }
        }
        for name in stale { unlink(directory + "/" + name) }
    }

    /// The name of a directory entry, read in place up to its NUL. Copying `entry.pointee` would read a whole
    /// `struct dirent`, but records are only `d_reclen` bytes long: the last one of a buffer can end at an unmapped
    /// page (seen as a crash in a folder of a few hundred device keyrings).
    package static func entryName(_ entry: UnsafeRawPointer) -> String {
        let offset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
        return String(cString: (entry + offset).assumingMemoryBound(to: CChar.self))
    }

    /// Replaces `path` atomically: a temporary file in the same directory (O_EXCL, 0600) is written, fsynced and
    /// renamed over `path`, then the directory is fsynced. A crash leaves either the old or the new file.
    package static func atomicWrite(path: String, bytes: [UInt8], exclusive: Bool = false) throws(KeyringError) {
        let directory = directoryName(path)
        let base = baseName(path)
        let suffix = KeyringSodium.randomBytes(8).map { String($0, radix: 16) }.joined()
        let temporary = directory + "/." + base + ".tmp-" + suffix
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw KeyringError.io("create temporary file", path: temporary, errno: errno) }
        var renamed = false
        defer {
            if !renamed { unlink(temporary) }
        }
        do {
            defer { close(fd) }
            guard fchmod(fd, 0o600) == 0 else { throw KeyringError.io("chmod", path: temporary, errno: errno) }
            var offset = 0
            while offset < bytes.count {
                let count = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
                if count < 0 {
                    if errno == EINTR { continue }
                    throw KeyringError.io("write", path: temporary, errno: errno)
                }
                offset += count
            }
            guard fsync(fd) == 0 else { throw KeyringError.io("fsync", path: temporary, errno: errno) }
        }
        if exclusive {
            // create: never replace an existing keyring.
            guard link(temporary, path) == 0 else {
                let err = errno
                if err == EEXIST { throw KeyringError(.alreadyExists, "keyring \(path) already exists") }
                throw KeyringError.io("link", path: path, errno: err)
            }
            unlink(temporary)
            renamed = true
        } else {
            guard rename(temporary, path) == 0 else { throw KeyringError.io("rename", path: path, errno: errno) }
            renamed = true
        }
        let dirFD = open(directory, O_RDONLY | O_CLOEXEC | O_DIRECTORY)
        guard dirFD >= 0 else { throw KeyringError.io("open directory", path: directory, errno: errno) }
        defer { close(dirFD) }
        guard fsync(dirFD) == 0 else { throw KeyringError.io("fsync directory", path: directory, errno: errno) }
    }

    static func directoryName(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    static func baseName(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }
}
