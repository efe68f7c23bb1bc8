// The few libmosquitto declarations the C references in this directory use (libmosquitto-baseline.c,
// libmosquitto-sealed.c), copied from mosquitto.h's public API. Debian ships mosquitto.h only in
// libmosquitto-dev; the benchmarks link the runtime library libmosquitto.so.1 (from mosquitto-clients) directly
// and need nothing else installed.
#ifndef MOSQUITTO_MIN_H
#define MOSQUITTO_MIN_H

#include <stdbool.h>

struct mosquitto;
struct mosquitto_message {
    int mid;
    char *topic;
    void *payload;
    int payloadlen;
    int qos;
    bool retain;
};
int mosquitto_lib_init(void);
struct mosquitto *mosquitto_new(const char *id, bool clean_session, void *obj);
int mosquitto_connect(struct mosquitto *m, const char *host, int port, int keepalive);
int mosquitto_loop_start(struct mosquitto *m);
int mosquitto_loop_stop(struct mosquitto *m, bool force);
int mosquitto_publish(struct mosquitto *m, int *mid, const char *topic, int len, const void *payload, int qos,
                      bool retain);
int mosquitto_subscribe(struct mosquitto *m, int *mid, const char *sub, int qos);
void mosquitto_message_callback_set(struct mosquitto *m,
                                    void (*cb)(struct mosquitto *, void *, const struct mosquitto_message *));
void mosquitto_publish_callback_set(struct mosquitto *m, void (*cb)(struct mosquitto *, void *, int));
void mosquitto_subscribe_callback_set(struct mosquitto *m,
                                      void (*cb)(struct mosquitto *, void *, int, int, const int *));
int mosquitto_disconnect(struct mosquitto *m);

#endif
