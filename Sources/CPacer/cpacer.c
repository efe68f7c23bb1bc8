#include "cpacer.h"

#include <sys/prctl.h>

int cpacer_set_timer_slack(unsigned long nanoseconds)
{
    return prctl(PR_SET_TIMERSLACK, nanoseconds, 0UL, 0UL, 0UL);
}
