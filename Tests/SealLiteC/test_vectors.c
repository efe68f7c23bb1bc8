/* Every vector of Specs/vectors/envelope-v1.json: seal the valid ones byte for byte (randomness and clock
 * taken from the vector), open every one, and reject the invalid ones with their reason class. */
#include <string.h>

#include "seallite_vectors.h"
#include "test_support.h"
#ifndef SEALLITE_HMAC_ONLY
#include "seallite_sodium.h"
#endif

#define B(v) ((const uint8_t *)(v).bytes)


/* Deterministic randomness: hands out the nonce bytes the vector's sealer drew. */
typedef struct fixed_random {
    const uint8_t *bytes;
    size_t len;
} fixed_random;

static int take_random(void *ctx, uint8_t *out, size_t len)
{
    fixed_random *r = (fixed_random *)ctx;
    if (len > r->len) {
        return -1;
    }
    memcpy(out, r->bytes, len);
    r->bytes += len;
    r->len -= len;
    return 0;
}

static const seallite_key *key_by_id(uint32_t kid)
{
    size_t i;
    for (i = 0; i < sizeof vector_keys / sizeof vector_keys[0]; i++) {
        if (vector_keys[i].kid == kid) {
            return &vector_keys[i];
        }
    }
    return NULL;
}

static const seallite_backend *backend(void)
{
#ifdef SEALLITE_HMAC_ONLY
    return NULL;
#else
    return seallite_sodium_backend();
#endif
}

#ifndef SEALLITE_HMAC_ONLY
static int aes_available(void)
{
    uint8_t c[16], k[32] = {0}, n[12] = {0};
    return backend()->aead_seal(NULL, SEALLITE_SUITE_AES256GCM, k, n, NULL, 0, NULL, 0, c) == SEALLITE_OK;
}
#endif

static int is(const vector *v, const char *result)
{
    return strcmp(v->result, result) == 0;
}

/* Whether this build can reproduce the vector's result: in an HMAC-only build, the mac vectors and those
 * rejected before any AEAD or signature; AES-256-GCM vectors only where the CPU supports it. */
static int in_scope(const vector *v)
{
    const uint8_t *e = B(v->envelope);
    unsigned mode;
    const seallite_key *key;
    if (v->envelope.len < SEALLITE_HEADER_BYTES) {
        return 1;
    }
    mode = e[0] & 7u;
    if (e[0] >> 4 != 1u || mode < 1 || mode > 4 || (v->retained && !(e[0] & 8u)) || is(v, "stale") ||
        is(v, "future")) {
        return 1;
    }
    key = mode == 4 ? NULL : key_by_id((uint32_t)e[1] << 24 | (uint32_t)e[2] << 16 | (uint32_t)e[3] << 8 | e[4]);
#ifdef SEALLITE_HMAC_ONLY
    if (mode == 4) {
        return 0;
    }
    return key == NULL || key->suite == SEALLITE_SUITE_HMAC_SHA256 || is(v, "modeNotAllowed");
#else
    return key == NULL || key->suite != SEALLITE_SUITE_AES256GCM || aes_available() || is(v, "modeNotAllowed");
#endif
}

static int sealed_signing_key(seallite_signing_key *sk)
{
#ifdef SEALLITE_HMAC_ONLY
    (void)sk;
    return -1;
#else
    uint8_t seed[32], pk[32];
    unsigned i;
    for (i = 0; i < 32; i++) {
        seed[i] = (uint8_t)(0xA0 + i);
    }
    /* The signer's seed is not in the JSON: Sources/envelope-vectors/main.swift fixes it (0xA0...0xBF). */
    sk->id = 0x0A0A;
    if (backend()->seed_keypair(NULL, seed, pk, sk->secret_key) != SEALLITE_OK) {
        return -1;
    }
    CHECK(memcmp(pk, vector_signers[0].public_key, 32) == 0, "seed 0xA0..0xBF gives the vectors' signer key");
    return 0;
#endif
}

static void seal_vector(const vector *v, const seallite_signing_key *sk)
{
    const uint8_t *e = B(v->envelope);
    seallite_sealer sealer;
    fixed_random random;
    uint8_t out[2048], scratch[2048];
    size_t size = 0, need = 0, written = 0;
    unsigned mode = e[0] & 7u;
    uint64_t seq = (uint64_t)((uint32_t)e[9] << 24 | (uint32_t)e[10] << 16 | (uint32_t)e[11] << 8 | e[12]) << 32 |
                   ((uint32_t)e[13] << 24 | (uint32_t)e[14] << 16 | (uint32_t)e[15] << 8 | e[16]);
    const seallite_key *key = mode == 4 ? NULL : key_by_id(v->kid);
    int status = seallite_sealer_init(&sealer, key, mode == 2 || mode == 4 ? sk : NULL, v->sid, backend(),
                                      take_random, &random);
    CHECK(status == SEALLITE_OK, "tcId %d: sealer_init %d", v->tc_id, status);
    if (status != SEALLITE_OK) {
        return;
    }
    /* The vector's randomness is its nonce bytes; its clock and counter give exactly its seq. */
    random.bytes = e + SEALLITE_HEADER_BYTES;
    random.len = v->envelope.len - SEALLITE_HEADER_BYTES;
    sealer.sequence.last = seq - 1;
    sealer.scratch = scratch;
    sealer.scratch_len = sizeof scratch;
    status = seallite_sealed_size(&sealer, v->payload.len, v->topic.len, v->context.len, &size, &need);
    CHECK(status == SEALLITE_OK && size == v->envelope.len && need <= sizeof scratch, "tcId %d: sealed_size",
          v->tc_id);
    /* One byte short: refused, nothing written, no sequence number used. */
    memset(out, 0xEE, sizeof out);
    status = seallite_seal(&sealer, seq >> 16, B(v->payload), v->payload.len, B(v->topic), v->topic.len,
                           B(v->context), v->context.len, e[0] & 8u, out, size - 1, &written);
    CHECK(status == SEALLITE_BUFFER_TOO_SMALL && out[0] == 0xEE && sealer.sequence.last == seq - 1,
          "tcId %d: a short output buffer is refused untouched (%d)", v->tc_id, status);
    if (need > 0) {
        sealer.scratch_len = need - 1;
        status = seallite_seal(&sealer, seq >> 16, B(v->payload), v->payload.len, B(v->topic), v->topic.len,
                               B(v->context), v->context.len, e[0] & 8u, out, sizeof out, &written);
        CHECK(status == SEALLITE_BUFFER_TOO_SMALL && out[0] == 0xEE, "tcId %d: a short scratch is refused",
              v->tc_id);
        sealer.scratch_len = need;
    }
    status = seallite_seal(&sealer, seq >> 16, B(v->payload), v->payload.len, B(v->topic), v->topic.len,
                           B(v->context), v->context.len, e[0] & 8u, out, size, &written);
    CHECK(status == SEALLITE_OK && written == v->envelope.len && memcmp(out, e, written) == 0,
          "tcId %d (%s): sealed bytes differ from the vector (%d)", v->tc_id, v->comment, status);
}

typedef struct replay_slot {
    uint32_t kid, sid;
    int used;
    seallite_replay window;
} replay_slot;

/* Opens one envelope as a live reader with a replay table: open, then the window for live deliveries. */
static int open_live(seallite_opener *o, replay_slot *table, size_t slots, unsigned window, uint64_t now,
                     const vector *v, vector_bytes env, int retained, uint8_t *payload, size_t cap,
                     seallite_opened *opened, seallite_reason *reason)
{
    size_t i;
    int status = seallite_open(o, now, B(env), env.len, B(v->topic), v->topic.len,
                               v->has_context ? B(v->context) : NULL, v->context.len, retained, payload, cap, opened);
    *reason = seallite_last_reason(o);
    if (status != SEALLITE_OK || retained) {
        return status;
    }
    for (i = 0; i < slots && table[i].used && !(table[i].kid == opened->kid && table[i].sid == opened->sid); i++) {
    }
    if (i == slots) {
        return SEALLITE_INVALID_ARGUMENT;
    }
    if (!table[i].used) {
        table[i].used = 1;
        table[i].kid = opened->kid;
        table[i].sid = opened->sid;
        seallite_replay_init(&table[i].window, window);
    }
    status = seallite_replay_check(&table[i].window, opened->seq, reason);
    if (status == SEALLITE_OK) {
        seallite_replay_commit(&table[i].window, opened->seq);
    }
    return status;
}

static void open_vector(const vector *v, int scope)
{
    seallite_opener opener;
    replay_slot table[4];
    uint8_t payload[2048], scratch[4096];
    seallite_opened opened;
    seallite_reason reason = SEALLITE_REASON_NONE;
    size_t i;
    /* Vectors with window 1024 never hold more than a few messages: the compiled capacity behaves the same. */
    unsigned window = v->window < SEALLITE_REPLAY_SLOTS / 2 ? v->window : SEALLITE_REPLAY_SLOTS / 2;
    int status = seallite_opener_init(&opener, vector_keys, sizeof vector_keys / sizeof vector_keys[0],
                                      backend() ? vector_signers : NULL, backend() ? 1u : 0u, backend());
    CHECK(status == SEALLITE_OK, "opener_init %d", status);
    opener.scratch = scratch;
    opener.scratch_len = sizeof scratch;
    memset(table, 0, sizeof table);
    if (scope) {
        for (i = 0; i < v->before_count; i++) {
            status = open_live(&opener, table, 4, window, v->now, v, v->before[i], 0, payload, sizeof payload,
                               &opened, &reason);
            CHECK(status == SEALLITE_OK, "tcId %d: before[%u] opens (%s)", v->tc_id, (unsigned)i,
                  seallite_reason_name(reason));
        }
    }
    memset(&opened, 0, sizeof opened);
    status = open_live(&opener, table, 4, window, v->now, v, v->envelope, v->retained, payload, sizeof payload,
                       &opened, &reason);
    if (!scope) {
        CHECK(status == SEALLITE_REJECTED || status == SEALLITE_UNSUPPORTED, "tcId %d: out of scope: %d", v->tc_id,
              status);
        return;
    }
    if (is(v, "valid")) {
        CHECK(status == SEALLITE_OK, "tcId %d (%s): rejected as %s (%d)", v->tc_id, v->comment,
              seallite_reason_name(reason), status);
        CHECK(status != SEALLITE_OK ||
                  (opened.payload_len == v->payload.len && memcmp(payload, B(v->payload), v->payload.len) == 0 &&
                   opened.kid == v->kid && opened.sid == v->sid && opened.is_signed == v->has_signer &&
                   (!v->has_signer || opened.sid == v->signer) &&
                   opened.sealed_for_retain == ((B(v->envelope)[0] & 8u) != 0)),
              "tcId %d: payload, kid, sid or signer", v->tc_id);
    } else {
        CHECK(status == SEALLITE_REJECTED, "tcId %d (%s): status %d, expected the one rejection code", v->tc_id,
              v->comment, status);
        CHECK(strcmp(seallite_reason_name(reason), v->result) == 0, "tcId %d (%s): reason %s, expected %s",
              v->tc_id, v->comment, seallite_reason_name(reason), v->result);
    }
}

void run_vector_tests(void)
{
    seallite_signing_key sk;
    int have_signer = sealed_signing_key(&sk) == 0;
    unsigned i, sealed = 0, opened = 0, skipped = 0;
    CHECK(VECTOR_COUNT == VECTOR_NUMBER_OF_TESTS && VECTOR_COUNT >= 40, "vector count %u", VECTOR_COUNT);
    for (i = 0; i < VECTOR_COUNT; i++) {
        const vector *v = &vectors[i];
        int scope = in_scope(v);
        if (scope && is(v, "valid") && (have_signer || (B(v->envelope)[0] & 7u) == 3u)) {
            seal_vector(v, &sk);
            sealed++;
        }
        open_vector(v, scope);
        if (scope) {
            opened++;
        } else {
            skipped++;
        }
    }
    printf("vectors: %u sealed byte for byte, %u opened or rejected as specified, %u out of scope for this build\n",
           sealed, opened, skipped);
}
