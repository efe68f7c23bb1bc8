import Seal

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The keyring file format, version 1 (Specs/keyring.md): JSON with readable metadata, secrets sealed under the
/// KEK with their metadata as AAD, a keyed MAC and an unkeyed checksum over a canonical binary encoding.
package enum KeyringCodec {
    static let format = "mqtt-seal-keyring"
    static let version = 1
    static let canonicalPrefix = Array("mqtt-seal-keyring/1\u{0}".utf8)

    // MARK: Decode

    struct Decoded: Sendable {
        let keyring: Keyring
        let kek: KeyringUnlockedKEK
    }

    /// Parses, verifies and decrypts a keyring file. `cached` is reused when its header equals the file's.
    static func decode(
        _ bytes: [UInt8], credential: KeyringCredential, cached: KeyringUnlockedKEK? = nil
    ) throws(KeyringError) -> Decoded {
        let file = try parse(bytes)
        let canonical = canonicalBytes(file)
        guard KeyringSodium.constantTimeEqual(KeyringSodium.hash(canonical + file.mac), file.checksum) else {
            throw KeyringError(.corrupt, "keyring file is damaged: checksum mismatch")
        }
        let kek: KeyringUnlockedKEK
        if let cached, cached.header == file.kek {
            kek = cached
        } else {
            kek = try KeyringUnlockedKEK.unlock(header: file.kek, credential: credential)
        }
        guard KeyringSodium.constantTimeEqual(kek.checkValue, file.check) else {
            switch file.kek {
            case .argon2id: throw KeyringError(.wrongCredential, "wrong passphrase for this keyring")
            case .keyFile: throw KeyringError(.wrongCredential, "wrong key-encryption key for this keyring")
            }
        }
        guard KeyringSodium.constantTimeEqual(KeyringSodium.hash(canonical, key: kek.macKey), file.mac) else {
            throw KeyringError(.corrupt, "keyring file was modified without the key: MAC mismatch")
        }
        var keyring = Keyring()
        keyring.generation = file.generation
        for key in file.keys {
            var material: SealKey?
            if let sealed = key.secret {
                guard let opened = KeyringSodium.open(sealed, key: kek.secretKey, aad: aad(key)),
                    let built = try? SealKey(id: key.kid, suite: key.suite, secret: opened)
                else {
                    throw KeyringError(.corrupt, "secret of key \(KeyringID.format(key.kid)) does not decrypt")
                }
                material = built
            }
            keyring.keys.append(
                KeyringKey(
                    kid: key.kid, suite: key.suite, state: key.state, scope: key.scope, sealKey: material,
                    createdSeconds: key.created, notAfterSeconds: key.notAfter))
        }
        keyring.signers = file.signers
        for identity in file.identities {
            guard let seed = KeyringSodium.open(identity.secret, key: kek.secretKey, aad: aad(identity)),
                let signingKey = try? SigningKey(id: identity.sid, seed: seed),
                signingKey.verifyingKey.rawRepresentation == identity.publicKey
            else {
                throw KeyringError(.corrupt, "secret of identity \(KeyringID.format(identity.sid)) does not decrypt")
            }
            keyring.identities.append(
                KeyringIdentity(
                    sid: identity.sid, name: identity.name, signingKey: signingKey, scope: identity.scope,
                    createdSeconds: identity.created))
        }
        if let device = file.device {
            guard let secret = KeyringSodium.open(device.secret, key: kek.secretKey, aad: aad(device)),
                secret.count == 32
            else {
                throw KeyringError(.corrupt, "secret of device \(device.id) does not decrypt")
            }
            keyring.device = KeyringDevice(
                id: device.id, recipientPublicKey: device.recipientPublicKey, recipientSecret: secret,
                authorities: device.authorities, sequence: device.sequence, createdSeconds: device.created)
        }
        try keyring.validate()
        return Decoded(keyring: keyring, kek: kek)
    }

    // MARK: Encode

    static func encode(_ keyring: Keyring, kek: KeyringUnlockedKEK) -> [UInt8] {
        var file = FileModel(
            generation: keyring.generation, kek: kek.header, check: kek.checkValue, keys: [], signers: keyring.signers,
            identities: [], device: nil, mac: [], checksum: [])
        for key in keyring.keys {
            var entry = KeyModel(
                kid: key.kid, suite: key.suite, state: key.state, created: key.createdSeconds,
                notAfter: key.notAfterSeconds, scope: key.scope, secret: nil)
            if let material = key.sealKey {
                let aad = aad(entry)
                entry.secret = material.withUnsafeSecretBytes { KeyringSodium.seal($0, key: kek.secretKey, aad: aad) }
            }
            file.keys.append(entry)
        }
        for identity in keyring.identities {
            var entry = IdentityModel(
                sid: identity.sid, name: identity.name, publicKey: identity.publicKey, scope: identity.scope,
                created: identity.createdSeconds,
                secret: [])
            let aad = aad(entry)
            entry.secret = identity.signingKey.withUnsafeSeedBytes {
                KeyringSodium.seal($0, key: kek.secretKey, aad: aad)
            }
            file.identities.append(entry)
        }
        if let device = keyring.device {
            var entry = DeviceModel(
                id: device.id, recipientPublicKey: device.recipientPublicKey, authorities: device.authorities,
                sequence: device.sequence, created: device.createdSeconds, secret: [])
            let aad = aad(entry)
            entry.secret = device.recipientSecret.withUnsafeBytes {
                KeyringSodium.seal($0, key: kek.secretKey, aad: aad)
            }
            file.device = entry
        }
        let canonical = canonicalBytes(file)
        file.mac = KeyringSodium.hash(canonical, key: kek.macKey)
        file.checksum = KeyringSodium.hash(canonical + file.mac)
        return Array(render(file).utf8)
    }

    // MARK: Model of the file

    struct KeyModel {
        var kid: UInt32
        var suite: Suite
        var state: KeyState
        var created: Int64
        var notAfter: Int64?
        var scope: TopicScope
        var secret: [UInt8]?
    }

    struct IdentityModel {
        var sid: UInt32
        var name: String
        var publicKey: [UInt8]
        var scope: TopicScope
        var created: Int64
        var secret: [UInt8]
    }

    struct DeviceModel {
        var id: String
        var recipientPublicKey: [UInt8]
        var authorities: [[UInt8]]
        var sequence: UInt64
        var created: Int64
        var secret: [UInt8]
    }

    struct FileModel {
        var generation: UInt64
        var kek: KeyringKEKHeader
        var check: [UInt8]
        var keys: [KeyModel]
        var signers: [KeyringSigner]
        var identities: [IdentityModel]
        var device: DeviceModel?
        var mac: [UInt8]
        var checksum: [UInt8]
    }
}
