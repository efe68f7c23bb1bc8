/* The replay window of one (kid, sid) pair (Specs/envelope.md, section 6), fixed size: the same rule as
 * Swift's ReplayGuard.Sender, with the remembered values in a caller-owned array instead of a heap array. */
#include "internal.h"

void seallite_replay_init(seallite_replay *replay, unsigned window)
{
    unsigned i;
    if (window < 1) {
        window = 1;
    }
    if (window > SEALLITE_REPLAY_SLOTS / 2) {
        window = SEALLITE_REPLAY_SLOTS / 2;
    }
    replay->floor = 0;
    replay->count = 0;
    replay->window = (uint16_t)window;
    for (i = 0; i < SEALLITE_REPLAY_SLOTS; i++) {
        replay->recent[i] = 0;
    }
}

/* Index of the first remembered value >= seq. */
static unsigned lower_bound(const seallite_replay *r, uint64_t seq)
{
    unsigned low = 0, high = r->count;
    while (low < high) {
        unsigned mid = (low + high) / 2;
        if (r->recent[mid] < seq) {
            low = mid + 1;
        } else {
            high = mid;
        }
    }
    return low;
}

int seallite_replay_check(const seallite_replay *replay, uint64_t seq, seallite_reason *reason)
{
    unsigned i;
    if (seq <= replay->floor) {
        if (reason != NULL) {
            *reason = SEALLITE_REASON_OUTSIDE_WINDOW;
        }
        return SEALLITE_REJECTED;
    }
    i = lower_bound(replay, seq);
    if (i < replay->count && replay->recent[i] == seq) {
        if (reason != NULL) {
            *reason = SEALLITE_REASON_REPLAYED;
        }
        return SEALLITE_REJECTED;
    }
    if (reason != NULL) {
        *reason = SEALLITE_REASON_NONE;
    }
    return SEALLITE_OK;
}

void seallite_replay_commit(seallite_replay *replay, uint64_t seq)
{
    unsigned i, j, window = replay->window;
    if (seallite_replay_check(replay, seq, NULL) != SEALLITE_OK) {
        return;
    }
    if (window < 1 || window > SEALLITE_REPLAY_SLOTS / 2) {
        return; /* not initialised */
    }
    i = lower_bound(replay, seq);
    for (j = replay->count; j > i; j--) {
        replay->recent[j] = replay->recent[j - 1];
    }
    replay->recent[i] = seq;
    replay->count++;
    if (replay->count >= 2 * window) {
        /* Raise the floor to the window-th smallest and forget those. */
        replay->floor = replay->recent[window - 1];
        for (j = 0; j + window < replay->count; j++) {
            replay->recent[j] = replay->recent[j + window];
        }
        replay->count = (uint16_t)(replay->count - window);
    }
}
