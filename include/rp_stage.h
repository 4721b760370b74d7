/* rp_stage.h - what every stage program does around its work: MPI error handler and logging
 * set-up, signal flags for checkpoint-and-exit, standard root attributes of output files, the
 * one summary line on stdout, peak memory. */
#ifndef RP_STAGE_H
#define RP_STAGE_H

#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>

typedef struct rp_stage {
    const char *prog; /* "rp-als" */
    MPI_Comm comm;
    int rank;
    int size;
    double t0;
    char cmdline[4096];
    char summary[2048]; /* key=value pairs appended by the stage */
} rp_stage;

/* rp_stage_begin - MPI_ERRORS_RETURN on comm, log prefix, HDF5 errors silenced, SIGTERM/SIGUSR1
 * handlers installed, RP_LOG level from $RP_LOG (0 quiet, 1 info, 2 debug). Collective. */
int rp_stage_begin(MPI_Comm comm, const char *prog, int argc, char **argv, rp_stage *st);

/* rp_stage_add - append "key=value" to the summary line (printf format for the value). */
void rp_stage_add(rp_stage *st, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* rp_stage_end - collective: agree on rc; on success rank 0 prints one line on stdout:
 * "<prog>: ok <summary> seconds=S peak_rss_mb_per_rank=M nprocs=N" (time and memory are the
 * max over ranks).
 * Returns the exit status for main (0 for RP_HELP). */
int rp_stage_end(rp_stage *st, int rc);

/* rp_stage_stamp - write the standard root attributes of an output file: schema,
 * schema_version, created_by, nprocs, params (command line), inputs ("name=<path>
 * sha256=<hex>" lines, may be NULL), elapsed_s (float64: wall seconds since rp_stage_begin)
 * and peak_rss_mb (float64: peak resident MiB of one rank so far), both the max over ranks.
 * Collective. */
int rp_stage_stamp(const rp_stage *st, hid_t file, const char *schema, int version,
                   const char *inputs);

/* rp_signal_pending - collective: 1 on every rank if any rank received SIGTERM or SIGUSR1 since
 * start, else 0. Call at iteration boundaries, then checkpoint and return RP_ERR_INTERRUPTED. */
int rp_signal_pending(MPI_Comm comm);
/* rp_signal_raised - local, async-signal-safe flag read (no communication). */
int rp_signal_raised(void);

/* rp_peak_rss_mb - this process's peak resident memory in MiB (getrusage). Local. */
double rp_peak_rss_mb(void);

#endif
