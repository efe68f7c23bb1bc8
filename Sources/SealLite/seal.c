/* Writing envelopes (Specs/envelope.md, section 4) and the sequence counter (4.1, with skip-ahead). */
#include "internal.h"

void seallite_sequence_init(seallite_sequence *sequence, uint64_t persisted_bound, uint64_t step,
                            seallite_persist_fn persist, void *persist_ctx)
{
    /* Every value below the stored bound may have been used before the reboot: restart at the bound. */
    sequence->last = persisted_bound > 0 ? persisted_bound - 1 : 0;
    sequence->reserved = persisted_bound;
    sequence->step = step > 0 ? step : 1;
    sequence->persist = persist;
    sequence->persist_ctx = persist_ctx;
}

int seallite_sequence_next(seallite_sequence *sequence, uint64_t now_ms, uint64_t *seq)
{
    uint64_t next;
    if (now_ms >> 48 != 0) {
        return SEALLITE_INVALID_ARGUMENT; /* beyond the 48-bit timestamp (year 10889) */
    }
    if (sequence->last == UINT64_MAX) {
        return SEALLITE_INVALID_ARGUMENT;
    }
    next = now_ms << 16;
    if (next < sequence->last + 1) {
        next = sequence->last + 1;
    }
    if (sequence->persist != NULL && next >= sequence->reserved) {
        uint64_t bound = next + sequence->step;
        if (bound < next) {
            bound = UINT64_MAX;
        }
        if (sequence->persist(sequence->persist_ctx, bound) != 0) {
            return SEALLITE_STORAGE_FAILED;
        }
        sequence->reserved = bound;
    }
    sequence->last = next;
    *seq = next;
    return SEALLITE_OK;
}

int seallite_sealer_init(seallite_sealer *sealer, const seallite_key *key, const seallite_signing_key *signing_key,
                         uint32_t sid, const seallite_backend *backend, seallite_random_fn random, void *random_ctx)
{
    if (sealer == NULL || (key == NULL && signing_key == NULL)) {
        return SEALLITE_INVALID_ARGUMENT;
    }
    if (key == NULL) {
        sealer->mode = SEALLITE_MODE_SIGN;
    } else if (key->suite == SEALLITE_SUITE_HMAC_SHA256) {
        if (signing_key != NULL) {
            return SEALLITE_INVALID_CONFIGURATION; /* an HMAC key cannot be combined with a signer */
        }
        sealer->mode = SEALLITE_MODE_MAC;
    } else if (key->suite == SEALLITE_SUITE_XCHACHA20POLY1305 || key->suite == SEALLITE_SUITE_AES256GCM) {
        sealer->mode = signing_key != NULL ? SEALLITE_MODE_ENCRYPT_SIGN : SEALLITE_MODE_ENCRYPT;
    } else {
        return SEALLITE_INVALID_KEY; /* ed25519 is not a symmetric suite */
    }
    if (signing_key != NULL && sid != signing_key->id) {
        return SEALLITE_INVALID_CONFIGURATION; /* the sender id of a signed mode is the signer's id */
    }
#ifdef SEALLITE_HMAC_ONLY
    if (sealer->mode != SEALLITE_MODE_MAC) {
        return SEALLITE_UNSUPPORTED;
    }
#endif
    if (sealer->mode != SEALLITE_MODE_MAC && random == NULL && sealer->mode != SEALLITE_MODE_SIGN) {
        return SEALLITE_INVALID_ARGUMENT;
    }
    sealer->key = key;
    sealer->signing_key = signing_key;
    sealer->kid = key != NULL ? key->kid : signing_key->id;
    sealer->sid = sid;
    sealer->backend = backend;
    sealer->random = random;
    sealer->random_ctx = random_ctx;
    sealer->scratch = NULL;
    sealer->scratch_len = 0;
    seallite_sequence_init(&sealer->sequence, 0, 1, NULL, NULL);
    return SEALLITE_OK;
}

int seallite_sealed_size(const seallite_sealer *sealer, size_t payload_len, size_t topic_len, size_t context_len,
                         size_t *envelope_len, size_t *scratch_len)
{
    seallite_suite suite;
    size_t overhead, binding, need = 0;
    if (sealer == NULL) {
        return SEALLITE_INVALID_ARGUMENT;
    }
    if (payload_len > SEALLITE_MAX_PAYLOAD_BYTES || topic_len > SEALLITE_MAX_TOPIC_BYTES ||
        SL_CONTEXT_TOO_LONG(context_len)) {
        return SEALLITE_INVALID_ARGUMENT;
    }
    suite = sealer->key != NULL ? sealer->key->suite : SEALLITE_SUITE_ED25519;
    overhead = sl_overhead(sealer->mode, suite);
    if (overhead == 0) {
        return SEALLITE_INVALID_CONFIGURATION;
    }
    if (!sl_add(SL_BINDING_FIXED + topic_len, context_len, &binding)) {
        return SEALLITE_INVALID_ARGUMENT;
    }
    if (sealer->mode == SEALLITE_MODE_ENCRYPT || sealer->mode == SEALLITE_MODE_ENCRYPT_SIGN) {
        if (!sl_add(SEALLITE_HEADER_BYTES, binding, &need)) { /* the AAD */
            return SEALLITE_INVALID_ARGUMENT;
        }
    }
    if (sealer->mode == SEALLITE_MODE_ENCRYPT_SIGN || sealer->mode == SEALLITE_MODE_SIGN) {
        size_t input; /* domain || binding || every envelope byte before the signature */
        if (!sl_add(SL_DOMAIN_BYTES + payload_len + overhead - SEALLITE_SIGNATURE_BYTES, binding, &input)) {
            return SEALLITE_INVALID_ARGUMENT;
        }
        if (input > need) {
            need = input;
        }
    }
    if (envelope_len != NULL) {
        *envelope_len = payload_len + overhead;
    }
    if (scratch_len != NULL) {
        *scratch_len = need;
    }
    return SEALLITE_OK;
}

#ifndef SEALLITE_HMAC_ONLY
/* Mode 1/2 body: nonce bytes, then ciphertext || tag; returns a status. */
static int seal_aead(seallite_sealer *sealer, const uint8_t *payload, size_t payload_len, const uint8_t *topic,
                     size_t topic_len, const uint8_t *context, size_t context_len, uint8_t *out)
{
    const seallite_key *key = sealer->key;
    const seallite_backend *b = sealer->backend;
    uint8_t nonce[SL_XCHACHA_NONCE];
    size_t aad_len, random_len;
    int status;
    if (b == NULL || b->aead_seal == NULL) {
        return SEALLITE_UNSUPPORTED;
    }
    random_len = key->suite == SEALLITE_SUITE_XCHACHA20POLY1305 ? SL_XCHACHA_RANDOM : SL_AES_IV;
    if (sealer->random(sealer->random_ctx, out + SEALLITE_HEADER_BYTES, random_len) != 0) {
        return SEALLITE_RANDOM_FAILED;
    }
    if (key->suite == SEALLITE_SUITE_XCHACHA20POLY1305) {
        /* nonce24 = kid || sid || seq || r8 */
        sl_copy(nonce, out + 1, SEALLITE_HEADER_BYTES - 1);
        sl_copy(nonce + SEALLITE_HEADER_BYTES - 1, out + SEALLITE_HEADER_BYTES, SL_XCHACHA_RANDOM);
    } else {
        sl_copy(nonce, out + SEALLITE_HEADER_BYTES, SL_AES_IV);
    }
    sl_copy(sealer->scratch, out, SEALLITE_HEADER_BYTES);
    aad_len = SEALLITE_HEADER_BYTES +
              sl_write_binding(sealer->scratch + SEALLITE_HEADER_BYTES, topic, topic_len, context, context_len);
    status = b->aead_seal(b->ctx, key->suite, key->bytes, nonce, sealer->scratch, aad_len, payload, payload_len,
                          out + SEALLITE_HEADER_BYTES + random_len);
    sl_wipe(nonce, sizeof nonce);
    return status;
}

/* Mode 2/4: appends Ed25519(domain || binding || out[0 ..< signed_len]). */
static int seal_signature(seallite_sealer *sealer, const uint8_t *topic, size_t topic_len, const uint8_t *context,
                          size_t context_len, uint8_t *out, size_t signed_len)
{
    const seallite_backend *b = sealer->backend;
    uint8_t *input = sealer->scratch;
    size_t n;
    if (b == NULL || b->sign == NULL) {
        return SEALLITE_UNSUPPORTED;
    }
    sl_copy(input, sl_signature_domain, SL_DOMAIN_BYTES);
    n = SL_DOMAIN_BYTES + sl_write_binding(input + SL_DOMAIN_BYTES, topic, topic_len, context, context_len);
    sl_copy(input + n, out, signed_len);
    return b->sign(b->ctx, sealer->signing_key->secret_key, input, n + signed_len, out + signed_len);
}
#endif

int seallite_seal(seallite_sealer *sealer, uint64_t now_ms, const uint8_t *payload, size_t payload_len,
                  const uint8_t *topic, size_t topic_len, const uint8_t *context, size_t context_len, int retain,
                  uint8_t *out, size_t out_cap, size_t *out_len)
{
    size_t total, scratch, signed_len;
    uint64_t seq;
    int status;
    if (out == NULL || (payload == NULL && payload_len > 0) || (topic == NULL && topic_len > 0) ||
        (context == NULL && context_len > 0)) {
        return SEALLITE_INVALID_ARGUMENT;
    }
    status = seallite_sealed_size(sealer, payload_len, topic_len, context_len, &total, &scratch);
    if (status != SEALLITE_OK) {
        return status;
    }
    if (out_cap < total || (scratch > 0 && (sealer->scratch == NULL || sealer->scratch_len < scratch))) {
        return SEALLITE_BUFFER_TOO_SMALL;
    }
    status = seallite_sequence_next(&sealer->sequence, now_ms, &seq);
    if (status != SEALLITE_OK) {
        return status;
    }
    out[0] = (uint8_t)(0x10u | (retain ? 0x08u : 0u) | (unsigned)sealer->mode);
    sl_put_be32(out + 1, sealer->kid);
    sl_put_be32(out + 5, sealer->sid);
    sl_put_be64(out + 9, seq);
    signed_len = total;
    (void)signed_len; /* unused in SEALLITE_HMAC_ONLY builds */
    switch (sealer->mode) {
    case SEALLITE_MODE_MAC:
        sl_copy(out + SEALLITE_HEADER_BYTES, payload, payload_len);
        sl_envelope_mac(sealer->key->bytes, out, topic, topic_len, context, context_len, payload, payload_len,
                        out + SEALLITE_HEADER_BYTES + payload_len);
        break;
#ifndef SEALLITE_HMAC_ONLY
    case SEALLITE_MODE_ENCRYPT:
    case SEALLITE_MODE_ENCRYPT_SIGN:
        status = seal_aead(sealer, payload, payload_len, topic, topic_len, context, context_len, out);
        signed_len = total - (sealer->mode == SEALLITE_MODE_ENCRYPT_SIGN ? SEALLITE_SIGNATURE_BYTES : 0);
        break;
    case SEALLITE_MODE_SIGN:
        sl_copy(out + SEALLITE_HEADER_BYTES, payload, payload_len);
        signed_len = total - SEALLITE_SIGNATURE_BYTES;
        break;
#endif
    default:
        status = SEALLITE_UNSUPPORTED;
        break;
    }
#ifndef SEALLITE_HMAC_ONLY
    if (status == SEALLITE_OK && signed_len < total) {
        status = seal_signature(sealer, topic, topic_len, context, context_len, out, signed_len);
    }
#endif
    if (scratch > 0) {
        sl_wipe(sealer->scratch, scratch);
    }
    if (status != SEALLITE_OK) {
        sl_wipe(out, total); /* never leave a partial envelope */
        return status;
    }
    if (out_len != NULL) {
        *out_len = total;
    }
    return SEALLITE_OK;
}
