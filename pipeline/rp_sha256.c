/* rp_sha256.c - SHA-256 through OpenSSL libcrypto (EVP) and the rank-count-independent
 * parallel file hash built on it. */
#include "rp_sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "rp_err.h"
#include "rp_mpi.h"

void rp_sha256_init(rp_sha256 *c)
{
    c->ctx = EVP_MD_CTX_new();
    c->failed = c->ctx == NULL || EVP_DigestInit_ex(c->ctx, EVP_sha256(), NULL) != 1;
}

void rp_sha256_update(rp_sha256 *c, const void *data, size_t n)
{
    if (!c->failed && n > 0 && EVP_DigestUpdate(c->ctx, data, n) != 1) c->failed = 1;
}

int rp_sha256_final(rp_sha256 *c, unsigned char out[32])
{
    unsigned int len = 0;
    if (!c->failed && (EVP_DigestFinal_ex(c->ctx, out, &len) != 1 || len != 32)) c->failed = 1;
    if (c->failed) memset(out, 0, 32);
    EVP_MD_CTX_free(c->ctx);
    c->ctx = NULL;
    return c->failed ? RP_ERR_INTERNAL : RP_OK;
}

static void to_hex(const unsigned char d[32], char hex[65])
{
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

int rp_sha256_hex(const void *data, size_t n, char hex[65])
{
    rp_sha256 c;
    unsigned char d[32];
    rp_sha256_init(&c);
    rp_sha256_update(&c, data, n);
    int rc = rp_sha256_final(&c, d);
    to_hex(d, hex);
    return rc;
}

/* Digest of bytes [off, off+n) of fd. */
static int hash_range(int fd, int64_t off, int64_t n, unsigned char out[32])
{
    int rc = RP_OK;
    char *buf = NULL;
    rp_sha256 c;
    rp_sha256_init(&c);
    RP_ALLOC(buf = malloc(1 << 20));
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
cleanup:
    if (rp_sha256_final(&c, out) != RP_OK && rc == RP_OK)
        RP_FAIL(RP_ERR_INTERNAL, "SHA-256 (OpenSSL EVP) failed");
    free(buf);
    return rc;
}

/* This rank's blocks b = rank, rank + size, ... of path: their digests at 32 * b in a zeroed
 * table of every block. Local. Out: *digests (caller frees), *nblocks. */
static int hash_my_blocks(int rank, int size, const char *path, int64_t block,
                          unsigned char **digests, int64_t *nblocks)
{
    int rc = RP_OK, fd = -1;
    struct stat st;
    fd = open(path, O_RDONLY);
    if (fd < 0 || fstat(fd, &st) != 0)
        RP_FAIL_USER(RP_ERR_NOINPUT, "%s: cannot open: %s", path, strerror(errno));
    int64_t fsize = (int64_t)st.st_size;
    *nblocks = fsize <= block ? 1 : (fsize + block - 1) / block;
    RP_ALLOC(*digests = calloc((size_t)*nblocks, 32));
    for (int64_t b = rank; b < *nblocks; b += size) {
        int64_t off = b * block;
        int64_t n = fsize - off < block ? fsize - off : block;
        RP_CALL(hash_range(fd, off, *nblocks == 1 ? fsize : n, *digests + 32 * b));
    }
cleanup:
    if (fd >= 0) close(fd);
    return rc;
}

/* The lineage digest from the table of block digests (summed over ranks: each block's digest
 * is non-zero on one rank only). Collective. */
static int combine(MPI_Comm comm, unsigned char *digests, int64_t nblocks, char hex[65])
{
    int rc = RP_OK, n = 0;
    RP_CALL(rp_int_cast(nblocks * 32, &n));
    RP_MPI(MPI_Allreduce(MPI_IN_PLACE, digests, n, MPI_UNSIGNED_CHAR, MPI_SUM, comm));
    if (nblocks == 1) to_hex(digests, hex);
    else RP_CALL(rp_sha256_hex(digests, (size_t)nblocks * 32, hex));
cleanup:
    return rc;
}

int rp_hash_file_block(MPI_Comm comm, const char *path, int64_t block, char hex[65])
{
    int rc = RP_OK, rank = 0, size = 1;
    unsigned char *digests = NULL;
    int64_t nblocks = 0;
    RP_MPI(MPI_Comm_rank(comm, &rank));
    RP_MPI(MPI_Comm_size(comm, &size));
    rc = hash_my_blocks(rank, size, path, block, &digests, &nblocks);
    RP_AGREE(comm, rc);
    RP_CALL(combine(comm, digests, nblocks, hex));
cleanup:
    free(digests);
    return rc;
}

int rp_hash_file(MPI_Comm comm, const char *path, char hex[65])
{
    return rp_hash_file_block(comm, path, RP_HASH_BLOCK, hex);
}

int rp_range_hash_begin(rp_range_hash *h, int64_t fsize, int64_t block, int64_t from, int64_t to)
{
    int rc = RP_OK;
    memset(h, 0, sizeof *h);
    h->fsize = fsize;
    h->block = block;
    h->nblocks = fsize <= block ? 1 : (fsize + block - 1) / block;
    h->pos = from;
    h->first = (from + block - 1) / block;
    h->last = (to + block - 1) / block;
    h->cur_block = -1;
    RP_ALLOC(h->digests = calloc((size_t)h->nblocks, 32));
cleanup:
    return rc;
}

void rp_range_hash_update(rp_range_hash *h, const void *data, size_t n)
{
    const unsigned char *p = data;
    while (n > 0) {
        int64_t b = h->pos / h->block, end = (b + 1) * h->block;
        if (end > h->fsize || h->nblocks == 1) end = h->fsize;
        size_t take = (int64_t)n < end - h->pos ? n : (size_t)(end - h->pos);
        if (take == 0) return; /* past the end of the file: not ours to hash */
        if (b >= h->first && b < h->last) { /* ours: starts in our range, so we saw its start */
            if (h->cur_block != b) rp_sha256_init(&h->cur);
            h->cur_block = b;
            rp_sha256_update(&h->cur, p, take);
            if (h->pos + (int64_t)take == end) {
                if (rp_sha256_final(&h->cur, h->digests + 32 * b) != RP_OK) h->failed = 1;
                h->cur_block = -1;
            }
        }
        h->pos += (int64_t)take;
        p += take;
        n -= take;
    }
}

int64_t rp_range_hash_edge(int64_t fsize, int64_t block, int64_t x)
{
    if (x <= 0) return 0;
    if (fsize <= block) return fsize; /* one block: rank 0's */
    int64_t down = x / block * block, up = down + block;
    if (up > fsize) up = fsize;
    return x - down <= up - x ? down : up;
}

void rp_range_hash_clear(rp_range_hash *h)
{
    if (h->cur_block >= 0) {
        unsigned char d[32];
        (void)rp_sha256_final(&h->cur, d);
    }
    free(h->digests);
    memset(h, 0, sizeof *h);
    h->cur_block = -1;
}

int rp_range_hash_end(MPI_Comm comm, rp_range_hash *h, int fd, char hex[65])
{
    int rc = RP_OK;
    char *buf = NULL;
    if (h->cur_block >= 0) { /* our last block goes on past our range */
        buf = rp_malloc(1 << 20);
        while (rc == RP_OK && buf != NULL && h->cur_block >= 0) {
            int64_t end = h->nblocks == 1 ? h->fsize : (h->cur_block + 1) * h->block;
            if (end > h->fsize) end = h->fsize;
            size_t want = end - h->pos < (1 << 20) ? (size_t)(end - h->pos) : (1 << 20);
            ssize_t r = pread(fd, buf, want, (off_t)h->pos);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                rp_log_error(__FILE__, __LINE__, "read failed at byte %lld: %s", (long long)h->pos,
                             r < 0 ? strerror(errno) : "unexpected end of file");
                rc = RP_ERR_IO;
            }
            if (r > 0) rp_range_hash_update(h, buf, (size_t)r);
        }
    }
    if (rc == RP_OK && h->failed) {
        rp_log_error(__FILE__, __LINE__, "SHA-256 (OpenSSL EVP) failed");
        rc = RP_ERR_INTERNAL;
    }
    RP_AGREE_LOCAL(comm, buf == NULL && h->cur_block >= 0); /* agrees on rc too */
    RP_CALL(combine(comm, h->digests, h->nblocks, hex));
cleanup:
    free(buf);
    rp_range_hash_clear(h);
    return rc;
}
