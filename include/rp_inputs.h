/* rp_inputs.h - input files as stages see them: optional files that may be absent, and the
 * lineage lines of the "inputs" root attribute (rp_stage_stamp) of every output file. */
#ifndef RP_INPUTS_H
#define RP_INPUTS_H

#include <mpi.h>
#include <stddef.h>

/* rp_inputs_exists - 1 on every rank if rank 0 can stat() path, else 0 (also for NULL), so
 * every rank takes the same branch for an optional input. Collective. */
int rp_inputs_exists(MPI_Comm comm, const char *path);

/* rp_inputs_lineage - hash path (rp_hash_file) and append the line "role=<path> sha256=<hex>" to
 * buf (cap bytes, NUL-terminated; start with ""), lines separated by '\n' without a trailing one.
 * A role=path already listed is not hashed again (variants of one file). Collective: every rank
 * passes the same arguments and gets the same buf. buf is unchanged on error.
 * Returns RP_OK, RP_ERR_NOINPUT / RP_ERR_IO (rp_hash_file), RP_ERR_INTERNAL (buf too small). */
int rp_inputs_lineage(MPI_Comm comm, char *buf, size_t cap, const char *role, const char *path);

#endif
