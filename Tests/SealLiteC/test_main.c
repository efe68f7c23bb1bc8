/* SealLite C tests: unit tests, then every vector of Specs/vectors/envelope-v1.json (Scripts/seallite-test). */
#include "test_support.h"
#ifndef SEALLITE_HMAC_ONLY
#include "seallite_sodium.h"
#endif

int test_failures = 0;
int test_checks = 0;

int main(void)
{
#ifndef SEALLITE_HMAC_ONLY
    if (seallite_sodium_init() != 0) {
        printf("sodium_init failed\n");
        return 1;
    }
#endif
    run_unit_tests();
    run_vector_tests();
    run_mode_tests();
    printf("%s: %d checks, %d failures\n", test_failures == 0 ? "PASS" : "FAIL", test_checks, test_failures);
    return test_failures == 0 ? 0 : 1;
}
