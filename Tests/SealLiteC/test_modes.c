/* Round trips in every mode through the libsodium backend (full build only): sizes, empty payloads with NULL
 * pointers, every truncation, the allow callback, a failing persist hook. */
#include "test_support.h"

#ifndef SEALLITE_HMAC_ONLY
#include <sodium.h>
#include <string.h>

#include "seallite_sodium.h"

static int refuse_all(void *ctx, uint32_t id, int is_signer, const uint8_t *topic, size_t topic_len)
{
    (void)ctx, (void)id, (void)is_signer, (void)topic, (void)topic_len;
    return 0;
}

static int failing_persist(void *ctx, uint64_t bound)
{
    (void)ctx, (void)bound;
    return -1;
}

static void round_trip(const char *name, const seallite_key *key, const seallite_signing_key *sk,
                       const seallite_key *keys, size_t key_count, const seallite_signer *signer)
{
    const seallite_backend *b = seallite_sodium_backend();
    static uint8_t payload[300], out[512], opened_payload[512], scratch[1024];
    const uint8_t topic[] = "plant/7/temp";
    const uint64_t now = 1767225600000u;
    seallite_sealer s;
    seallite_opener o;
    seallite_opened info;
    size_t len, n = 0, size = 0, need = 0, cut;
    int status = seallite_sealer_init(&s, key, sk, sk ? sk->id : 0x5151, b, seallite_sodium_random, NULL);
    CHECK(status == SEALLITE_OK, "%s: sealer_init %d", name, status);
    s.scratch = scratch;
    s.scratch_len = sizeof scratch;
    CHECK(seallite_opener_init(&o, keys, key_count, signer, signer ? 1 : 0, b) == SEALLITE_OK, "%s: opener", name);
    o.scratch = scratch;
    o.scratch_len = sizeof scratch;
    for (len = 0; len < sizeof payload; len += 37) {
        seallite_sealed_size(&s, len, sizeof topic - 1, 0, &size, &need);
        randombytes_buf(payload, len);
        status = seallite_seal(&s, now, len ? payload : NULL, len, topic, sizeof topic - 1, NULL, 0, 0, out,
                               sizeof out, &n);
        CHECK(status == SEALLITE_OK && n == size, "%s: seal %u bytes: %d", name, (unsigned)len, status);
        CHECK(seallite_opened_size(&o, out, n, sizeof topic - 1, 0, &size, &need) == 0 && size == len, "%s: size",
              name);
        status = seallite_open(&o, now, out, n, topic, sizeof topic - 1, NULL, 0, 0, len ? opened_payload : NULL,
                               len, &info);
        CHECK(status == SEALLITE_OK && info.payload_len == len && memcmp(opened_payload, payload, len) == 0,
              "%s: open %u bytes: %d %s", name, (unsigned)len, status, seallite_reason_name(o.last_reason));
        CHECK(info.is_signed == (sk != NULL), "%s: signed", name);
        status = seallite_open(&o, now, out, n, topic, sizeof topic - 2, NULL, 0, 0, opened_payload,
                               sizeof opened_payload, &info);
        CHECK(status == SEALLITE_REJECTED, "%s: another topic is rejected", name);
        for (cut = 0; cut < n; cut++) {
            status = seallite_open(&o, now, out, cut, topic, sizeof topic - 1, NULL, 0, 0, opened_payload,
                                   sizeof opened_payload, &info);
            CHECK(status == SEALLITE_REJECTED && o.last_reason != SEALLITE_REASON_NONE, "%s: cut at %u", name,
                  (unsigned)cut);
        }
    }
    o.allow = refuse_all;
    status = seallite_open(&o, now, out, n, topic, sizeof topic - 1, NULL, 0, 0, opened_payload,
                           sizeof opened_payload, &info);
    CHECK(status == SEALLITE_REJECTED && (o.last_reason == SEALLITE_REASON_UNKNOWN_KEY ||
                                          o.last_reason == SEALLITE_REASON_UNTRUSTED_SIGNER),
          "%s: the allow callback refuses the key (%s)", name, seallite_reason_name(o.last_reason));
    seallite_sequence_init(&s.sequence, 0, SEALLITE_SEQ_MS(5000), failing_persist, NULL);
    out[0] = 0xEE;
    status = seallite_seal(&s, now, payload, 8, topic, sizeof topic - 1, NULL, 0, 0, out, sizeof out, &n);
    CHECK(status == SEALLITE_STORAGE_FAILED && out[0] == 0xEE, "%s: no envelope without a stored bound", name);
}

void run_mode_tests(void)
{
    seallite_key keys[3] = {{0x0101, SEALLITE_SUITE_XCHACHA20POLY1305, {1}},
                            {0x0202, SEALLITE_SUITE_AES256GCM, {2}},
                            {0x0303, SEALLITE_SUITE_HMAC_SHA256, {3}}};
    seallite_signing_key sk;
    seallite_signer signer;
    uint8_t seed[32] = {9};
    const seallite_backend *b = seallite_sodium_backend();
    CHECK(b->seed_keypair(NULL, seed, signer.public_key, sk.secret_key) == SEALLITE_OK, "keypair");
    sk.id = signer.sid = 0x0A0A;
    round_trip("xchacha", &keys[0], NULL, keys, 3, NULL);
    round_trip("xchacha+sign", &keys[0], &sk, keys, 3, &signer);
    round_trip("mac", &keys[2], NULL, keys, 3, NULL);
    round_trip("sign", NULL, &sk, keys, 3, &signer);
    if (crypto_aead_aes256gcm_is_available()) {
        round_trip("aes", &keys[1], NULL, keys, 3, NULL);
        round_trip("aes+sign", &keys[1], &sk, keys, 3, &signer);
    } else {
        printf("note: AES-256-GCM not available on this CPU; its round trips are skipped\n");
    }
    {
        seallite_signer bad = {1, {0}}; /* the identity point's encoding is small-order: refused on import */
        seallite_opener o;
        bad.public_key[0] = 1;
        CHECK(seallite_opener_init(&o, keys, 3, &bad, 1, b) == SEALLITE_INVALID_KEY, "small-order signer key");
    }
}
#else
void run_mode_tests(void)
{
}
#endif
