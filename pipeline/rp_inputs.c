/* rp_inputs.c - optional input files and lineage lines (rp-features, rp-eval, rp-hybrid,
 * rp-recommend, rp-synth). */
#include "rp_inputs.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "rp_err.h"
#include "rp_mpi.h"
#include "rp_sha256.h"

int rp_inputs_exists(MPI_Comm comm, const char *path)
{
    int rank = 0, yes = 0;
    struct stat sb;
    if (MPI_Comm_rank(comm, &rank) != MPI_SUCCESS) rp_die(comm, RP_ERR_MPI, "MPI_Comm_rank");
    if (rank == 0) yes = path != NULL && stat(path, &sb) == 0;
    /* A failed broadcast would leave ranks on different branches: abort instead. */
    if (MPI_Bcast(&yes, 1, MPI_INT, 0, comm) != MPI_SUCCESS)
        rp_die(comm, RP_ERR_MPI, "rp_inputs_exists: MPI_Bcast failed");
    return yes;
}

/* 1 if buf already has a line starting with key. */
static int has_line(const char *buf, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = buf; *p;) {
        if (strncmp(p, key, kl) == 0) return 1;
        const char *nl = strchr(p, '\n');
        if (nl == NULL) break;
        p = nl + 1;
    }
    return 0;
}

int rp_inputs_lineage(MPI_Comm comm, char *buf, size_t cap, const char *role, const char *path)
{
    int rc = RP_OK;
    char hex[65], key[4200];
    int kl = snprintf(key, sizeof key, "%s=%s sha256=", role, path);
    RP_REQUIRE(kl > 0 && (size_t)kl < sizeof key, RP_ERR_INTERNAL, "%s: path too long", path);
    if (has_line(buf, key)) goto cleanup;
    RP_CALL(rp_hash_file(comm, path, hex));
    size_t used = strlen(buf);
    RP_REQUIRE(used + (used ? 1 : 0) + (size_t)kl + 64 < cap, RP_ERR_INTERNAL,
               "lineage of %s: %zu-byte buffer full", path, cap);
    snprintf(buf + used, cap - used, "%s%s%s", used ? "\n" : "", key, hex);
cleanup:
    return rc;
}
