/**
 * @file seallite.h
 * SealLite: the mqtt-seal envelope v1 (Specs/envelope.md) in C99 for constrained senders.
 *
 * - No heap, no OS calls, no global mutable state. Every buffer belongs to the caller.
 * - The application supplies the time (Unix milliseconds, an argument of every call), the randomness
 *   (::seallite_random_fn) and the storage of the sequence counter (::seallite_persist_fn).
 * - Mode `mac` (HMAC-SHA256) uses SealLite's own SHA-256: building with `-DSEALLITE_HMAC_ONLY` gives
 *   a reader and writer that need no library at all. The AEAD and Ed25519 modes go through a
 *   ::seallite_backend (libsodium: seallite_sodium.h).
 * - Every rejection of received bytes returns the one code ::SEALLITE_REJECTED; the check that failed
 *   is in seallite_opener::last_reason (for local logs only, never send it to a peer).
 *
 * **Clock.** A sender needs a wall clock within the reader's freshness window: readers reject messages
 * more than `max_age_ms` (default 60 s) old or more than `max_future_skew_ms` (default 10 s) ahead of
 * their own clock. Synchronise the clock (SNTP, the broker, a GPS) before sealing.
 *
 * **Sequence numbers.** `seq = max(now_ms << 16, last + 1)`, strictly increasing (spec 4.1). To keep it
 * increasing across a reboot whose clock came back wrong, SealLite uses the OSCORE skip-ahead rule
 * (RFC 8613, appendix B.1.1): see ::seallite_sequence.
 */
#ifndef SEALLITE_H
#define SEALLITE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @name Envelope constants (Specs/envelope.md, sections 2 and 8) */
/**@{*/
#define SEALLITE_HEADER_BYTES 17u
#define SEALLITE_KEY_BYTES 32u
#define SEALLITE_PUBLIC_KEY_BYTES 32u
#define SEALLITE_SECRET_KEY_BYTES 64u
#define SEALLITE_SIGNATURE_BYTES 64u
#define SEALLITE_MAC_BYTES 32u
#define SEALLITE_MAX_TOPIC_BYTES 65535u
#define SEALLITE_MAX_ENVELOPE_BYTES 268435455u
#define SEALLITE_MAX_PAYLOAD_BYTES 268435346u
/** A sequence number step of `ms` milliseconds (the counter lives in the low 16 bits). */
#define SEALLITE_SEQ_MS(ms) ((uint64_t)(ms) << 16)
/** seallite_policy::retained_max_age_ms that accepts retained messages of any age. */
#define SEALLITE_UNLIMITED UINT64_MAX
/**@}*/

/** Status codes: 0 is success, every failure is negative. */
typedef enum seallite_status {
    SEALLITE_OK = 0,
    /** Received bytes were rejected, whatever check failed (see ::seallite_reason). */
    SEALLITE_REJECTED = -1,
    /** A local argument is out of range: payload, topic or context above the limits, a NULL pointer. */
    SEALLITE_INVALID_ARGUMENT = -2,
    /** Key material is unusable: wrong suite for its role, an invalid Ed25519 public key. */
    SEALLITE_INVALID_KEY = -3,
    /** The keys given to a sealer cannot seal in any mode (an HMAC key with a signer, sid != signer id). */
    SEALLITE_INVALID_CONFIGURATION = -4,
    /** An output or scratch buffer is smaller than the size functions report; nothing was written. */
    SEALLITE_BUFFER_TOO_SMALL = -5,
    /** The suite or mode is not available in this build or on this CPU (AES-256-GCM without AES-NI). */
    SEALLITE_UNSUPPORTED = -6,
    /** The backend failed unexpectedly. */
    SEALLITE_CRYPTO_FAILURE = -7,
    /** The random callback failed; nothing usable was written. */
    SEALLITE_RANDOM_FAILED = -8,
    /** The persist callback failed: the sequence number was not reserved, nothing was sealed. */
    SEALLITE_STORAGE_FAILED = -9
} seallite_status;

/** Why received bytes were rejected (Specs/envelope.md, section 7). For logs and counters only. */
typedef enum seallite_reason {
    SEALLITE_REASON_NONE = 0,
    SEALLITE_REASON_MALFORMED,
    SEALLITE_REASON_UNKNOWN_KEY,
    SEALLITE_REASON_MODE_NOT_ALLOWED,
    SEALLITE_REASON_AUTHENTICATION_FAILED,
    SEALLITE_REASON_UNTRUSTED_SIGNER,
    SEALLITE_REASON_BAD_SIGNATURE,
    SEALLITE_REASON_REPLAYED,
    SEALLITE_REASON_OUTSIDE_WINDOW,
    SEALLITE_REASON_STALE,
    SEALLITE_REASON_FUTURE,
    SEALLITE_REASON_BAD_TOPIC
} seallite_reason;

/** The reason's name as the Swift library spells it ("malformed", "unknownKey", ...); "none" for 0. */
const char *seallite_reason_name(seallite_reason reason);

/** A key's suite: fixed when the key is made, never on the wire. */
typedef enum seallite_suite {
    SEALLITE_SUITE_XCHACHA20POLY1305 = 1,
    SEALLITE_SUITE_AES256GCM = 2,
    SEALLITE_SUITE_HMAC_SHA256 = 3,
    SEALLITE_SUITE_ED25519 = 4
} seallite_suite;

/** The envelope mode (low three bits of byte 0). */
typedef enum seallite_mode {
    SEALLITE_MODE_ENCRYPT = 1,
    SEALLITE_MODE_ENCRYPT_SIGN = 2,
    SEALLITE_MODE_MAC = 3,
    SEALLITE_MODE_SIGN = 4
} seallite_mode;

/** A symmetric key: XChaCha20-Poly1305, AES-256-GCM or HMAC-SHA256, 32 bytes. */
typedef struct seallite_key {
    uint32_t kid;
    seallite_suite suite;
    uint8_t bytes[SEALLITE_KEY_BYTES];
} seallite_key;

/** A trusted signer: an Ed25519 public key under its key id (the `sid` of signed envelopes). */
typedef struct seallite_signer {
    uint32_t sid;
    uint8_t public_key[SEALLITE_PUBLIC_KEY_BYTES];
} seallite_signer;

/** An Ed25519 signing key: the 64-byte secret key (seed || public key, libsodium's layout). */
typedef struct seallite_signing_key {
    uint32_t id;
    uint8_t secret_key[SEALLITE_SECRET_KEY_BYTES];
} seallite_signing_key;

/**
 * The cryptography SealLite does not implement itself. Every function returns ::SEALLITE_OK, or
 * ::SEALLITE_UNSUPPORTED / ::SEALLITE_CRYPTO_FAILURE; `aead_open` and `verify` return ::SEALLITE_REJECTED
 * when the tag or signature does not verify. Any member may be NULL (the feature is then unsupported).
 */
typedef struct seallite_backend {
    /** Passed as the first argument of every function. */
    void *ctx;
    /** Writes ciphertext || 16-byte tag (`m_len + 16` bytes) at `c`. Nonce: 24 bytes (XChaCha) or 12 (AES). */
    int (*aead_seal)(void *ctx, seallite_suite suite, const uint8_t key[SEALLITE_KEY_BYTES], const uint8_t *nonce,
                     const uint8_t *ad, size_t ad_len, const uint8_t *m, size_t m_len, uint8_t *c);
    /** Verifies and decrypts `c` (`c_len` >= 16 bytes, tag last) into `c_len - 16` bytes at `m`. */
    int (*aead_open)(void *ctx, seallite_suite suite, const uint8_t key[SEALLITE_KEY_BYTES], const uint8_t *nonce,
                     const uint8_t *ad, size_t ad_len, const uint8_t *c, size_t c_len, uint8_t *m);
    /** Pure Ed25519 (RFC 8032) detached signature of `m`. */
    int (*sign)(void *ctx, const uint8_t secret_key[SEALLITE_SECRET_KEY_BYTES], const uint8_t *m, size_t m_len,
                uint8_t signature[SEALLITE_SIGNATURE_BYTES]);
    /** Verifies a detached Ed25519 signature. */
    int (*verify)(void *ctx, const uint8_t public_key[SEALLITE_PUBLIC_KEY_BYTES],
                  const uint8_t signature[SEALLITE_SIGNATURE_BYTES], const uint8_t *m, size_t m_len);
    /** Derives the key pair of a 32-byte seed. */
    int (*seed_keypair)(void *ctx, const uint8_t seed[32], uint8_t public_key[SEALLITE_PUBLIC_KEY_BYTES],
                        uint8_t secret_key[SEALLITE_SECRET_KEY_BYTES]);
    /** ::SEALLITE_OK when `public_key` is a valid, canonical point of prime order (spec 5, step 4). */
    int (*check_public_key)(void *ctx, const uint8_t public_key[SEALLITE_PUBLIC_KEY_BYTES]);
} seallite_backend;

/** Fills `len` bytes at `out` from a CSPRNG; returns 0 on success. */
typedef int (*seallite_random_fn)(void *ctx, uint8_t *out, size_t len);

/** Durably stores `bound` (every sequence number handed out is below it); returns 0 once it is stored. */
typedef int (*seallite_persist_fn)(void *ctx, uint64_t bound);

/**
 * The sealer's sequence counter, with the OSCORE skip-ahead rule for storage.
 *
 * Without a persist callback the counter lives in RAM only: `seq = max(now_ms << 16, last + 1)`, which
 * survives a reboot as long as the clock does not go back.
 *
 * With one, SealLite keeps `reserved`, a bound above every value handed out, in storage. Before it hands
 * out a value at or above `reserved` it calls `persist(ctx, seq + step)` and only uses the value once that
 * call returned 0; so storage is written at most once per `step` sequence units of progress. After a
 * reboot, pass the stored bound to seallite_sequence_init(): the counter restarts at that bound and can
 * never hand out a value it used before, even if the clock came back behind.
 *
 * Choose `step` no larger than half the reader's future skew (`SEALLITE_SEQ_MS(5000)` for the default
 * 10 s): after a quick reboot the counter may run up to `step` ahead of the clock, and a reader rejects
 * timestamps more than the skew ahead of its own clock.
 */
typedef struct seallite_sequence {
    uint64_t last;            /**< The last value handed out (0: none yet). */
    uint64_t reserved;        /**< Every value handed out is below this (only with `persist`). */
    uint64_t step;            /**< How far ahead to reserve, in sequence units (SEALLITE_SEQ_MS). */
    seallite_persist_fn persist; /**< NULL: RAM only. */
    void *persist_ctx;
} seallite_sequence;

/** Starts the counter at `persisted_bound` (0 on first boot) with the given storage hook (may be NULL). */
void seallite_sequence_init(seallite_sequence *sequence, uint64_t persisted_bound, uint64_t step,
                            seallite_persist_fn persist, void *persist_ctx);

/** The next value for `now_ms`; calls the persist hook when the reserved bound is reached. */
int seallite_sequence_next(seallite_sequence *sequence, uint64_t now_ms, uint64_t *seq);

/**
 * Seals envelopes for one key (or one signing key) and one sender id. Fill it with
 * seallite_sealer_init(); `scratch` is the caller's work area for the AEAD and signed modes
 * (seallite_sealed_size() reports how much), unused in mode mac.
 */
typedef struct seallite_sealer {
    seallite_mode mode;
    uint32_t kid;
    uint32_t sid;
    const seallite_key *key;                 /**< NULL in mode sign. */
    const seallite_signing_key *signing_key; /**< Modes encrypt+sign and sign. */
    const seallite_backend *backend;         /**< NULL is fine in mode mac. */
    seallite_random_fn random;
    void *random_ctx;
    seallite_sequence sequence;
    uint8_t *scratch;
    size_t scratch_len;
} seallite_sealer;

/**
 * Prepares a sealer. The mode follows from the keys as in Swift's `Sealer`: an AEAD key alone is
 * encrypt, with a signing key encrypt+sign; an HMAC key is mac; no key and a signing key is sign.
 * In signed modes `sid` must equal the signing key's id. The key structs are referenced, not copied.
 * The sequence starts in RAM-only mode; call seallite_sequence_init() on `sealer->sequence` to add storage.
 */
int seallite_sealer_init(seallite_sealer *sealer, const seallite_key *key, const seallite_signing_key *signing_key,
                         uint32_t sid, const seallite_backend *backend, seallite_random_fn random, void *random_ctx);

/** The envelope size for a payload (`*envelope_len`) and the scratch the sealer needs (`*scratch_len`). */
int seallite_sealed_size(const seallite_sealer *sealer, size_t payload_len, size_t topic_len, size_t context_len,
                         size_t *envelope_len, size_t *scratch_len);

/**
 * Seals `payload` for `topic` (the concrete PUBLISH topic) with an optional `context` (NULL/0 for none)
 * into `out`. `retain`: non-zero when publishing with the MQTT retain flag. `out` must not overlap the
 * inputs. Refuses (::SEALLITE_BUFFER_TOO_SMALL, nothing written, no sequence number used) when `out_cap`
 * or the scratch is below what seallite_sealed_size() reports. On any failure no envelope is left in `out`.
 */
int seallite_seal(seallite_sealer *sealer, uint64_t now_ms, const uint8_t *payload, size_t payload_len,
                  const uint8_t *topic, size_t topic_len, const uint8_t *context, size_t context_len, int retain,
                  uint8_t *out, size_t out_cap, size_t *out_len);

/** Freshness bounds of a reader (spec 6). SEALLITE_POLICY_DEFAULT holds the spec's defaults. */
typedef struct seallite_policy {
    uint64_t max_age_ms;         /**< Live messages older than this are stale (60000). */
    uint64_t max_future_skew_ms; /**< Timestamps further ahead are rejected (10000). */
    uint64_t retained_max_age_ms; /**< Retained deliveries older than this are stale (86400000, or UNLIMITED). */
} seallite_policy;

#define SEALLITE_POLICY_DEFAULT {60000u, 10000u, 86400000u}

/** Optional: whether key `id` (or signer `id` when `is_signer`) may be used on `topic`; 0 refuses it. */
typedef int (*seallite_allow_fn)(void *ctx, uint32_t id, int is_signer, const uint8_t *topic, size_t topic_len);

/** A reader: its keys and trusted signers, the backend, the policy and the last rejection reason. */
typedef struct seallite_opener {
    const seallite_key *keys;
    size_t key_count;
    const seallite_signer *signers; /**< Validated by seallite_opener_init(). */
    size_t signer_count;
    const seallite_backend *backend;
    seallite_policy policy;
    seallite_allow_fn allow; /**< NULL: every key and signer is valid on every topic. */
    void *allow_ctx;
    uint8_t *scratch;
    size_t scratch_len;
    /** Why the last open returned ::SEALLITE_REJECTED (::SEALLITE_REASON_NONE after a success). */
    seallite_reason last_reason;
} seallite_opener;

/** Prepares a reader with the default policy; checks every signer's public key through the backend. */
int seallite_opener_init(seallite_opener *opener, const seallite_key *keys, size_t key_count,
                         const seallite_signer *signers, size_t signer_count, const seallite_backend *backend);

/** What an opened envelope carried. */
typedef struct seallite_opened {
    size_t payload_len;
    seallite_mode mode;
    uint32_t kid;
    uint32_t sid;
    uint64_t seq;          /**< timestamp (Unix ms) << 16 | counter. */
    int sealed_for_retain; /**< The R flag. */
    int is_signed;         /**< An Ed25519 signature by `sid` verified (modes encrypt+sign and sign). */
} seallite_opened;

/**
 * The payload size an authentic `envelope` opens to, and the scratch seallite_open() needs for it.
 * Reads only the header and the key table; ::SEALLITE_REJECTED when the header or length cannot be valid.
 */
int seallite_opened_size(seallite_opener *opener, const uint8_t *envelope, size_t envelope_len, size_t topic_len,
                         size_t context_len, size_t *payload_len, size_t *scratch_len);

/**
 * Opens `envelope` received on `topic`: every check of spec section 5 except replay (steps 1-7, 9).
 * `retained`: non-zero when MQTT delivered it with the retain flag. For live deliveries the caller then
 * runs the replay window (::seallite_replay) on `opened->kid`, `sid`, `seq`.
 * Returns ::SEALLITE_OK, ::SEALLITE_REJECTED (reason in `opener->last_reason`; `payload` holds no data),
 * ::SEALLITE_BUFFER_TOO_SMALL (nothing written), or a local error. `payload` must not overlap `envelope`.
 */
int seallite_open(seallite_opener *opener, uint64_t now_ms, const uint8_t *envelope, size_t envelope_len,
                  const uint8_t *topic, size_t topic_len, const uint8_t *context, size_t context_len, int retained,
                  uint8_t *payload, size_t payload_cap, seallite_opened *opened);

/** The reason of the last rejection by `opener`. */
seallite_reason seallite_last_reason(const seallite_opener *opener);

#ifndef SEALLITE_REPLAY_SLOTS
/** Remembered sequence numbers per replay window (2 * the largest window); override at compile time. */
#define SEALLITE_REPLAY_SLOTS 16
#endif

/**
 * The replay state of one (kid, sid) pair (spec 6), fixed size, kept in RAM by the caller. It remembers
 * accepted values above `floor`; when it holds `2 * window` it raises `floor` to the window-th smallest
 * and forgets those, so at least `window` messages may overtake one another.
 */
typedef struct seallite_replay {
    uint64_t floor;
    uint64_t recent[SEALLITE_REPLAY_SLOTS]; /**< Ascending. */
    uint16_t count;
    uint16_t window;
} seallite_replay;

/** Starts an empty window; `window` is clamped to 1 ... SEALLITE_REPLAY_SLOTS / 2. */
void seallite_replay_init(seallite_replay *replay, unsigned window);

/** ::SEALLITE_OK when `seq` is new; else ::SEALLITE_REJECTED with `*reason` replayed or outsideWindow. */
int seallite_replay_check(const seallite_replay *replay, uint64_t seq, seallite_reason *reason);

/** Records an authenticated, checked `seq` (call only after seallite_open() and seallite_replay_check()). */
void seallite_replay_commit(seallite_replay *replay, uint64_t seq);

/** Constant-time comparison of `len` bytes: 1 when equal. */
int seallite_equal(const uint8_t *a, const uint8_t *b, size_t len);

/** HMAC-SHA256 (RFC 2104) with SealLite's own SHA-256; keys of any length. */
void seallite_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *m, size_t m_len, uint8_t tag[32]);

/** SHA-256 with SealLite's own implementation. */
void seallite_sha256(const uint8_t *m, size_t m_len, uint8_t digest[32]);

#ifdef __cplusplus
}
#endif

#endif /* SEALLITE_H */
