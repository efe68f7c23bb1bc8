#ifndef SEAL_COPENSSL_SHIM_H
#define SEAL_COPENSSL_SHIM_H
/* Seal's HMAC-SHA256 keeps precomputed SHA-256 states (SHA256_CTX), which OpenSSL 3 marks deprecated
   in favour of EVP; the functions remain and run the same assembly. */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/opensslv.h>
#include <openssl/sha.h>
#endif
