/* rp_sha256.h - SHA-256 (OpenSSL libcrypto's EVP) for input lineage attributes and data
 * verification, and the parallel file hash built on it. */
#ifndef RP_SHA256_H
#define RP_SHA256_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

/* An incremental digest: init, update any number of times, final (which releases it). On a
 * CPU with the SHA extensions (SHA-NI) the digest is computed here (the same speed as
 * OpenSSL's for one stream, and rp_sha256_update_lanes hashes up to four streams at once, 1.8x
 * the bytes per second on the project's VMs); elsewhere, or with RP_SHA_NI=0 in the
 * environment, through OpenSSL's EVP. */
typedef struct rp_sha256 {
    struct evp_md_ctx_st *ctx; /* OpenSSL's EVP_MD_CTX, or NULL on the SHA-NI path */
    int failed;                /* OpenSSL refused (out of memory): final reports it */
    uint32_t h[8];             /* SHA-NI path: the chaining value */
    uint64_t total;            /* SHA-NI path: bytes fed */
    unsigned char part[64];    /* SHA-NI path: an incomplete 64-byte block */
    size_t npart;
} rp_sha256;

/* rp_sha256_select - use SHA-NI (on = 1, if the CPU has it) or OpenSSL (on = 0) for the digests
 * started from now on; on = -1: SHA-NI when the CPU has it and $RP_SHA_NI is not 0 (the
 * default, chosen on first use). Process-wide (tests compare the two). Returns 1 when SHA-NI is
 * now in use, else 0. */
int rp_sha256_select(int on);

void rp_sha256_init(rp_sha256 *c);
void rp_sha256_update(rp_sha256 *c, const void *data, size_t n);
/* rp_sha256_final - the digest into out and release c. Returns RP_OK, or RP_ERR_INTERNAL (out
 * zeroed) if OpenSSL failed at any step. */
int rp_sha256_final(rp_sha256 *c, unsigned char out[32]);
/* rp_sha256_update_lanes - feed n bytes from p[l] to c[l] for each of k (1..4) digests, the
 * same as k rp_sha256_update calls; with SHA-NI their blocks are hashed side by side (one
 * stream leaves the SHA unit idle between dependent rounds). */
void rp_sha256_update_lanes(rp_sha256 *const *c, const unsigned char *const *p, size_t n, int k);
/* rp_sha256_hex - digest of a buffer as 64 hex chars + NUL. Returns as rp_sha256_final. */
int rp_sha256_hex(const void *data, size_t n, char hex[65]);

/* The block size of the lineage hash below. */
#define RP_HASH_BLOCK ((int64_t)64 << 20)

/* rp_hash_file - lineage hash of a file, computed in parallel and independent of the rank count:
 * files up to RP_HASH_BLOCK (64 MiB) get their plain SHA-256; larger ones the SHA-256 of the
 * concatenated SHA-256 digests of their 64 MiB blocks (blocks spread over ranks; a rank hashes
 * up to four of its blocks side by side, rp_sha256_update_lanes: the lineage phase of a stage
 * reading the full-size shards.h5 at np 2 went 0.146-0.177 -> 0.095-0.099 s). Collective.
 * Out: hex (65 bytes) on every rank. Returns RP_OK, RP_ERR_NOINPUT, RP_ERR_IO. */
int rp_hash_file(MPI_Comm comm, const char *path, char hex[65]);
/* rp_hash_file_block - rp_hash_file with blocks of `block` bytes (> 0): for tests of the
 * streaming form below on small files. Collective. Returns as rp_hash_file. */
int rp_hash_file_block(MPI_Comm comm, const char *path, int64_t block, char hex[65]);

/* rp_range_hash - the same digest, computed while each rank streams its own byte range of the
 * file (a reader that parses [from, to) hashes the bytes it has just read instead of reading
 * the file twice). The ranks' ranges partition [0, fsize) in rank order; a rank hashes the
 * blocks that start in its range, and at the end reads the rest of its last block from the
 * file (at most one block past `to`). */
typedef struct rp_range_hash {
    int64_t fsize, block, nblocks;
    int64_t pos;         /* file offset of the next byte fed */
    int64_t first, last; /* this rank's blocks: [first, last) */
    int64_t cur_block;   /* the block being hashed, or -1 */
    rp_sha256 cur;
    unsigned char *digests; /* 32 bytes per block, zero but this rank's */
    int failed;             /* OpenSSL failed on a block */
} rp_range_hash;

/* rp_range_hash_begin - start hashing a file of fsize > 0 bytes, blocks of `block` bytes
 * (RP_HASH_BLOCK for rp_hash_file's digest); this rank will feed bytes [from, to). Local.
 * Returns RP_OK or RP_ERR_NOMEM (then rp_range_hash_clear is still safe). */
int rp_range_hash_begin(rp_range_hash *h, int64_t fsize, int64_t block, int64_t from, int64_t to);
/* rp_range_hash_update - the next n bytes of the range, in file order. Local. */
void rp_range_hash_update(rp_range_hash *h, const void *data, size_t n);
/* rp_range_hash_update_lanes - rp_range_hash_update(h[l], p[l], n[l]) for k (1..4) hashes of
 * one rank (the lanes of its range, each on its own blocks), the blocks hashed side by side
 * (rp_sha256_update_lanes) while several lanes have bytes of theirs. Local. */
void rp_range_hash_update_lanes(rp_range_hash *const *h, const void *const *p, const size_t *n,
                                int k);
/* rp_range_hash_finish - read the rest of h's last block from fd and hash it (what
 * rp_range_hash_end does first). Local. Returns RP_OK or RP_ERR_IO (with a message). */
int rp_range_hash_finish(rp_range_hash *h, int fd);
/* rp_range_hash_merge - add the digests of src's finished blocks to dst (lanes of one rank that
 * hashed disjoint blocks of the same file, then one rp_range_hash_end); clears src. Local. */
void rp_range_hash_merge(rp_range_hash *dst, rp_range_hash *src);
/* rp_range_hash_end - read the rest of this rank's last block from fd, combine the digests of
 * all ranks. Collective. Out: hex on every rank. Returns RP_OK, RP_ERR_IO (agreed),
 * RP_ERR_INTERNAL. Clears h. */
int rp_range_hash_end(MPI_Comm comm, rp_range_hash *h, int fd, char hex[65]);
void rp_range_hash_clear(rp_range_hash *h);
/* rp_range_hash_edge - where the hashing of the rank whose byte range starts at x begins: the
 * block boundary nearest to x (0 for x = 0; fsize, i.e. no block, past the last block start or
 * when the file is one block). A rank whose ranges are [x_r, x_{r+1}) hashes the blocks that
 * start in [edge(x_r), edge(x_{r+1})): it first feeds [edge(x_r), x_r) when its edge lies below
 * x_r (rp_range_hash_begin(from = min(edge, x_r), to = edge(x_{r+1}))), and
 * rp_range_hash_end reads the rest of its last block: either way at most half a block is read
 * twice, and every rank hashes about as many bytes as it parses (taking the blocks that start
 * in a range gives the rank below a boundary the whole straddling block: at np 2 on the
 * full-size inputs one rank hashed 738 MB and the other 583). Pure. */
int64_t rp_range_hash_edge(int64_t fsize, int64_t block, int64_t x);

#endif
