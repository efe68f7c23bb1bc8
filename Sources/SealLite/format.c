/* Envelope format helpers shared by seal.c and open.c (Specs/envelope.md, sections 2 and 3). */
#include "internal.h"

/* "mqtt-seal/v1 sig" || 0x00 */
const uint8_t sl_signature_domain[SL_DOMAIN_BYTES] = {0x6d, 0x71, 0x74, 0x74, 0x2d, 0x73, 0x65, 0x61, 0x6c,
                                                      0x2f, 0x76, 0x31, 0x20, 0x73, 0x69, 0x67, 0x00};

void sl_copy(uint8_t *dst, const uint8_t *src, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        dst[i] = src[i];
    }
}

void sl_wipe(void *p, size_t n)
{
    volatile uint8_t *v = (volatile uint8_t *)p;
    while (n-- > 0) {
        *v++ = 0;
    }
}

void sl_put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

void sl_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

void sl_put_be64(uint8_t *p, uint64_t v)
{
    sl_put_be32(p, (uint32_t)(v >> 32));
    sl_put_be32(p + 4, (uint32_t)v);
}

uint32_t sl_get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

uint64_t sl_get_be64(const uint8_t *p)
{
    return (uint64_t)sl_get_be32(p) << 32 | sl_get_be32(p + 4);
}

int sl_add(size_t a, size_t b, size_t *sum)
{
    if (a > (size_t)-1 - b) {
        return 0;
    }
    *sum = a + b;
    return 1;
}

int seallite_equal(const uint8_t *a, const uint8_t *b, size_t len)
{
    uint8_t diff = 0;
    size_t i;
    for (i = 0; i < len; i++) {
        diff |= (uint8_t)(a[i] ^ b[i]);
    }
    /* 1 when diff == 0, without a data-dependent branch */
    return (int)(1 & (((unsigned)diff - 1u) >> 8));
}

size_t sl_write_binding(uint8_t *dst, const uint8_t *topic, size_t topic_len, const uint8_t *context,
                        size_t context_len)
{
    sl_put_be16(dst, (uint16_t)topic_len);
    sl_copy(dst + 2, topic, topic_len);
    sl_put_be32(dst + 2 + topic_len, (uint32_t)context_len);
    sl_copy(dst + 6 + topic_len, context, context_len);
    return SL_BINDING_FIXED + topic_len + context_len;
}

void sl_envelope_mac(const uint8_t key[SEALLITE_KEY_BYTES], const uint8_t header[SEALLITE_HEADER_BYTES],
                     const uint8_t *topic, size_t topic_len, const uint8_t *context, size_t context_len,
                     const uint8_t *payload, size_t payload_len, uint8_t tag[SEALLITE_MAC_BYTES])
{
    sl_sha256 c;
    uint8_t len[4];
    sl_hmac_init(&c, key, SEALLITE_KEY_BYTES);
    sl_sha256_update(&c, header, SEALLITE_HEADER_BYTES);
    sl_put_be16(len, (uint16_t)topic_len);
    sl_sha256_update(&c, len, 2);
    sl_sha256_update(&c, topic, topic_len);
    sl_put_be32(len, (uint32_t)context_len);
    sl_sha256_update(&c, len, 4);
    sl_sha256_update(&c, context, context_len);
    sl_sha256_update(&c, payload, payload_len);
    sl_hmac_final(&c, key, SEALLITE_KEY_BYTES, tag);
}

size_t sl_overhead(seallite_mode mode, seallite_suite suite)
{
    switch (mode) {
    case SEALLITE_MODE_ENCRYPT:
    case SEALLITE_MODE_ENCRYPT_SIGN: {
        size_t n = SEALLITE_HEADER_BYTES + SL_AEAD_TAG;
        if (suite == SEALLITE_SUITE_XCHACHA20POLY1305) {
            n += SL_XCHACHA_RANDOM;
        } else if (suite == SEALLITE_SUITE_AES256GCM) {
            n += SL_AES_IV;
        } else {
            return 0;
        }
        return mode == SEALLITE_MODE_ENCRYPT_SIGN ? n + SEALLITE_SIGNATURE_BYTES : n;
    }
    case SEALLITE_MODE_MAC:
        return suite == SEALLITE_SUITE_HMAC_SHA256 ? SEALLITE_HEADER_BYTES + SEALLITE_MAC_BYTES : 0;
    case SEALLITE_MODE_SIGN:
        return suite == SEALLITE_SUITE_ED25519 ? SEALLITE_HEADER_BYTES + SEALLITE_SIGNATURE_BYTES : 0;
    }
    return 0;
}

int sl_suite_allows(seallite_suite suite, seallite_mode mode)
{
    switch (suite) {
    case SEALLITE_SUITE_XCHACHA20POLY1305:
    case SEALLITE_SUITE_AES256GCM:
        return mode == SEALLITE_MODE_ENCRYPT || mode == SEALLITE_MODE_ENCRYPT_SIGN;
    case SEALLITE_SUITE_HMAC_SHA256:
        return mode == SEALLITE_MODE_MAC;
    case SEALLITE_SUITE_ED25519:
        return mode == SEALLITE_MODE_SIGN;
    }
    return 0;
}

const char *seallite_reason_name(seallite_reason reason)
{
    switch (reason) {
    case SEALLITE_REASON_NONE: return "none";
    case SEALLITE_REASON_MALFORMED: return "malformed";
    case SEALLITE_REASON_UNKNOWN_KEY: return "unknownKey";
    case SEALLITE_REASON_MODE_NOT_ALLOWED: return "modeNotAllowed";
    case SEALLITE_REASON_AUTHENTICATION_FAILED: return "authenticationFailed";
    case SEALLITE_REASON_UNTRUSTED_SIGNER: return "untrustedSigner";
    case SEALLITE_REASON_BAD_SIGNATURE: return "badSignature";
    case SEALLITE_REASON_REPLAYED: return "replayed";
    case SEALLITE_REASON_OUTSIDE_WINDOW: return "outsideWindow";
    case SEALLITE_REASON_STALE: return "stale";
    case SEALLITE_REASON_FUTURE: return "future";
    case SEALLITE_REASON_BAD_TOPIC: return "badTopic";
    }
    return "unknown";
}
