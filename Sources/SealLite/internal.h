/* Internal helpers of SealLite (not part of the public API). */
#ifndef SEALLITE_INTERNAL_H
#define SEALLITE_INTERNAL_H

#include "seallite.h"

#define SL_XCHACHA_RANDOM 8u
#define SL_XCHACHA_NONCE 24u
#define SL_AES_IV 12u
#define SL_AEAD_TAG 16u
#define SL_DOMAIN_BYTES 17u
#define SL_BINDING_FIXED 6u /* len16(topic) + len32(context) */

/* SHA-256 state; also the HMAC state (inner hash until sl_hmac_final). */
typedef struct sl_sha256 {
    uint32_t h[8];
    uint64_t bytes;
    uint8_t block[64];
} sl_sha256;

void sl_sha256_init(sl_sha256 *c);
void sl_sha256_update(sl_sha256 *c, const uint8_t *p, size_t n);
void sl_sha256_final(sl_sha256 *c, uint8_t out[32]);
/* HMAC with a key of at most 64 bytes: init absorbs key ^ ipad, final adds the outer hash. */
void sl_hmac_init(sl_sha256 *c, const uint8_t *key, size_t key_len);
void sl_hmac_final(sl_sha256 *c, const uint8_t *key, size_t key_len, uint8_t out[32]);

extern const uint8_t sl_signature_domain[SL_DOMAIN_BYTES];

void sl_copy(uint8_t *dst, const uint8_t *src, size_t n);
void sl_wipe(void *p, size_t n);
void sl_put_be16(uint8_t *p, uint16_t v);
void sl_put_be32(uint8_t *p, uint32_t v);
void sl_put_be64(uint8_t *p, uint64_t v);
uint32_t sl_get_be32(const uint8_t *p);
uint64_t sl_get_be64(const uint8_t *p);

/* Whether a context is longer than len32 can say (never with a 32-bit size_t). */
#if SIZE_MAX > 0xFFFFFFFFu
#define SL_CONTEXT_TOO_LONG(n) ((n) > (size_t)0xFFFFFFFFu)
#else
#define SL_CONTEXT_TOO_LONG(n) 0
#endif

/* a + b into *sum; 0 on overflow of size_t. */
int sl_add(size_t a, size_t b, size_t *sum);

/* len16(topic) || topic || len32(context) || context at dst; returns the bytes written. */
size_t sl_write_binding(uint8_t *dst, const uint8_t *topic, size_t topic_len, const uint8_t *context,
                        size_t context_len);

/* HMAC-SHA256(key, header || binding || payload), streamed: no buffer. */
void sl_envelope_mac(const uint8_t key[SEALLITE_KEY_BYTES], const uint8_t header[SEALLITE_HEADER_BYTES],
                     const uint8_t *topic, size_t topic_len, const uint8_t *context, size_t context_len,
                     const uint8_t *payload, size_t payload_len, uint8_t tag[SEALLITE_MAC_BYTES]);

/* Envelope bytes besides the payload for a mode and suite (header, nonce, tag or MAC, signature); 0 if invalid. */
size_t sl_overhead(seallite_mode mode, seallite_suite suite);

/* Whether a key of `suite` may be used in `mode` (spec 1). */
int sl_suite_allows(seallite_suite suite, seallite_mode mode);

#endif
