#ifndef SEAL_CFUZZER_H
#define SEAL_CFUZZER_H
#include <stddef.h>
#include <stdint.h>
/// libFuzzer's driver entry point (compiler-rt). Called from Swift's `main` because SwiftPM renames the
/// executable's `main`, so libFuzzer's own `main` cannot be used.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
#endif
