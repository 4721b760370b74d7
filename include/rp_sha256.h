/* rp_sha256.h - SHA-256 (OpenSSL libcrypto's EVP) for input lineage attributes and data
 * verification, and the parallel file hash built on it. */
#ifndef RP_SHA256_H
#define RP_SHA256_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

/* An incremental digest: init, update any number of times, final (which releases it). */
typedef struct rp_sha256 {
    struct evp_md_ctx_st *ctx; /* OpenSSL's EVP_MD_CTX */
    int failed;                /* OpenSSL refused (out of memory): final reports it */
} rp_sha256;

void rp_sha256_init(rp_sha256 *c);
void rp_sha256_update(rp_sha256 *c, const void *data, size_t n);
/* rp_sha256_final - the digest into out and release c. Returns RP_OK, or RP_ERR_INTERNAL (out
 * zeroed) if OpenSSL failed at any step. */
int rp_sha256_final(rp_sha256 *c, unsigned char out[32]);
/* rp_sha256_hex - digest of a buffer as 64 hex chars + NUL. Returns as rp_sha256_final. */
int rp_sha256_hex(const void *data, size_t n, char hex[65]);

/* rp_hash_file - lineage hash of a file, computed in parallel and independent of the rank count:
 * files up to 64 MiB get their plain SHA-256; larger ones the SHA-256 of the concatenated
 * SHA-256 digests of their 64 MiB blocks (blocks spread over ranks). Collective.
 * Out: hex (65 bytes) on every rank. Returns RP_OK, RP_ERR_NOINPUT, RP_ERR_IO. */
int rp_hash_file(MPI_Comm comm, const char *path, char hex[65]);

#endif
