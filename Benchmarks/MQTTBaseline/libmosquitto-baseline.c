// The C reference for `mqtt-seal bench-mqtt`: one libmosquitto publisher and one subscriber in one process
// (each with its own network thread), publisher -> broker -> subscriber on loopback, like DESIGN.md §6's
// figures. Scripts/bench-mqtt-baseline runs it alternately with `mqtt-seal bench-mqtt` against one broker and
// prints the ratio. Usage: libmosquitto-baseline PORT QOS SIZE COUNT; prints one `result` line.
//
// libmosquitto's header is not needed (Debian ships it only in libmosquitto-dev); the few calls are declared
// in mosquitto-min.h and the program links against the runtime library libmosquitto.so.1 that mosquitto-clients
// installs.
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "mosquitto-min.h"

static atomic_long received, acknowledged;
static atomic_bool subscribed;
static _Atomic double last_arrival;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void on_message(struct mosquitto *m, void *o, const struct mosquitto_message *message) {
    (void)m, (void)o, (void)message;
    atomic_fetch_add(&received, 1);
    atomic_store(&last_arrival, now());
}

static void on_publish(struct mosquitto *m, void *o, int mid) {
    (void)m, (void)o, (void)mid;
    atomic_fetch_add(&acknowledged, 1);
}

static void on_subscribe(struct mosquitto *m, void *o, int mid, int count, const int *granted) {
    (void)m, (void)o, (void)mid, (void)count, (void)granted;
    atomic_store(&subscribed, true);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s PORT QOS SIZE COUNT\n", argv[0]);
        return 64;
    }
    int port = atoi(argv[1]), qos = atoi(argv[2]), size = atoi(argv[3]);
    long count = atol(argv[4]);
    if (port <= 0 || qos < 0 || qos > 2 || size < 0 || count <= 0 || count > 10000000) {
        fprintf(stderr, "libmosquitto-baseline: bad arguments\n");
        return 64;
    }
    mosquitto_lib_init();
    struct mosquitto *sub = mosquitto_new("c-baseline-sub", true, NULL);
    struct mosquitto *pub = mosquitto_new("c-baseline-pub", true, NULL);
    if (!sub || !pub) return 74;
    mosquitto_message_callback_set(sub, on_message);
    mosquitto_subscribe_callback_set(sub, on_subscribe);
    mosquitto_publish_callback_set(pub, on_publish);
    if (mosquitto_connect(sub, "127.0.0.1", port, 60) || mosquitto_connect(pub, "127.0.0.1", port, 60)) {
        fprintf(stderr, "libmosquitto-baseline: cannot connect to 127.0.0.1:%d\n", port);
        return 74;
    }
    mosquitto_loop_start(sub);
    mosquitto_loop_start(pub);
    mosquitto_subscribe(sub, NULL, "baseline/t", qos);
    for (int i = 0; i < 1000 && !atomic_load(&subscribed); i++) usleep(5000);
    if (!atomic_load(&subscribed)) return 74;

    char *payload = calloc(1, (size_t)size + 1);
    double start = now();
    for (long i = 0; i < count; i++) {
        // At most 20 unacknowledged (mosquitto's default max_inflight_messages), as bench-mqtt does.
        if (qos > 0)
            while (i - atomic_load(&acknowledged) >= 20) usleep(0);
        while (mosquitto_publish(pub, NULL, "baseline/t", size, payload, qos, false) != 0) usleep(100);
    }
    double published = now();
    // Wait for the rest, bounded: 3 s without a new arrival ends the run.
    long seen = -1;
    double idle = now();
    while (atomic_load(&received) < count && now() - idle < 3) {
        long r = atomic_load(&received);
        if (r != seen) {
            seen = r;
            idle = now();
        }
        usleep(1000);
    }
    long got = atomic_load(&received);
    double end = atomic_load(&last_arrival);
    if (end <= start) end = now();
    printf("result client=libmosquitto qos=%d size=%d sent=%ld received=%ld lost=%ld seconds=%.3f msg_per_s=%.0f "
           "publish_msg_per_s=%.0f\n",
           qos, size, count, got, count - got, end - start, (double)got / (end - start),
           (double)count / (published - start));
    mosquitto_disconnect(sub);
    mosquitto_disconnect(pub);
    mosquitto_loop_stop(sub, true);
    mosquitto_loop_stop(pub, true);
    free(payload);
    return 0;
}
