/* The libsodium backend (include/seallite_sodium.h). Not compiled into SEALLITE_HMAC_ONLY builds. */
#ifndef SEALLITE_HMAC_ONLY
#include <sodium.h>

#include "seallite_sodium.h"

int seallite_sodium_init(void)
{
    return sodium_init() >= 0 ? SEALLITE_OK : SEALLITE_CRYPTO_FAILURE;
}

int seallite_sodium_random(void *ctx, uint8_t *out, size_t len)
{
    (void)ctx;
    randombytes_buf(out, len);
    return 0;
}

static int aead_seal(void *ctx, seallite_suite suite, const uint8_t key[SEALLITE_KEY_BYTES], const uint8_t *nonce,
                     const uint8_t *ad, size_t ad_len, const uint8_t *m, size_t m_len, uint8_t *c)
{
    unsigned long long c_len = 0;
    int rc;
    (void)ctx;
    switch (suite) {
    case SEALLITE_SUITE_XCHACHA20POLY1305:
        rc = crypto_aead_xchacha20poly1305_ietf_encrypt(c, &c_len, m, m_len, ad, ad_len, NULL, nonce, key);
        break;
    case SEALLITE_SUITE_AES256GCM:
        if (!crypto_aead_aes256gcm_is_available()) {
            return SEALLITE_UNSUPPORTED;
        }
        rc = crypto_aead_aes256gcm_encrypt(c, &c_len, m, m_len, ad, ad_len, NULL, nonce, key);
        break;
    default:
        return SEALLITE_UNSUPPORTED;
    }
    return rc == 0 && c_len == (unsigned long long)m_len + 16u ? SEALLITE_OK : SEALLITE_CRYPTO_FAILURE;
}

static int aead_open(void *ctx, seallite_suite suite, const uint8_t key[SEALLITE_KEY_BYTES], const uint8_t *nonce,
                     const uint8_t *ad, size_t ad_len, const uint8_t *c, size_t c_len, uint8_t *m)
{
    unsigned long long m_len = 0;
    uint8_t empty[1];
    int rc;
    (void)ctx;
    if (c_len < 16) {
        return SEALLITE_REJECTED;
    }
    if (m == NULL) {
        m = empty; /* an empty payload: libsodium writes nothing */
    }
    switch (suite) {
    case SEALLITE_SUITE_XCHACHA20POLY1305:
        rc = crypto_aead_xchacha20poly1305_ietf_decrypt(m, &m_len, NULL, c, c_len, ad, ad_len, nonce, key);
        break;
    case SEALLITE_SUITE_AES256GCM:
        if (!crypto_aead_aes256gcm_is_available()) {
            return SEALLITE_UNSUPPORTED;
        }
        rc = crypto_aead_aes256gcm_decrypt(m, &m_len, NULL, c, c_len, ad, ad_len, nonce, key);
        break;
    default:
        return SEALLITE_UNSUPPORTED;
    }
    return rc == 0 ? SEALLITE_OK : SEALLITE_REJECTED;
}

static int sign(void *ctx, const uint8_t secret_key[SEALLITE_SECRET_KEY_BYTES], const uint8_t *m, size_t m_len,
                uint8_t signature[SEALLITE_SIGNATURE_BYTES])
{
    (void)ctx;
    return crypto_sign_detached(signature, NULL, m, m_len, secret_key) == 0 ? SEALLITE_OK : SEALLITE_CRYPTO_FAILURE;
}

static int verify(void *ctx, const uint8_t public_key[SEALLITE_PUBLIC_KEY_BYTES],
                  const uint8_t signature[SEALLITE_SIGNATURE_BYTES], const uint8_t *m, size_t m_len)
{
    (void)ctx;
    return crypto_sign_verify_detached(signature, m, m_len, public_key) == 0 ? SEALLITE_OK : SEALLITE_REJECTED;
}

static int seed_keypair(void *ctx, const uint8_t seed[32], uint8_t public_key[SEALLITE_PUBLIC_KEY_BYTES],
                        uint8_t secret_key[SEALLITE_SECRET_KEY_BYTES])
{
    (void)ctx;
    return crypto_sign_seed_keypair(public_key, secret_key, seed) == 0 ? SEALLITE_OK : SEALLITE_CRYPTO_FAILURE;
}

static int check_public_key(void *ctx, const uint8_t public_key[SEALLITE_PUBLIC_KEY_BYTES])
{
    (void)ctx;
    return crypto_core_ed25519_is_valid_point(public_key) == 1 ? SEALLITE_OK : SEALLITE_INVALID_KEY;
}

static const seallite_backend sodium_backend = {
    NULL, aead_seal, aead_open, sign, verify, seed_keypair, check_public_key,
};

const seallite_backend *seallite_sodium_backend(void)
{
    return &sodium_backend;
}
#else
typedef int seallite_sodium_backend_disabled; /* an empty translation unit is not ISO C */
#endif
