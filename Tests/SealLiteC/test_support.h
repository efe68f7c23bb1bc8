/* Shared by the SealLite C tests. */
#ifndef SEALLITE_TEST_SUPPORT_H
#define SEALLITE_TEST_SUPPORT_H
#include <stdio.h>

extern int test_failures;
extern int test_checks;

#define CHECK(cond, ...)                                                                                     \
    do {                                                                                                     \
        test_checks++;                                                                                       \
        if (!(cond)) {                                                                                       \
            test_failures++;                                                                                 \
            printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                                          \
            printf(__VA_ARGS__);                                                                             \
            printf("\n");                                                                                    \
        }                                                                                                    \
    } while (0)

void run_unit_tests(void);
void run_vector_tests(void);
void run_mode_tests(void);

#endif
