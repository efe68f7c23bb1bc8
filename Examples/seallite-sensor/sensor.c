/* seallite-sensor: a constrained sender's main loop on Linux, with libmosquitto and SealLite.
 *
 *   seallite-sensor publish -k HEX [-m mac|xchacha] [-t TOPIC] [-n COUNT] [-s STATEFILE] ...
 *       publishes COUNT sealed temperature readings on TOPIC
 *   seallite-sensor listen  -k HEX [-m mac|xchacha] [-c TOPIC] [-n COUNT] ...
 *       subscribes to the command TOPIC, opens every message (freshness, replay window) and prints it
 *   seallite-sensor seal    -k HEX [-m mac|xchacha] [-t TOPIC] PAYLOAD > envelope.bin
 *       writes one envelope to stdout (to publish with mosquitto_pub -f)
 *
 * Common: -h HOST (127.0.0.1) -p PORT (1883) -i KID (257) -d SID (0x5151).
 * The application supplies what SealLite does not do itself: the clock, the randomness (libsodium),
 * the sequence storage (-s: the skip-ahead bound in a file) and the MQTT transport. */
#define _POSIX_C_SOURCE 200809L
#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "seallite.h"
#include "seallite_sodium.h"

typedef struct options {
    const char *host, *topic, *command_topic, *state_file;
    int port, count, xchacha;
    uint32_t kid, sid;
    seallite_key key;
} options;

static uint64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

/* The persist hook: the bound must be on disk before the sequence number is used. */
static int persist_bound(void *ctx, uint64_t bound)
{
    const char *path = (const char *)ctx;
    char tmp[4096];
    FILE *f;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if ((f = fopen(tmp, "w")) == NULL) {
        return -1;
    }
    if (fprintf(f, "%llu\n", (unsigned long long)bound) < 0 || fflush(f) != 0 || fsync(fileno(f)) != 0) {
        fclose(f);
        return -1;
    }
    fclose(f);
    return rename(tmp, path) == 0 ? 0 : -1;
}

static uint64_t load_bound(const char *path)
{
    unsigned long long bound = 0;
    FILE *f = fopen(path, "r");
    if (f != NULL) {
        if (fscanf(f, "%llu", &bound) != 1) {
            bound = 0;
        }
        fclose(f);
    }
    return bound;
}

static int parse_key(const char *hex, uint8_t out[32])
{
    unsigned i, v;
    if (strlen(hex) != 64) {
        return -1;
    }
    for (i = 0; i < 32; i++) {
        if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
            return -1;
        }
        out[i] = (uint8_t)v;
    }
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: seallite-sensor publish|listen|seal -k HEX [-m mac|xchacha] [-t TOPIC] [-c TOPIC] "
                    "[-n COUNT] [-s STATEFILE] [-h HOST] [-p PORT] [-i KID] [-d SID] [PAYLOAD]\n");
    return 64;
}

static int make_sealer(options *o, seallite_sealer *s, uint8_t *scratch, size_t scratch_len)
{
    int status = seallite_sealer_init(s, &o->key, NULL, o->sid, seallite_sodium_backend(), seallite_sodium_random,
                                      NULL);
    if (status != SEALLITE_OK) {
        fprintf(stderr, "sealer: %d\n", status);
        return status;
    }
    if (o->state_file != NULL) {
        /* Skip-ahead: restart at the stored bound; reserve 5 s of sequence numbers per write. */
        seallite_sequence_init(&s->sequence, load_bound(o->state_file), SEALLITE_SEQ_MS(5000), persist_bound,
                               (void *)o->state_file);
    }
    s->scratch = scratch;
    s->scratch_len = scratch_len;
    return SEALLITE_OK;
}

/* Counts PUBACKs, so the sensor disconnects only once the broker has every reading. */
static void on_publish(struct mosquitto *m, void *ctx, int mid)
{
    (void)m;
    (void)mid;
    ++*(int *)ctx;
}

static int publish(options *o, struct mosquitto *m)
{
    int acked = 0;
    seallite_sealer s;
    uint8_t scratch[512], envelope[256];
    char reading[64];
    int i;
    if (make_sealer(o, &s, scratch, sizeof scratch) != SEALLITE_OK) {
        return 1;
    }
    mosquitto_user_data_set(m, &acked);
    mosquitto_publish_callback_set(m, on_publish);
    for (i = 0; i < o->count; i++) {
        size_t n = 0;
        int len = snprintf(reading, sizeof reading, "{\"temperature\":%.1f,\"n\":%d}", 20.0 + i * 0.1, i);
        int status = seallite_seal(&s, now_ms(), (const uint8_t *)reading, (size_t)len, (const uint8_t *)o->topic,
                                   strlen(o->topic), NULL, 0, 0, envelope, sizeof envelope, &n);
        if (status != SEALLITE_OK) {
            fprintf(stderr, "seal: %d\n", status);
            return 1;
        }
        if (mosquitto_publish(m, NULL, o->topic, (int)n, envelope, 1, false) != MOSQ_ERR_SUCCESS) {
            fprintf(stderr, "publish failed\n");
            return 1;
        }
        printf("published %zu bytes (%s, payload %d bytes): %s\n", n, o->xchacha ? "xchacha" : "mac", len, reading);
        mosquitto_loop(m, 10, 1);
    }
    while (acked < o->count) {
        if (mosquitto_loop(m, 1000, 1) != MOSQ_ERR_SUCCESS) {
            return 1;
        }
    }
    return 0;
}

typedef struct listener {
    seallite_opener opener;
    uint8_t scratch[512];
    struct {
        uint32_t kid, sid;
        int used;
        seallite_replay window;
    } pairs[8];
    int received, wanted, subscribed;
} listener;

static void on_subscribe(struct mosquitto *m, void *ctx, int mid, int qos_count, const int *granted_qos)
{
    (void)m;
    (void)mid;
    (void)qos_count;
    (void)granted_qos;
    ((listener *)ctx)->subscribed = 1;
}

static void on_message(struct mosquitto *m, void *ctx, const struct mosquitto_message *msg)
{
    listener *l = (listener *)ctx;
    uint8_t payload[256];
    seallite_opened info;
    seallite_reason reason = SEALLITE_REASON_NONE;
    int status, i;
    (void)m;
    l->received++;
    status = seallite_open(&l->opener, now_ms(), (const uint8_t *)msg->payload, (size_t)msg->payloadlen,
                           (const uint8_t *)msg->topic, strlen(msg->topic), NULL, 0, msg->retain, payload,
                           sizeof payload, &info);
    reason = seallite_last_reason(&l->opener);
    if (status == SEALLITE_OK && !msg->retain) {
        for (i = 0; i < 8 && l->pairs[i].used && !(l->pairs[i].kid == info.kid && l->pairs[i].sid == info.sid); i++) {
        }
        if (i == 8) {
            i = 0; /* a real device evicts with a global floor (spec 6); the example reuses slot 0 */
            l->pairs[0].used = 0;
        }
        if (!l->pairs[i].used) {
            l->pairs[i].used = 1;
            l->pairs[i].kid = info.kid;
            l->pairs[i].sid = info.sid;
            seallite_replay_init(&l->pairs[i].window, 8);
        }
        status = seallite_replay_check(&l->pairs[i].window, info.seq, &reason);
        if (status == SEALLITE_OK) {
            seallite_replay_commit(&l->pairs[i].window, info.seq);
        }
    }
    if (status == SEALLITE_OK) {
        printf("opened %s (kid %u, sid %u): %.*s\n", msg->topic, (unsigned)info.kid, (unsigned)info.sid,
               (int)info.payload_len, (const char *)payload);
    } else {
        printf("rejected %d bytes on %s: %s (code %d)\n", msg->payloadlen, msg->topic, seallite_reason_name(reason),
               status);
    }
    fflush(stdout);
}

static int listen_commands(options *o, struct mosquitto *m)
{
    static listener l; /* the application's RAM, not the library's */
    memset(&l, 0, sizeof l);
    if (seallite_opener_init(&l.opener, &o->key, 1, NULL, 0, seallite_sodium_backend()) != SEALLITE_OK) {
        return 1;
    }
    l.opener.scratch = l.scratch;
    l.opener.scratch_len = sizeof l.scratch;
    l.wanted = o->count;
    mosquitto_user_data_set(m, &l);
    mosquitto_message_callback_set(m, on_message);
    mosquitto_subscribe_callback_set(m, on_subscribe);
    if (mosquitto_subscribe(m, NULL, o->command_topic, 1) != MOSQ_ERR_SUCCESS) {
        return 1;
    }
    while (!l.subscribed) { /* "listening" only once the broker granted the subscription (SUBACK) */
        if (mosquitto_loop(m, 1000, 1) != MOSQ_ERR_SUCCESS) {
            return 1;
        }
    }
    printf("listening on %s\n", o->command_topic);
    fflush(stdout);
    while (l.received < l.wanted) {
        if (mosquitto_loop(m, 1000, 1) != MOSQ_ERR_SUCCESS) {
            return 1;
        }
    }
    return 0;
}

static int seal_stdout(options *o, const char *text)
{
    seallite_sealer s;
    uint8_t scratch[512], envelope[512];
    size_t n = 0;
    int status;
    if (make_sealer(o, &s, scratch, sizeof scratch) != SEALLITE_OK || strlen(text) > 400) {
        return 1;
    }
    status = seallite_seal(&s, now_ms(), (const uint8_t *)text, strlen(text), (const uint8_t *)o->topic,
                           strlen(o->topic), NULL, 0, 0, envelope, sizeof envelope, &n);
    if (status != SEALLITE_OK || fwrite(envelope, 1, n, stdout) != n) {
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    options o = {"127.0.0.1", "sensors/demo/telemetry", "sensors/demo/command", NULL, 1883, 5, 0, 257, 0x5151,
                 {0, SEALLITE_SUITE_HMAC_SHA256, {0}}};
    const char *command, *key_hex = NULL;
    struct mosquitto *m;
    int c, rc;
    if (argc < 2) {
        return usage();
    }
    command = argv[1];
    optind = 2;
    while ((c = getopt(argc, argv, "k:m:t:c:n:s:h:p:i:d:")) != -1) {
        switch (c) {
        case 'k': key_hex = optarg; break;
        case 'm': o.xchacha = strcmp(optarg, "xchacha") == 0; break;
        case 't': o.topic = optarg; break;
        case 'c': o.command_topic = optarg; break;
        case 'n': o.count = atoi(optarg); break;
        case 's': o.state_file = optarg; break;
        case 'h': o.host = optarg; break;
        case 'p': o.port = atoi(optarg); break;
        case 'i': o.kid = (uint32_t)strtoul(optarg, NULL, 0); break;
        case 'd': o.sid = (uint32_t)strtoul(optarg, NULL, 0); break;
        default: return usage();
        }
    }
    if (key_hex == NULL || parse_key(key_hex, o.key.bytes) != 0) {
        fprintf(stderr, "seallite-sensor: -k takes a 32-byte key as 64 hex digits\n");
        return usage();
    }
    o.key.kid = o.kid;
    o.key.suite = o.xchacha ? SEALLITE_SUITE_XCHACHA20POLY1305 : SEALLITE_SUITE_HMAC_SHA256;
    if (seallite_sodium_init() != SEALLITE_OK) {
        return 70;
    }
    if (strcmp(command, "seal") == 0) {
        return optind < argc ? seal_stdout(&o, argv[optind]) : usage();
    }
    mosquitto_lib_init();
    m = mosquitto_new(NULL, true, NULL);
    if (m == NULL || mosquitto_connect(m, o.host, o.port, 30) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "seallite-sensor: cannot connect to %s:%d\n", o.host, o.port);
        return 69;
    }
    if (strcmp(command, "publish") == 0) {
        rc = publish(&o, m);
    } else if (strcmp(command, "listen") == 0) {
        rc = listen_commands(&o, m);
    } else {
        rc = usage();
    }
    mosquitto_disconnect(m);
    mosquitto_loop(m, 100, 1);
    mosquitto_destroy(m);
    mosquitto_lib_cleanup();
    return rc;
}
