/* SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), small and self-contained: a 16-word rolling
 * message schedule keeps the stack of the compression function under 100 bytes. */
#include "internal.h"

static const uint32_t k256[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u,
    0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u,
    0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
    0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u,
    0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u,
    0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
    0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void compress(uint32_t h[8], const uint8_t block[64])
{
    uint32_t w[16];
    uint32_t s[8];
    unsigned i;
    for (i = 0; i < 8; i++) {
        s[i] = h[i];
    }
    for (i = 0; i < 64; i++) {
        uint32_t t1, t2, x;
        if (i < 16) {
            w[i] = sl_get_be32(block + 4 * i);
        } else {
            uint32_t a = w[(i + 1) & 15], b = w[(i + 14) & 15];
            w[i & 15] += (ROR(b, 17) ^ ROR(b, 19) ^ (b >> 10)) + w[(i + 9) & 15] +
                         (ROR(a, 7) ^ ROR(a, 18) ^ (a >> 3));
        }
        x = s[4];
        t1 = s[7] + (ROR(x, 6) ^ ROR(x, 11) ^ ROR(x, 25)) + ((x & s[5]) ^ (~x & s[6])) + k256[i] + w[i & 15];
        x = s[0];
        t2 = (ROR(x, 2) ^ ROR(x, 13) ^ ROR(x, 22)) + ((x & s[1]) ^ (x & s[2]) ^ (s[1] & s[2]));
        s[7] = s[6];
        s[6] = s[5];
        s[5] = s[4];
        s[4] = s[3] + t1;
        s[3] = s[2];
        s[2] = s[1];
        s[1] = s[0];
        s[0] = t1 + t2;
    }
    for (i = 0; i < 8; i++) {
        h[i] += s[i];
    }
    sl_wipe(w, sizeof w);
    sl_wipe(s, sizeof s);
}

void sl_sha256_init(sl_sha256 *c)
{
    static const uint32_t iv[8] = {0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
                                   0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u};
    unsigned i;
    for (i = 0; i < 8; i++) {
        c->h[i] = iv[i];
    }
    c->bytes = 0;
}

void sl_sha256_update(sl_sha256 *c, const uint8_t *p, size_t n)
{
    size_t used = (size_t)(c->bytes & 63u);
    c->bytes += n;
    while (n > 0) {
        if (used == 0 && n >= 64) {
            compress(c->h, p);
            p += 64;
            n -= 64;
            continue;
        }
        c->block[used++] = *p++;
        n--;
        if (used == 64) {
            compress(c->h, c->block);
            used = 0;
        }
    }
}

void sl_sha256_final(sl_sha256 *c, uint8_t out[32])
{
    uint64_t bits = c->bytes << 3;
    size_t used = (size_t)(c->bytes & 63u);
    unsigned i;
    c->block[used++] = 0x80;
    if (used > 56) {
        while (used < 64) {
            c->block[used++] = 0;
        }
        compress(c->h, c->block);
        used = 0;
    }
    while (used < 56) {
        c->block[used++] = 0;
    }
    sl_put_be64(c->block + 56, bits);
    compress(c->h, c->block);
    for (i = 0; i < 8; i++) {
        sl_put_be32(out + 4 * i, c->h[i]);
    }
    sl_wipe(c, sizeof *c);
}

/* Starts a hash of (key zero-padded to 64 bytes) ^ pad: one block, built in the state's own buffer. */
static void keyed_init(sl_sha256 *c, const uint8_t *key, size_t key_len, uint8_t pad)
{
    unsigned i;
    sl_sha256_init(c);
    for (i = 0; i < 64; i++) {
        c->block[i] = (uint8_t)((i < key_len ? key[i] : 0) ^ pad);
    }
    compress(c->h, c->block);
    c->bytes = 64;
}

void sl_hmac_init(sl_sha256 *c, const uint8_t *key, size_t key_len)
{
    keyed_init(c, key, key_len, 0x36);
}

void sl_hmac_final(sl_sha256 *c, const uint8_t *key, size_t key_len, uint8_t out[32])
{
    sl_sha256_final(c, out);
    keyed_init(c, key, key_len, 0x5c);
    sl_sha256_update(c, out, 32);
    sl_sha256_final(c, out);
}

void seallite_sha256(const uint8_t *m, size_t m_len, uint8_t digest[32])
{
    sl_sha256 c;
    sl_sha256_init(&c);
    if (m_len > 0) {
        sl_sha256_update(&c, m, m_len);
    }
    sl_sha256_final(&c, digest);
}

void seallite_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *m, size_t m_len, uint8_t tag[32])
{
    sl_sha256 c;
    uint8_t hashed[32];
    if (key_len > 64) { /* RFC 2104: a key longer than a block is hashed first */
        seallite_sha256(key, key_len, hashed);
        key = hashed;
        key_len = 32;
    }
    sl_hmac_init(&c, key, key_len);
    if (m_len > 0) {
        sl_sha256_update(&c, m, m_len);
    }
    sl_hmac_final(&c, key, key_len, tag);
    sl_wipe(hashed, sizeof hashed);
}
