#ifndef SEAL_COPENSSL_SHIM_H
#define SEAL_COPENSSL_SHIM_H
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/opensslv.h>
#endif
