// The C reference for sealed MQTT: libmosquitto + libsodium through SealLite (Sources/SealLite), the envelope
// the Swift sealed client is compared against. Same structure as libmosquitto-baseline.c: one publisher and one
// subscriber mosquitto client in one process, each with its own network thread, publisher -> broker ->
// subscriber on topic "baseline/t". The publisher seals every message right before mosquitto_publish (a fresh
// random nonce each time, seallite_sodium_random); the subscriber opens every message (seallite_open with the
// topic and the delivery's retain flag, signatures verified in the signed modes) and runs the replay window
// (seallite_replay_check, then seallite_replay_commit; window 256). Only messages that pass all of it count as
// `received`; the others count as `failures`. One preallocated envelope/scratch/output buffer per side.
//
// Usage: libmosquitto-sealed PORT QOS SIZE COUNT MODE [RATE]
//   MODE  plain         the payload unsealed (the plaintext C figure from the same binary)
//         xchacha       encrypt, XChaCha20-Poly1305
//         aes           encrypt, AES-256-GCM (exits 69 where SealLite/libsodium has no AES-NI support)
//         hmac          mac, HMAC-SHA256
//         encrypt+sign  XChaCha20-Poly1305 + Ed25519
//         sign          Ed25519 only
//   The keys are generated at start (randombytes_buf, crypto_sign_keypair) and shared by both clients.
//   SIZE bytes of payload; when SIZE >= 8 the first 8 bytes hold the message index.
//   QoS 1/2: at most 20 unacknowledged publishes, like the baseline.
//   RATE  msg/s, optional, default 0 = as fast as possible. RATE > 0 runs open loop: message i is due at
//         start + i/RATE (clock_nanosleep on CLOCK_MONOTONIC, TIMER_ABSTIME), its intended send time
//         (CLOCK_MONOTONIC ns, uint64) is written at payload offset 8 (so SIZE >= 16), and latency is the time
//         the verified payload reaches the application minus that intended time (no coordinated omission).
//         Also reported: how late the pacer got to each message (included in the latencies).
// Prints one line:
//   result client=libmosquitto-seallite mode=M qos=Q size=S sent=N received=R failures=F lost=L seconds=T
//   msg_per_s=X publish_msg_per_s=Y [rate=.. latency_p50_us=.. latency_p99_us=.. latency_p999_us=..
//   pacer_late_p50_us=.. pacer_late_p99_us=..]
// lost = sent - received - failures (never delivered, or still missing 3 s after the last arrival).
// Exit: 0 measured, 64 bad arguments, 69 AES-256-GCM unsupported on this CPU, 70 internal error, 74 broker
// unreachable.
//
// Build (from the repository root, one command line; -DSEALLITE_REPLAY_SLOTS=512 because the default of 16
// slots clamps the replay window to 8 and a window of 256 needs 2 * 256; it must be the same for every SealLite
// file, which compiling them all in this one command ensures):
//   lib=$(ldconfig -p | awk '/libmosquitto\.so\.1 /{print $NF; exit}'); gcc -O2 -std=c99 -D_POSIX_C_SOURCE=200809L -DSEALLITE_REPLAY_SLOTS=512 -Wall -Wextra -I Sources/SealLite/include -o /tmp/sealed-ref Benchmarks/MQTTBaseline/libmosquitto-sealed.c Sources/SealLite/*.c "$lib" -lsodium -lpthread
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "mosquitto-min.h"
#include "seallite.h"
#include "seallite_sodium.h"

#define REPLAY_WINDOW 256u
#if SEALLITE_REPLAY_SLOTS < 2 * REPLAY_WINDOW
#error "build with -DSEALLITE_REPLAY_SLOTS=512: a replay window of 256 needs 512 slots"
#endif

enum mode { MODE_PLAIN, MODE_XCHACHA, MODE_AES, MODE_HMAC, MODE_ENCRYPT_SIGN, MODE_SIGN };
static const char *const mode_names[] = {"plain", "xchacha", "aes", "hmac", "encrypt+sign", "sign"};

static const char topic[] = "baseline/t";
#define TOPIC_LEN (sizeof topic - 1)
#define KEY_ID 1u
#define SIGNER_ID 2u
#define SENDER_ID 7u /* sid of the unsigned modes */

// Run parameters (set before the clients start, read-only afterwards).
static enum mode mode;
static size_t size;
static long count;
static bool open_loop;

// Subscriber state: touched only by the subscriber's network thread until mosquitto_loop_stop joins it.
static seallite_opener opener;
static seallite_replay replay;
static uint8_t *sub_payload;
static size_t sub_payload_cap;
static uint32_t expect_kid, expect_sid;
static int64_t *latency_ns; // open loop: one per verified message, indexed by the `received` count
static seallite_reason first_reason = SEALLITE_REASON_NONE;
static int first_status = SEALLITE_OK;

static atomic_long received, failures, acknowledged;
static atomic_bool subscribed;
static _Atomic double last_arrival;

static uint64_t mono_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static double now(void) { return (double)mono_ns() / 1e9; }

// Unix milliseconds: the envelope's clock (sequence numbers, freshness).
static uint64_t wall_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

static void pause_ns(long ns) {
    struct timespec t = {ns / 1000000000L, ns % 1000000000L};
    nanosleep(&t, NULL);
}

static void fail(int status, seallite_reason reason) {
    if (atomic_fetch_add(&failures, 1) == 0) {
        first_status = status;
        first_reason = reason;
    }
}

static void on_message(struct mosquitto *m, void *o, const struct mosquitto_message *message) {
    (void)m, (void)o;
    const uint8_t *payload;
    if (mode == MODE_PLAIN) {
        if ((size_t)message->payloadlen != size) {
            fail(SEALLITE_REJECTED, SEALLITE_REASON_MALFORMED);
            return;
        }
        payload = message->payload;
    } else {
        seallite_opened info;
        seallite_reason reason = SEALLITE_REASON_NONE;
        int status = seallite_open(&opener, wall_ms(), message->payload, (size_t)message->payloadlen,
                                   (const uint8_t *)message->topic, strlen(message->topic), NULL, 0,
                                   message->retain, sub_payload, sub_payload_cap, &info);
        if (status != SEALLITE_OK) {
            fail(status, seallite_last_reason(&opener));
            return;
        }
        // One replay window: this run has a single (kid, sid) pair; anything else is a failure.
        if (info.kid != expect_kid || info.sid != expect_sid || info.payload_len != size ||
            info.is_signed != (mode == MODE_ENCRYPT_SIGN || mode == MODE_SIGN)) {
            fail(SEALLITE_REJECTED, SEALLITE_REASON_MALFORMED);
            return;
        }
        if ((status = seallite_replay_check(&replay, info.seq, &reason)) != SEALLITE_OK) {
            fail(status, reason);
            return;
        }
        seallite_replay_commit(&replay, info.seq);
        payload = sub_payload;
    }
    // Verified: this is when the payload reaches the application.
    uint64_t arrival = mono_ns();
    long index = atomic_fetch_add(&received, 1);
    if (open_loop && index < count) {
        uint64_t intended;
        memcpy(&intended, payload + 8, sizeof intended);
        latency_ns[index] = (int64_t)(arrival - intended);
    }
    atomic_store(&last_arrival, (double)arrival / 1e9);
}

static void on_publish(struct mosquitto *m, void *o, int mid) {
    (void)m, (void)o, (void)mid;
    atomic_fetch_add(&acknowledged, 1);
}

static void on_subscribe(struct mosquitto *m, void *o, int mid, int n, const int *granted) {
    (void)m, (void)o, (void)mid, (void)n, (void)granted;
    atomic_store(&subscribed, true);
}

static int compare_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

// Nearest-rank percentile (per_mille: 500 = p50, 999 = p99.9) of sorted ns values, in microseconds (0 if none).
static double percentile_us(const int64_t *sorted, long n, long per_mille) {
    if (n <= 0) return 0;
    long rank = (per_mille * n + 999) / 1000; // ceil(p * n)
    if (rank < 1) rank = 1;
    if (rank > n) rank = n;
    return (double)sorted[rank - 1] / 1000.0;
}

static bool parse_long(const char *s, long min, long max, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) return false;
    *out = v;
    return true;
}

static int bad(const char *sentence) {
    fprintf(stderr, "libmosquitto-sealed: %s\n", sentence);
    return 64;
}

int main(int argc, char **argv) {
    if (argc != 6 && argc != 7) {
        fprintf(stderr, "usage: %s PORT QOS SIZE COUNT plain|xchacha|aes|hmac|encrypt+sign|sign [RATE]\n", argv[0]);
        return 64;
    }
    long port, qos, size_arg;
    double rate = 0;
    if (!parse_long(argv[1], 1, 65535, &port)) return bad("PORT must be a whole number from 1 to 65535.");
    if (!parse_long(argv[2], 0, 2, &qos)) return bad("QOS must be 0, 1 or 2.");
    if (!parse_long(argv[3], 0, (long)SEALLITE_MAX_PAYLOAD_BYTES, &size_arg))
        return bad("SIZE must be a whole number of bytes from 0 to 268435346.");
    if (!parse_long(argv[4], 1, 10000000, &count)) return bad("COUNT must be a whole number from 1 to 10000000.");
    size = (size_t)size_arg;
    int m = -1;
    for (int i = 0; i < (int)(sizeof mode_names / sizeof *mode_names); i++)
        if (strcmp(argv[5], mode_names[i]) == 0) m = i;
    if (m < 0) return bad("MODE must be plain, xchacha, aes, hmac, encrypt+sign or sign.");
    mode = (enum mode)m;
    if (argc == 7) {
        char *end;
        errno = 0;
        rate = strtod(argv[6], &end);
        if (errno || end == argv[6] || *end || !(rate >= 0) || rate > 1e9)
            return bad("RATE must be a number of messages per second from 0 to 1e9 (0: as fast as possible).");
    }
    open_loop = rate > 0;
    if (open_loop && size < 16) return bad("open loop (RATE > 0) needs SIZE >= 16 for the index and send time.");

    // Keys, sealer and opener (all before any network traffic).
    if (seallite_sodium_init() != SEALLITE_OK) {
        fprintf(stderr, "libmosquitto-sealed: sodium_init failed\n");
        return 70;
    }
    const seallite_backend *backend = seallite_sodium_backend();
    static seallite_key key;
    static seallite_signing_key signing_key;
    static seallite_signer signer;
    static seallite_sealer sealer;
    bool use_key = mode == MODE_XCHACHA || mode == MODE_AES || mode == MODE_HMAC || mode == MODE_ENCRYPT_SIGN;
    bool use_signer = mode == MODE_ENCRYPT_SIGN || mode == MODE_SIGN;
    key.kid = KEY_ID;
    key.suite = mode == MODE_AES    ? SEALLITE_SUITE_AES256GCM
                : mode == MODE_HMAC ? SEALLITE_SUITE_HMAC_SHA256
                                    : SEALLITE_SUITE_XCHACHA20POLY1305;
    randombytes_buf(key.bytes, sizeof key.bytes);
    signing_key.id = SIGNER_ID;
    signer.sid = SIGNER_ID;
    if (crypto_sign_keypair(signer.public_key, signing_key.secret_key) != 0) {
        fprintf(stderr, "libmosquitto-sealed: crypto_sign_keypair failed\n");
        return 70;
    }
    // In signed modes sid is the signing key's id; in mode sign the kid is that id too (SealLite sets it).
    expect_sid = use_signer ? SIGNER_ID : SENDER_ID;
    expect_kid = use_key ? KEY_ID : SIGNER_ID;

    uint8_t *payload = calloc(1, size + 16);
    uint8_t *envelope = NULL, *pub_scratch = NULL, *sub_scratch = NULL;
    size_t envelope_cap = 0;
    if (!payload) return 70;
    if (mode != MODE_PLAIN) {
        int status = seallite_sealer_init(&sealer, use_key ? &key : NULL, use_signer ? &signing_key : NULL,
                                          expect_sid, backend, seallite_sodium_random, NULL);
        size_t scratch_len = 0;
        if (status == SEALLITE_OK)
            status = seallite_sealed_size(&sealer, size, TOPIC_LEN, 0, &envelope_cap, &scratch_len);
        if (status != SEALLITE_OK || envelope_cap > 268435455u) {
            fprintf(stderr, "libmosquitto-sealed: cannot set up the sealer (status %d)\n", status);
            return 70;
        }
        envelope = calloc(1, envelope_cap);
        pub_scratch = calloc(1, scratch_len + 1);
        if (!envelope || !pub_scratch) return 70;
        sealer.scratch = pub_scratch; // seallite_sealer_init() resets it: set it afterwards
        sealer.scratch_len = scratch_len;
        status = seallite_opener_init(&opener, use_key ? &key : NULL, use_key ? 1 : 0, use_signer ? &signer : NULL,
                                      use_signer ? 1 : 0, backend);
        if (status != SEALLITE_OK) {
            fprintf(stderr, "libmosquitto-sealed: cannot set up the opener (status %d)\n", status);
            return 70;
        }
        seallite_replay_init(&replay, REPLAY_WINDOW);
        if (replay.window != REPLAY_WINDOW) {
            fprintf(stderr, "libmosquitto-sealed: SealLite was built with too few SEALLITE_REPLAY_SLOTS\n");
            return 70;
        }
        // One probe envelope: finds out whether the suite works on this CPU (AES-NI), sizes the subscriber's
        // buffers with seallite_opened_size() and checks that the keys open what they seal. It is not
        // committed to the replay window and never published.
        size_t probe_len = 0, open_payload = 0, open_scratch = 0;
        status = seallite_seal(&sealer, wall_ms(), payload, size, (const uint8_t *)topic, TOPIC_LEN, NULL, 0, 0,
                               envelope, envelope_cap, &probe_len);
        if (status == SEALLITE_UNSUPPORTED) {
            fprintf(stderr, "libmosquitto-sealed: mode %s is not supported here (SealLite returned "
                            "SEALLITE_UNSUPPORTED%s)\n",
                    mode_names[mode], mode == MODE_AES ? ": libsodium has no AES-256-GCM without AES-NI" : "");
            return 69;
        }
        if (status == SEALLITE_OK)
            status = seallite_opened_size(&opener, envelope, probe_len, TOPIC_LEN, 0, &open_payload, &open_scratch);
        if (status != SEALLITE_OK) {
            fprintf(stderr, "libmosquitto-sealed: probe seal failed (status %d)\n", status);
            return 70;
        }
        sub_payload_cap = open_payload;
        sub_payload = calloc(1, open_payload + 16);
        sub_scratch = calloc(1, open_scratch + 1);
        if (!sub_payload || !sub_scratch) return 70;
        opener.scratch = sub_scratch;
        opener.scratch_len = open_scratch;
        seallite_opened info;
        status = seallite_open(&opener, wall_ms(), envelope, probe_len, (const uint8_t *)topic, TOPIC_LEN, NULL, 0,
                               0, sub_payload, sub_payload_cap, &info);
        if (status != SEALLITE_OK || info.payload_len != size) {
            fprintf(stderr, "libmosquitto-sealed: the probe envelope did not open (status %d, %s)\n", status,
                    seallite_reason_name(seallite_last_reason(&opener)));
            return 70;
        }
    }
    int64_t *late_ns = NULL;
    if (open_loop) {
        // Preallocated and touched now, so no page faults during the run.
        latency_ns = malloc((size_t)count * sizeof *latency_ns);
        late_ns = malloc((size_t)count * sizeof *late_ns);
        if (!latency_ns || !late_ns) return 70;
        memset(latency_ns, 0, (size_t)count * sizeof *latency_ns);
        memset(late_ns, 0, (size_t)count * sizeof *late_ns);
    }

    mosquitto_lib_init();
    struct mosquitto *sub = mosquitto_new("c-sealed-sub", true, NULL);
    struct mosquitto *pub = mosquitto_new("c-sealed-pub", true, NULL);
    if (!sub || !pub) return 74;
    mosquitto_message_callback_set(sub, on_message);
    mosquitto_subscribe_callback_set(sub, on_subscribe);
    mosquitto_publish_callback_set(pub, on_publish);
    if (mosquitto_connect(sub, "127.0.0.1", (int)port, 60) || mosquitto_connect(pub, "127.0.0.1", (int)port, 60)) {
        fprintf(stderr, "libmosquitto-sealed: cannot connect to 127.0.0.1:%ld\n", port);
        return 74;
    }
    mosquitto_loop_start(sub);
    mosquitto_loop_start(pub);
    mosquitto_subscribe(sub, NULL, topic, (int)qos);
    for (int i = 0; i < 1000 && !atomic_load(&subscribed); i++) pause_ns(5000000);
    if (!atomic_load(&subscribed)) {
        fprintf(stderr, "libmosquitto-sealed: no SUBACK from 127.0.0.1:%ld\n", port);
        return 74;
    }

    uint64_t start_ns = mono_ns();
    double start = (double)start_ns / 1e9;
    for (long i = 0; i < count; i++) {
        uint64_t intended = 0;
        if (open_loop) {
            intended = start_ns + (uint64_t)((double)i * 1e9 / rate);
            struct timespec due = {(time_t)(intended / 1000000000u), (long)(intended % 1000000000u)};
            while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &due, NULL) == EINTR) {
            }
        }
        // At most 20 unacknowledged (mosquitto's default max_inflight_messages), as bench-mqtt does.
        if (qos > 0)
            while (i - atomic_load(&acknowledged) >= 20) pause_ns(0);
        if (open_loop) {
            late_ns[i] = (int64_t)(mono_ns() - intended);
            memcpy(payload + 8, &intended, sizeof intended);
        }
        if (size >= 8) {
            uint64_t index = (uint64_t)i;
            memcpy(payload, &index, sizeof index);
        }
        const void *wire = payload;
        size_t wire_len = size;
        if (mode != MODE_PLAIN) {
            int status = seallite_seal(&sealer, wall_ms(), payload, size, (const uint8_t *)topic, TOPIC_LEN, NULL,
                                       0, 0, envelope, envelope_cap, &wire_len);
            if (status != SEALLITE_OK) {
                fprintf(stderr, "libmosquitto-sealed: seallite_seal failed at message %ld (status %d)\n", i, status);
                return 70;
            }
            wire = envelope;
        }
        while (mosquitto_publish(pub, NULL, topic, (int)wire_len, wire, (int)qos, false) != 0) pause_ns(100000);
    }
    double published = now();
    // Wait for the rest, bounded: 3 s without a new arrival (verified or not) ends the run.
    long seen = -1;
    double idle = now();
    while (atomic_load(&received) + atomic_load(&failures) < count && now() - idle < 3) {
        long r = atomic_load(&received) + atomic_load(&failures);
        if (r != seen) {
            seen = r;
            idle = now();
        }
        pause_ns(1000000);
    }
    long got = atomic_load(&received), bad_count = atomic_load(&failures);
    double end = atomic_load(&last_arrival);
    if (end <= start) end = now();
    mosquitto_disconnect(sub);
    mosquitto_disconnect(pub);
    mosquitto_loop_stop(sub, true);
    mosquitto_loop_stop(pub, true);
    // The network threads are joined: the subscriber's state is stable from here on.
    if (bad_count > 0)
        fprintf(stderr, "libmosquitto-sealed: %ld messages failed; the first: status %d, reason %s\n", bad_count,
                first_status, seallite_reason_name(first_reason));

    char extra[320] = "";
    if (open_loop) {
        long n = got < count ? got : count;
        qsort(latency_ns, (size_t)n, sizeof *latency_ns, compare_i64);
        qsort(late_ns, (size_t)count, sizeof *late_ns, compare_i64);
        snprintf(extra, sizeof extra,
                 " rate=%g latency_p50_us=%.1f latency_p99_us=%.1f latency_p999_us=%.1f pacer_late_p50_us=%.1f "
                 "pacer_late_p99_us=%.1f",
                 rate, percentile_us(latency_ns, n, 500), percentile_us(latency_ns, n, 990),
                 percentile_us(latency_ns, n, 999), percentile_us(late_ns, count, 500),
                 percentile_us(late_ns, count, 990));
    }
    printf("result client=libmosquitto-seallite mode=%s qos=%ld size=%zu sent=%ld received=%ld failures=%ld lost=%ld "
           "seconds=%.3f msg_per_s=%.0f publish_msg_per_s=%.0f%s\n",
           mode_names[mode], qos, size, count, got, bad_count, count - got - bad_count, end - start,
           (double)got / (end - start), (double)count / (published - start), extra);
    free(payload);
    free(envelope);
    free(pub_scratch);
    free(sub_scratch);
    free(sub_payload);
    free(latency_ns);
    free(late_ns);
    return 0;
}
