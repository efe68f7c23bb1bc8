import Seal

extension KeyringCodec {
    // MARK: Canonical encoding (checksum, MAC, AAD)

    package struct Canonical {
        package var bytes: [UInt8] = []
        package init() {}
        package mutating func u8(_ value: UInt8) { bytes.append(value) }
        package mutating func u32(_ value: UInt32) {
            withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
        }
        package mutating func u64(_ value: UInt64) {
            withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
        }
        package mutating func i64(_ value: Int64) { u64(UInt64(bitPattern: value)) }
        package mutating func data(_ value: [UInt8]) {
            u32(UInt32(value.count))
            bytes.append(contentsOf: value)
        }
        package mutating func string(_ value: String) { data(Array(value.utf8)) }
        package mutating func optional(_ value: Int64?) {
            if let value {
                u8(1)
                i64(value)
            } else {
                u8(0)
            }
        }
        package mutating func optionalString(_ value: String?) {
            if let value {
                u8(1)
                string(value)
            } else {
                u8(0)
            }
        }
        package mutating func scope(_ scope: TopicScope) {
            u32(UInt32(scope.filters.count))
            for filter in scope.filters { string(filter.string) }
        }
    }

    static func canonicalBytes(_ file: FileModel) -> [UInt8] {
        var out = Canonical()
        out.bytes.append(contentsOf: canonicalPrefix)
        out.u64(file.generation)
        switch file.kek {
        case .argon2id(let parameters, let salt):
            out.u8(1)
            out.u64(parameters.opsLimit)
            out.u64(parameters.memLimit)
            out.data(salt)
        case .keyFile:
            out.u8(2)
        }
        out.data(file.check)
        out.u32(UInt32(file.keys.count))
        for key in file.keys {
            out.bytes.append(contentsOf: aad(key))
            out.string(key.state.rawValue)
            if let secret = key.secret {
                out.u8(1)
                out.data(secret)
            } else {
                out.u8(0)
            }
        }
        out.u32(UInt32(file.signers.count))
        for signer in file.signers {
            out.u32(signer.sid)
            out.data(signer.publicKey)
            out.string(signer.state.rawValue)
            out.scope(signer.scope)
            out.optionalString(signer.name)
        }
        out.u32(UInt32(file.identities.count))
        for identity in file.identities {
            out.bytes.append(contentsOf: aad(identity))
            out.data(identity.secret)
        }
        // The device section is appended only when present, so keyrings without one keep their bytes (and MACs).
        if let device = file.device {
            out.bytes.append(contentsOf: aad(device))
            out.u64(device.sequence)
            out.u32(UInt32(device.authorities.count))
            for authority in device.authorities { out.data(authority) }
            out.data(device.secret)
        }
        return out.bytes
    }

    /// AAD of a key's secret: its immutable metadata.
    static func aad(_ key: KeyModel) -> [UInt8] {
        var out = Canonical()
        out.string("key")
        out.u32(key.kid)
        out.string(key.suite.rawValue)
        out.i64(key.created)
        out.optional(key.notAfter)
        out.scope(key.scope)
        return out.bytes
    }

    /// AAD of an identity's seed: its immutable metadata.
    static func aad(_ identity: IdentityModel) -> [UInt8] {
        var out = Canonical()
        out.string("identity")
        out.u32(identity.sid)
        out.string(identity.name)
        out.data(identity.publicKey)
        out.i64(identity.created)
        out.scope(identity.scope)
        return out.bytes
    }

    /// AAD of the device's X25519 secret: its immutable metadata.
    static func aad(_ device: DeviceModel) -> [UInt8] {
        var out = Canonical()
        out.string("device")
        out.string(device.id)
        out.data(device.recipientPublicKey)
        out.i64(device.created)
        return out.bytes
    }
}
