/* libFuzzer target for SealLite's reader (Scripts/fuzz-seallite SECONDS). Input: one control byte, then the
 * envelope. Control bits: 0 retained delivery, 1 with a context, 2 a second topic, 3 a one-byte-short payload
 * buffer. Every input must open or be rejected with the one code (or refused as too small), never read or
 * write out of bounds (AddressSanitizer: exact-size heap copies), and agree with seallite_opened_size. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "seallite.h"
#include "seallite_sodium.h"
#include "seallite_vectors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready = 0;
    static const char *topics[2] = {"plant/line-4/press-17/telemetry", "a/b"};
    static const uint8_t context[] = "tenant=acme;schema=3";
    seallite_opener opener;
    seallite_opened opened;
    uint8_t control, *envelope, *payload, *scratch;
    size_t len, predicted = 0, need = 0, cap;
    const char *topic;
    int status, sized;
    if (!ready) {
        if (seallite_sodium_init() != SEALLITE_OK) {
            abort();
        }
        ready = 1;
    }
    if (size < 1) {
        return 0;
    }
    control = data[0];
    len = size - 1;
    envelope = (uint8_t *)malloc(len > 0 ? len : 1);
    memcpy(envelope, data + 1, len);
    topic = topics[(control >> 2) & 1];
    if (seallite_opener_init(&opener, vector_keys, sizeof vector_keys / sizeof vector_keys[0], vector_signers, 1,
                             seallite_sodium_backend()) != SEALLITE_OK) {
        abort();
    }
    sized = seallite_opened_size(&opener, envelope, len, strlen(topic), (control & 2) ? sizeof context - 1 : 0,
                                 &predicted, &need);
    cap = predicted;
    if ((control & 8) && cap > 0) {
        cap--;
    }
    payload = (uint8_t *)malloc(cap > 0 ? cap : 1);
    scratch = need > 0 ? (uint8_t *)malloc(need) : NULL;
    opener.scratch = scratch;
    opener.scratch_len = need;
    status = seallite_open(&opener, 1767225601000u, envelope, len, (const uint8_t *)topic, strlen(topic),
                           (control & 2) ? context : NULL, (control & 2) ? sizeof context - 1 : 0, control & 1,
                           sized == SEALLITE_OK ? payload : NULL, sized == SEALLITE_OK ? cap : 0, &opened);
    if (status == SEALLITE_OK) {
        /* Opened: the size function predicted it, and the reason is cleared. */
        if (sized != SEALLITE_OK || opened.payload_len != predicted || opened.payload_len > cap ||
            seallite_last_reason(&opener) != SEALLITE_REASON_NONE) {
            abort();
        }
    } else if (status == SEALLITE_REJECTED) {
        if (seallite_last_reason(&opener) == SEALLITE_REASON_NONE) {
            abort();
        }
    } else if (status == SEALLITE_BUFFER_TOO_SMALL) {
        if (!(control & 8) && sized == SEALLITE_OK) {
            abort(); /* the reported sizes were enough */
        }
    } else if (status != SEALLITE_UNSUPPORTED) {
        abort();
    }
    free(envelope);
    free(payload);
    free(scratch);
    return 0;
}
