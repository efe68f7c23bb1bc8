/* Reading envelopes (Specs/envelope.md, section 5, steps 1-7 and 9), in the order of Swift's Opener. */
#include "internal.h"

int seallite_opener_init(seallite_opener *opener, const seallite_key *keys, size_t key_count,
                         const seallite_signer *signers, size_t signer_count, const seallite_backend *backend)
{
    static const seallite_policy defaults = SEALLITE_POLICY_DEFAULT;
    size_t i;
    if (opener == NULL || (keys == NULL && key_count > 0) || (signers == NULL && signer_count > 0)) {
        return SEALLITE_INVALID_ARGUMENT;
    }
    for (i = 0; i < key_count; i++) {
        if (keys[i].suite != SEALLITE_SUITE_XCHACHA20POLY1305 && keys[i].suite != SEALLITE_SUITE_AES256GCM &&
            keys[i].suite != SEALLITE_SUITE_HMAC_SHA256) {
            return SEALLITE_INVALID_KEY;
        }
    }
    if (signer_count > 0) {
        /* Signer public keys must be valid points (small-order, mixed-order, non-canonical rejected). */
        if (backend == NULL || backend->check_public_key == NULL) {
            return SEALLITE_UNSUPPORTED;
        }
        for (i = 0; i < signer_count; i++) {
            if (backend->check_public_key(backend->ctx, signers[i].public_key) != SEALLITE_OK) {
                return SEALLITE_INVALID_KEY;
            }
        }
    }
    opener->keys = keys;
    opener->key_count = key_count;
    opener->signers = signers;
    opener->signer_count = signer_count;
    opener->backend = backend;
    opener->policy = defaults;
    opener->allow = NULL;
    opener->allow_ctx = NULL;
    opener->scratch = NULL;
    opener->scratch_len = 0;
    opener->last_reason = SEALLITE_REASON_NONE;
    return SEALLITE_OK;
}

seallite_reason seallite_last_reason(const seallite_opener *opener)
{
    return opener->last_reason;
}

static int reject(seallite_opener *opener, seallite_reason reason)
{
    opener->last_reason = reason;
    return SEALLITE_REJECTED;
}

/* `topic` is NULL when sizing only: the allow callback is then not consulted. */
static const seallite_key *find_key(const seallite_opener *o, uint32_t kid, const uint8_t *topic, size_t topic_len)
{
    size_t i;
    for (i = 0; i < o->key_count; i++) {
        if (o->keys[i].kid == kid) {
            if (o->allow != NULL && topic != NULL && !o->allow(o->allow_ctx, kid, 0, topic, topic_len)) {
                return NULL;
            }
            return &o->keys[i];
        }
    }
    return NULL;
}

static const seallite_signer *find_signer(const seallite_opener *o, uint32_t sid, const uint8_t *topic,
                                          size_t topic_len)
{
    size_t i;
    for (i = 0; i < o->signer_count; i++) {
        if (o->signers[i].sid == sid) {
            if (o->allow != NULL && topic != NULL && !o->allow(o->allow_ctx, sid, 1, topic, topic_len)) {
                return NULL;
            }
            return &o->signers[i];
        }
    }
    return NULL;
}

/* The sizes of an envelope given its header: shared by seallite_opened_size and seallite_open.
 * Sets *key (NULL in mode sign) and *signer (NULL when unsigned); rejects in the spec's order. */
static int resolve(seallite_opener *o, const uint8_t *env, size_t env_len, const uint8_t *topic, size_t topic_len,
                   size_t context_len, const seallite_key **key, const seallite_signer **signer,
                   size_t *payload_len, size_t *scratch_len)
{
    seallite_mode mode = (seallite_mode)(env[0] & 0x07u);
    uint32_t kid = sl_get_be32(env + 1), sid = sl_get_be32(env + 5);
    size_t fixed, binding, need = 0;
    *key = NULL;
    *signer = NULL;
    if (mode == SEALLITE_MODE_SIGN) {
        if (kid != sid) {
            return reject(o, SEALLITE_REASON_MALFORMED);
        }
        if ((*signer = find_signer(o, sid, topic, topic_len)) == NULL) {
            return reject(o, SEALLITE_REASON_UNTRUSTED_SIGNER);
        }
        fixed = sl_overhead(mode, SEALLITE_SUITE_ED25519);
    } else {
        if ((*key = find_key(o, kid, topic, topic_len)) == NULL) {
            return reject(o, SEALLITE_REASON_UNKNOWN_KEY);
        }
        if (!sl_suite_allows((*key)->suite, mode)) {
            return reject(o, SEALLITE_REASON_MODE_NOT_ALLOWED);
        }
        if (mode == SEALLITE_MODE_ENCRYPT_SIGN && (*signer = find_signer(o, sid, topic, topic_len)) == NULL) {
            return reject(o, SEALLITE_REASON_UNTRUSTED_SIGNER);
        }
        fixed = sl_overhead(mode, (*key)->suite);
    }
    if (env_len < fixed) {
        return reject(o, SEALLITE_REASON_MALFORMED);
    }
    *payload_len = env_len - fixed;
    /* Scratch: the AAD (modes 1, 2) and the signature input (modes 2, 4); mode 3 streams. */
    if (!sl_add(SL_BINDING_FIXED + topic_len, context_len, &binding)) {
        return SEALLITE_INVALID_ARGUMENT;
    }
    if (mode == SEALLITE_MODE_ENCRYPT || mode == SEALLITE_MODE_ENCRYPT_SIGN) {
        if (!sl_add(SEALLITE_HEADER_BYTES, binding, &need)) {
            return SEALLITE_INVALID_ARGUMENT;
        }
    }
    if (*signer != NULL) {
        size_t input;
        if (!sl_add(SL_DOMAIN_BYTES + env_len - SEALLITE_SIGNATURE_BYTES, binding, &input)) {
            return SEALLITE_INVALID_ARGUMENT;
        }
        if (input > need) {
            need = input;
        }
    }
    *scratch_len = need;
    return SEALLITE_OK;
}

/* Steps 1-2: lengths and the header. */
static int check_header(seallite_opener *o, const uint8_t *env, size_t env_len, size_t topic_len,
                        size_t context_len)
{
    unsigned mode;
    (void)context_len; /* only checked where size_t is wider than 32 bits */
    if (env_len > SEALLITE_MAX_ENVELOPE_BYTES) {
        return reject(o, SEALLITE_REASON_MALFORMED);
    }
    if (topic_len > SEALLITE_MAX_TOPIC_BYTES) {
        return reject(o, SEALLITE_REASON_BAD_TOPIC);
    }
    if (SL_CONTEXT_TOO_LONG(context_len)) {
        return reject(o, SEALLITE_REASON_MALFORMED);
    }
    if (env_len < SEALLITE_HEADER_BYTES || env == NULL) {
        return reject(o, SEALLITE_REASON_MALFORMED);
    }
    mode = env[0] & 0x07u;
    if (env[0] >> 4 != 1u || mode < SEALLITE_MODE_ENCRYPT || mode > SEALLITE_MODE_SIGN) {
        return reject(o, SEALLITE_REASON_MALFORMED);
    }
    return SEALLITE_OK;
}

int seallite_opened_size(seallite_opener *opener, const uint8_t *envelope, size_t envelope_len, size_t topic_len,
                         size_t context_len, size_t *payload_len, size_t *scratch_len)
{
    const seallite_key *key;
    const seallite_signer *signer;
    size_t payload = 0, scratch = 0;
    int status;
    if (opener == NULL) {
        return SEALLITE_INVALID_ARGUMENT;
    }
    status = check_header(opener, envelope, envelope_len, topic_len, context_len);
    if (status == SEALLITE_OK) {
        status = resolve(opener, envelope, envelope_len, NULL, topic_len, context_len, &key, &signer, &payload,
                         &scratch);
    }
    if (status == SEALLITE_OK) {
        if (payload_len != NULL) {
            *payload_len = payload;
        }
        if (scratch_len != NULL) {
            *scratch_len = scratch;
        }
    }
    return status;
}

/* Step 3: freshness, with the exact edges of Swift's ReplayGuard.checkFreshness. */
static int check_fresh(seallite_opener *o, uint64_t seq, uint64_t now, int retained)
{
    uint64_t timestamp = seq >> 16;
    if (timestamp > now) {
        return timestamp - now > o->policy.max_future_skew_ms ? reject(o, SEALLITE_REASON_FUTURE) : SEALLITE_OK;
    }
    if (retained) {
        if (o->policy.retained_max_age_ms != SEALLITE_UNLIMITED && now - timestamp > o->policy.retained_max_age_ms) {
            return reject(o, SEALLITE_REASON_STALE);
        }
    } else if (now - timestamp > o->policy.max_age_ms) {
        return reject(o, SEALLITE_REASON_STALE);
    }
    return SEALLITE_OK;
}

int seallite_open(seallite_opener *opener, uint64_t now_ms, const uint8_t *envelope, size_t envelope_len,
                  const uint8_t *topic, size_t topic_len, const uint8_t *context, size_t context_len, int retained,
                  uint8_t *payload, size_t payload_cap, seallite_opened *opened)
{
    const seallite_key *key;
    const seallite_signer *signer;
    size_t payload_len = 0, scratch_len = 0, signed_len;
    const uint8_t *body;
    int status;
    if (opener == NULL || (topic == NULL && topic_len > 0) || (context == NULL && context_len > 0)) {
        return SEALLITE_INVALID_ARGUMENT;
    }
    opener->last_reason = SEALLITE_REASON_NONE;
    status = check_header(opener, envelope, envelope_len, topic_len, context_len);
    if (status != SEALLITE_OK) {
        return status;
    }
    /* A retained delivery must have been sealed for retain; a live delivery may be either. */
    if (retained && (envelope[0] & 0x08u) == 0) {
        return reject(opener, SEALLITE_REASON_MALFORMED);
    }
    status = check_fresh(opener, sl_get_be64(envelope + 9), now_ms, retained);
    if (status != SEALLITE_OK) {
        return status;
    }
    status = resolve(opener, envelope, envelope_len, topic != NULL ? topic : envelope, topic_len, context_len, &key,
                     &signer, &payload_len, &scratch_len);
    if (status != SEALLITE_OK) {
        return status;
    }
    if ((payload_cap < payload_len || (payload == NULL && payload_len > 0)) ||
        (scratch_len > 0 && (opener->scratch == NULL || opener->scratch_len < scratch_len))) {
        return SEALLITE_BUFFER_TOO_SMALL;
    }
    signed_len = envelope_len - (signer != NULL ? SEALLITE_SIGNATURE_BYTES : 0);
    body = envelope + SEALLITE_HEADER_BYTES;
    (void)signed_len; /* unused in SEALLITE_HMAC_ONLY builds */
    if (key != NULL && key->suite == SEALLITE_SUITE_HMAC_SHA256) {
        uint8_t tag[SEALLITE_MAC_BYTES];
        int equal;
        sl_envelope_mac(key->bytes, envelope, topic, topic_len, context, context_len, body, payload_len, tag);
        equal = seallite_equal(tag, body + payload_len, SEALLITE_MAC_BYTES);
        sl_wipe(tag, sizeof tag);
        if (!equal) {
            return reject(opener, SEALLITE_REASON_AUTHENTICATION_FAILED);
        }
    }
#ifndef SEALLITE_HMAC_ONLY
    else if (key != NULL) {
        const seallite_backend *b = opener->backend;
        uint8_t nonce[SL_XCHACHA_NONCE];
        size_t random_len = key->suite == SEALLITE_SUITE_XCHACHA20POLY1305 ? SL_XCHACHA_RANDOM : SL_AES_IV;
        size_t aad_len;
        if (b == NULL || b->aead_open == NULL) {
            return SEALLITE_UNSUPPORTED;
        }
        if (key->suite == SEALLITE_SUITE_XCHACHA20POLY1305) {
            sl_copy(nonce, envelope + 1, SEALLITE_HEADER_BYTES - 1);
            sl_copy(nonce + SEALLITE_HEADER_BYTES - 1, body, SL_XCHACHA_RANDOM);
        } else {
            sl_copy(nonce, body, SL_AES_IV);
        }
        sl_copy(opener->scratch, envelope, SEALLITE_HEADER_BYTES);
        aad_len = SEALLITE_HEADER_BYTES + sl_write_binding(opener->scratch + SEALLITE_HEADER_BYTES, topic, topic_len,
                                                           context, context_len);
        status = b->aead_open(b->ctx, key->suite, key->bytes, nonce, opener->scratch, aad_len, body + random_len,
                              payload_len + SL_AEAD_TAG, payload);
        if (status != SEALLITE_OK) {
            sl_wipe(payload, payload_len);
            return status == SEALLITE_REJECTED ? reject(opener, SEALLITE_REASON_AUTHENTICATION_FAILED) : status;
        }
    }
    if (signer != NULL) {
        const seallite_backend *b = opener->backend;
        uint8_t *input = opener->scratch;
        size_t n;
        if (b == NULL || b->verify == NULL) {
            status = SEALLITE_UNSUPPORTED;
        } else {
            sl_copy(input, sl_signature_domain, SL_DOMAIN_BYTES);
            n = SL_DOMAIN_BYTES + sl_write_binding(input + SL_DOMAIN_BYTES, topic, topic_len, context, context_len);
            sl_copy(input + n, envelope, signed_len);
            status = b->verify(b->ctx, signer->public_key, envelope + signed_len, input, n + signed_len);
        }
        if (status != SEALLITE_OK) {
            sl_wipe(payload, payload_len);
            return status == SEALLITE_REJECTED ? reject(opener, SEALLITE_REASON_BAD_SIGNATURE) : status;
        }
    }
    if (key == NULL) {
        sl_copy(payload, body, payload_len); /* mode sign: verified above */
    }
#else
    else {
        return SEALLITE_UNSUPPORTED;
    }
#endif
    if (key != NULL && key->suite == SEALLITE_SUITE_HMAC_SHA256) {
        sl_copy(payload, body, payload_len);
    }
    if (scratch_len > 0) {
        sl_wipe(opener->scratch, scratch_len);
    }
    if (opened != NULL) {
        opened->payload_len = payload_len;
        opened->mode = (seallite_mode)(envelope[0] & 0x07u);
        opened->kid = sl_get_be32(envelope + 1);
        opened->sid = sl_get_be32(envelope + 5);
        opened->seq = sl_get_be64(envelope + 9);
        opened->sealed_for_retain = (envelope[0] & 0x08u) != 0;
        opened->is_signed = signer != NULL;
    }
    return SEALLITE_OK;
}
