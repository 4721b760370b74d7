/* rp_sha256.c - a compact SHA-256 and a rank-count-independent parallel file hash. */
#include "rp_sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rp_err.h"
#include "rp_mpi.h"

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void compress(uint32_t *h, const unsigned char *b)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 |
               (uint32_t)b[4 * i + 2] << 8 | b[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], bb = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = hh + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & bb) ^ (a & c) ^ (bb & c));
        hh = g; g = f; f = e; e = d + t1; d = c; c = bb; bb = a; a = t1 + t2;
    }
    h[0] += a; h[1] += bb; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define RP_HAVE_SHANI 1

/* SHA extensions: the same compression with the rounds in hardware (several times faster on
 * the inputs every stage hashes for lineage). State is kept as ABEF/CDGH, the order
 * sha256rnds2 expects; message words W[4g..4g+3] live in X[g]. */
__attribute__((target("sha,sse4.1,ssse3"))) static void compress_shani(uint32_t h[8],
                                                                       const unsigned char *b)
{
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i tmp = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[0]), 0xB1);
    __m128i s1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[4]), 0x1B);
    __m128i s0 = _mm_alignr_epi8(tmp, s1, 8);
    s1 = _mm_blend_epi16(s1, tmp, 0xF0);
    __m128i abef = s0, cdgh = s1, X[16];
    for (int g = 0; g < 16; g++) {
        if (g < 4) {
            X[g] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(b + 16 * g)), bswap);
        } else {
            /* W[t] = s1(W[t-2]) + W[t-7] + s0(W[t-15]) + W[t-16], four words at a time. */
            __m128i m = _mm_sha256msg1_epu32(X[g - 4], X[g - 3]);
            m = _mm_add_epi32(m, _mm_alignr_epi8(X[g - 1], X[g - 2], 4));
            X[g] = _mm_sha256msg2_epu32(m, X[g - 1]);
        }
        __m128i msg = _mm_add_epi32(X[g], _mm_loadu_si128((const __m128i *)&K[4 * g]));
        s1 = _mm_sha256rnds2_epu32(s1, s0, msg);
        s0 = _mm_sha256rnds2_epu32(s0, s1, _mm_shuffle_epi32(msg, 0x0E));
    }
    s0 = _mm_add_epi32(s0, abef);
    s1 = _mm_add_epi32(s1, cdgh);
    tmp = _mm_shuffle_epi32(s0, 0x1B);
    s1 = _mm_shuffle_epi32(s1, 0xB1);
    _mm_storeu_si128((__m128i *)&h[0], _mm_blend_epi16(tmp, s1, 0xF0));
    _mm_storeu_si128((__m128i *)&h[4], _mm_alignr_epi8(s1, tmp, 8));
}
#endif

/* Hardware rounds when the CPU has them (RP_SHA256_PORTABLE=1 forces the C path, for tests). */
static void (*compress_fn(void))(uint32_t *, const unsigned char *)
{
#ifdef RP_HAVE_SHANI
    static int have = -1;
    if (have < 0) {
        const char *force = getenv("RP_SHA256_PORTABLE");
        unsigned a = 0, b = 0, c = 0, d = 0, c1 = 0;
        /* CPUID leaf 7 EBX bit 29: SHA extensions; leaf 1 ECX bit 19: SSE4.1. */
        int sha = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b >> 29 & 1u);
        int sse41 = __get_cpuid(1, &a, &b, &c1, &d) && (c1 >> 19 & 1u);
        have = (force == NULL || *force == '0') && sha && sse41;
    }
    if (have) return compress_shani;
#endif
    return compress;
}

void rp_sha256_init(rp_sha256 *c)
{
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(c->h, iv, sizeof iv);
    c->nbytes = 0;
    c->used = 0;
}

void rp_sha256_update(rp_sha256 *c, const void *data, size_t n)
{
    const unsigned char *p = data;
    void (*compress_block)(uint32_t *, const unsigned char *) = compress_fn();
    c->nbytes += n;
    if (c->used > 0) {
        size_t take = 64 - c->used < n ? 64 - c->used : n;
        memcpy(c->block + c->used, p, take);
        c->used += take;
        p += take;
        n -= take;
        if (c->used < 64) return;
        compress_block(c->h, c->block);
        c->used = 0;
    }
    for (; n >= 64; p += 64, n -= 64) compress_block(c->h, p);
    memcpy(c->block, p, n);
    c->used = n;
}

void rp_sha256_final(rp_sha256 *c, unsigned char out[32])
{
    uint64_t bits = c->nbytes * 8;
    unsigned char pad = 0x80, zero = 0, len[8];
    uint64_t n = c->nbytes;
    rp_sha256_update(c, &pad, 1);
    while (c->used != 56) rp_sha256_update(c, &zero, 1);
    for (int i = 0; i < 8; i++) len[i] = (unsigned char)(bits >> (56 - 8 * i));
    rp_sha256_update(c, len, 8);
    c->nbytes = n;
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (unsigned char)(c->h[i] >> 24);
        out[4 * i + 1] = (unsigned char)(c->h[i] >> 16);
        out[4 * i + 2] = (unsigned char)(c->h[i] >> 8);
        out[4 * i + 3] = (unsigned char)c->h[i];
    }
}

static void to_hex(const unsigned char d[32], char hex[65])
{
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

void rp_sha256_hex(const void *data, size_t n, char hex[65])
{
    rp_sha256 c;
    unsigned char d[32];
    rp_sha256_init(&c);
    rp_sha256_update(&c, data, n);
    rp_sha256_final(&c, d);
    to_hex(d, hex);
}

#define RP_HASH_BLOCK ((int64_t)64 << 20)

/* Digest of bytes [off, off+n) of fd. */
static int hash_range(int fd, int64_t off, int64_t n, unsigned char out[32])
{
    int rc = RP_OK;
    char *buf = NULL;
    rp_sha256 c;
    RP_ALLOC(buf = malloc(1 << 20));
    rp_sha256_init(&c);
    while (n > 0) {
        size_t want = n < (1 << 20) ? (size_t)n : (1 << 20);
        ssize_t r = pread(fd, buf, want, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        RP_REQUIRE(r > 0, RP_ERR_IO, "read failed at byte %lld: %s", (long long)off,
                   r < 0 ? strerror(errno) : "unexpected end of file");
        rp_sha256_update(&c, buf, (size_t)r);
        off += r;
        n -= r;
    }
    rp_sha256_final(&c, out);
cleanup:
    free(buf);
    return rc;
}

int rp_hash_file(MPI_Comm comm, const char *path, char hex[65])
{
    int rc = RP_OK, rank = 0, size = 1, fd = -1;
    unsigned char *digests = NULL;
    int64_t nblocks = 0;
    struct stat st;
    RP_MPI(MPI_Comm_rank(comm, &rank));
    RP_MPI(MPI_Comm_size(comm, &size));
    fd = open(path, O_RDONLY);
    if (fd < 0 || fstat(fd, &st) != 0)
        RP_FAIL_USER(RP_ERR_NOINPUT, "%s: cannot open: %s", path, strerror(errno));
    int64_t fsize = (int64_t)st.st_size;
    nblocks = fsize <= RP_HASH_BLOCK ? 1 : (fsize + RP_HASH_BLOCK - 1) / RP_HASH_BLOCK;
    RP_ALLOC(digests = calloc((size_t)nblocks, 32));
    for (int64_t b = rank; b < nblocks; b += size) {
        int64_t off = b * RP_HASH_BLOCK;
        int64_t n = fsize - off < RP_HASH_BLOCK ? fsize - off : RP_HASH_BLOCK;
        RP_CALL(hash_range(fd, off, nblocks == 1 ? fsize : n, digests + 32 * b));
    }
cleanup:
    if (fd >= 0) close(fd);
    rc = rp_mpi_agree(comm, rc);
    if (rc == RP_OK) {
        /* Blocks are disjoint and zero elsewhere: a byte-wise sum gathers them everywhere. */
        int n = 0;
        if (rp_int_cast(nblocks * 32, &n) != RP_OK ||
            MPI_Allreduce(MPI_IN_PLACE, digests, n, MPI_UNSIGNED_CHAR, MPI_SUM, comm) != MPI_SUCCESS)
            rc = RP_ERR_MPI;
    }
    if (rc == RP_OK) {
        if (nblocks == 1) to_hex(digests, hex);
        else rp_sha256_hex(digests, (size_t)nblocks * 32, hex);
    }
    free(digests);
    return rc;
}
