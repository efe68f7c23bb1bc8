#ifndef CPACER_H
#define CPACER_H
/* The one call of the benchmark harness's open-loop pacer that Swift cannot make itself: prctl is variadic. */

/* Sets the calling thread's timer slack (how late the kernel may wake its sleeps, 50 us by default) to
   `nanoseconds`. Returns 0, or -1 with errno set. */
int cpacer_set_timer_slack(unsigned long nanoseconds);

#endif
