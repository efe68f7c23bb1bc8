/* Unit tests: SHA-256 and HMAC known answers, the sequence counter with skip-ahead, the replay window,
 * size functions and misuse codes. */
#include <string.h>

#include "seallite.h"
#include "test_support.h"

static void hex(const char *h, uint8_t *out, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
}

static void test_sha256(void)
{
    static const struct {
        const char *m;
        const char *digest;
    } kat[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrst"
         "nopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    };
    unsigned i;
    uint8_t d[32], want[32];
    for (i = 0; i < sizeof kat / sizeof kat[0]; i++) {
        seallite_sha256((const uint8_t *)kat[i].m, strlen(kat[i].m), d);
        hex(kat[i].digest, want, 32);
        CHECK(memcmp(d, want, 32) == 0, "SHA-256 known answer %u", i);
    }
}

/* RFC 4231 test cases 1, 2, 3 and 6 (a 131-byte key, hashed first). */
static void test_hmac(void)
{
    uint8_t key[131], msg[64], tag[32], want[32];
    memset(key, 0x0b, 20);
    seallite_hmac_sha256(key, 20, (const uint8_t *)"Hi There", 8, tag);
    hex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", want, 32);
    CHECK(memcmp(tag, want, 32) == 0, "RFC 4231 case 1");
    seallite_hmac_sha256((const uint8_t *)"Jefe", 4, (const uint8_t *)"what do ya want for nothing?", 28, tag);
    hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", want, 32);
    CHECK(memcmp(tag, want, 32) == 0, "RFC 4231 case 2");
    memset(key, 0xaa, 20);
    memset(msg, 0xdd, 50);
    seallite_hmac_sha256(key, 20, msg, 50, tag);
    hex("773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe", want, 32);
    CHECK(memcmp(tag, want, 32) == 0, "RFC 4231 case 3");
    memset(key, 0xaa, 131);
    seallite_hmac_sha256(key, 131, (const uint8_t *)"Test Using Larger Than Block-Size Key - Hash Key First", 54,
                         tag);
    hex("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", want, 32);
    CHECK(memcmp(tag, want, 32) == 0, "RFC 4231 case 6");
    CHECK(seallite_equal(want, tag, 32) == 1, "equal");
    tag[31] ^= 1;
    CHECK(seallite_equal(want, tag, 32) == 0, "one bit differs");
    CHECK(seallite_equal(want, tag, 0) == 1, "empty");
}

typedef struct storage {
    uint64_t stored;
    int writes;
    int fail;
} storage;

static int persist(void *ctx, uint64_t bound)
{
    storage *s = (storage *)ctx;
    if (s->fail) {
        return -1;
    }
    s->stored = bound;
    s->writes++;
    return 0;
}

static void test_sequence(void)
{
    seallite_sequence q;
    storage st = {0, 0, 0};
    uint64_t seq = 0, last = 0, t = 1767225600000u, before_reboot;
    int i;
    seallite_sequence_init(&q, 0, 0, NULL, NULL);
    CHECK(seallite_sequence_next(&q, t, &seq) == 0 && seq == t << 16, "first value is now << 16");
    CHECK(seallite_sequence_next(&q, t, &seq) == 0 && seq == (t << 16) + 1, "same millisecond counts up");
    CHECK(seallite_sequence_next(&q, t - 5000, &seq) == 0 && seq == (t << 16) + 2, "clock back: keeps increasing");
    CHECK(seallite_sequence_next(&q, (uint64_t)1 << 48, &seq) == SEALLITE_INVALID_ARGUMENT, "48-bit timestamps");

    /* Skip-ahead: storage is written once per step of progress, never before the value is used. */
    seallite_sequence_init(&q, 0, SEALLITE_SEQ_MS(5000), persist, &st);
    for (i = 0; i < 1000; i++) {
        CHECK(seallite_sequence_next(&q, t + (uint64_t)i, &seq) == 0 && seq > last && seq < st.stored, "value %d", i);
        last = seq;
    }
    CHECK(st.writes == 1, "1 s of traffic within a 5 s step: one write (%d)", st.writes);
    CHECK(seallite_sequence_next(&q, t + 6000, &seq) == 0 && st.writes == 2 && seq < st.stored, "next step");
    before_reboot = seq;
    /* Reboot with the clock an hour behind: the counter restarts at the stored bound, never below. */
    seallite_sequence_init(&q, st.stored, SEALLITE_SEQ_MS(5000), persist, &st);
    CHECK(seallite_sequence_next(&q, t - 3600000u, &seq) == 0 && seq > before_reboot && seq < st.stored,
          "after reboot: above every value used before");
    CHECK(st.writes == 3, "the restart reserved a new bound first");
    st.fail = 1;
    last = q.last;
    CHECK(seallite_sequence_next(&q, t + 20000, &seq) == SEALLITE_STORAGE_FAILED && q.last == last,
          "a failed write hands out nothing");
}

static void test_replay(void)
{
    seallite_replay r;
    seallite_reason why;
    uint64_t base = (uint64_t)1767225600000u << 16;
    unsigned i;
    seallite_replay_init(&r, 2);
    CHECK(seallite_replay_check(&r, base + 5, &why) == 0, "new");
    seallite_replay_commit(&r, base + 5);
    CHECK(seallite_replay_check(&r, base + 5, &why) == SEALLITE_REJECTED && why == SEALLITE_REASON_REPLAYED,
          "replayed");
    CHECK(seallite_replay_check(&r, base + 3, &why) == 0, "older, above the floor: accepted out of order");
    seallite_replay_commit(&r, base + 3);
    for (i = 6; i < 8; i++) {
        seallite_replay_commit(&r, base + i);
    }
    /* 4 held with window 2: floor raised to the 2nd smallest (base + 5), both forgotten. */
    CHECK(r.floor == base + 5 && r.count == 2, "floor %llu count %u", (unsigned long long)(r.floor - base),
          r.count);
    CHECK(seallite_replay_check(&r, base + 4, &why) == SEALLITE_REJECTED && why == SEALLITE_REASON_OUTSIDE_WINDOW,
          "below the floor");
    CHECK(seallite_replay_check(&r, base + 7, &why) == SEALLITE_REJECTED && why == SEALLITE_REASON_REPLAYED,
          "still remembered");
    seallite_replay_init(&r, 1000);
    CHECK(r.window == SEALLITE_REPLAY_SLOTS / 2, "window clamped to the capacity");
    for (i = 0; i < 100; i++) {
        seallite_replay_commit(&r, base + 100 - i); /* descending: every one is new and above the floor */
    }
    CHECK(r.count < SEALLITE_REPLAY_SLOTS, "never overflows");
}

static void test_misuse(void)
{
    seallite_key hmac = {7, SEALLITE_SUITE_HMAC_SHA256, {0}};
    seallite_key ed = {8, SEALLITE_SUITE_ED25519, {0}};
    seallite_signing_key sk = {9, {0}};
    seallite_sealer s;
    seallite_opener o;
    uint8_t out[64], payload[8] = {1, 2, 3, 4, 5, 6, 7, 8}, opened_payload[8];
    size_t size = 0, scratch = 1, n = 0;
    seallite_opened info;
    CHECK(seallite_sealer_init(&s, &hmac, &sk, 9, NULL, NULL, NULL) == SEALLITE_INVALID_CONFIGURATION, "hmac+sign");
    CHECK(seallite_sealer_init(&s, &ed, NULL, 9, NULL, NULL, NULL) == SEALLITE_INVALID_KEY, "ed25519 symmetric");
    CHECK(seallite_sealer_init(&s, &hmac, NULL, 0x5151, NULL, NULL, NULL) == 0, "mac sealer");
    CHECK(seallite_sealed_size(&s, 8, 3, 0, &size, &scratch) == 0 && size == 57 && scratch == 0, "n + 49, no scratch");
    CHECK(seallite_sealed_size(&s, SEALLITE_MAX_PAYLOAD_BYTES + 1u, 3, 0, &size, NULL) == SEALLITE_INVALID_ARGUMENT,
          "payload limit");
    CHECK(seallite_sealed_size(&s, 0, 65536, 0, &size, NULL) == SEALLITE_INVALID_ARGUMENT, "topic limit");
    CHECK(seallite_seal(&s, 1767225600000u, payload, 8, (const uint8_t *)"a/b", 3, NULL, 0, 0, out, sizeof out, &n) ==
              0 && n == 57,
          "mac seal");
    CHECK(seallite_opener_init(&o, &hmac, 1, NULL, 0, NULL) == 0, "mac opener without backend");
    CHECK(seallite_opened_size(&o, out, n, 3, 0, &size, &scratch) == 0 && size == 8 && scratch == 0, "opened size");
    memset(opened_payload, 0xEE, sizeof opened_payload);
    CHECK(seallite_open(&o, 1767225600000u, out, n, (const uint8_t *)"a/b", 3, NULL, 0, 0, opened_payload, 7,
                        &info) == SEALLITE_BUFFER_TOO_SMALL && opened_payload[0] == 0xEE,
          "short payload buffer refused untouched");
    CHECK(seallite_open(&o, 1767225600000u, out, n, (const uint8_t *)"a/b", 3, NULL, 0, 0, opened_payload, 8,
                        &info) == 0 && memcmp(opened_payload, payload, 8) == 0 && info.mode == SEALLITE_MODE_MAC,
          "round trip");
    out[20] ^= 1;
    CHECK(seallite_open(&o, 1767225600000u, out, n, (const uint8_t *)"a/b", 3, NULL, 0, 0, opened_payload, 8,
                        &info) == SEALLITE_REJECTED &&
              seallite_last_reason(&o) == SEALLITE_REASON_AUTHENTICATION_FAILED,
          "tampered");
    CHECK(seallite_open(&o, 1767225600000u, out, n, (const uint8_t *)"a/b", 65536, NULL, 0, 0, opened_payload, 8,
                        &info) == SEALLITE_REJECTED && seallite_last_reason(&o) == SEALLITE_REASON_BAD_TOPIC,
          "bad topic");
}

void run_unit_tests(void)
{
    test_sha256();
    test_hmac();
    test_sequence();
    test_replay();
    test_misuse();
}
