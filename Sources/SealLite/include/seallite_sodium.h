/**
 * @file seallite_sodium.h
 * The libsodium backend of SealLite: XChaCha20-Poly1305-IETF, AES-256-GCM (only where libsodium has the
 * CPU support, `crypto_aead_aes256gcm_is_available()`; else ::SEALLITE_UNSUPPORTED) and Ed25519.
 * Link with `-lsodium`.
 */
#ifndef SEALLITE_SODIUM_H
#define SEALLITE_SODIUM_H

#include "seallite.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Calls `sodium_init()`; call once before using the backend. ::SEALLITE_OK or ::SEALLITE_CRYPTO_FAILURE. */
int seallite_sodium_init(void);

/** The backend (a constant table; its `ctx` is unused). */
const seallite_backend *seallite_sodium_backend(void);

/** A random callback for seallite_sealer_init() that draws from `randombytes_buf` (ctx unused). */
int seallite_sodium_random(void *ctx, uint8_t *out, size_t len);

#ifdef __cplusplus
}
#endif

#endif
