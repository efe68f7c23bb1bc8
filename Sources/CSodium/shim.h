#ifndef SEAL_CSODIUM_SHIM_H
#define SEAL_CSODIUM_SHIM_H
#include <sodium.h>
#endif
