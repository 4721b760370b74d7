/* rp_stage.c - stage start/end boilerplate, signals, output stamps, the summary line. */
#include "rp_stage.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "rp_args.h"
#include "rp_fault.h"
#include "rp_file.h"
#include "rp_h5.h"
#include "rp_log.h"
#include "rp_mpi.h"

/* Set from the signal handler; read at iteration boundaries. */
static volatile sig_atomic_t signal_seen = 0;

static void on_signal(int sig)
{
    (void)sig;
    signal_seen = 1;
}

/* The failure watchdog, from rp_stage_begin to rp_stage_end. A rank that has printed an error
 * expects the stage to end soon: every agreed failure does within moments. If this process is still alive RP_FAIL_WAIT seconds
 * later (default 60, 0 = never), a peer is waiting in a collective that this rank will never
 * enter (a local failure that missed RP_AGREE_LOCAL): remove the partial outputs and exit, and
 * the launcher ends the other ranks, instead of the job burning its allocation. */
static unsigned fail_wait = 60;

static void on_fail_wait(int sig)
{
    static const char msg[] = "recpipe: error: the job did not end within RP_FAIL_WAIT seconds "
                              "of the error above (a rank waits in a collective); exiting\n";
    (void)sig;
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
    rp_file_partial_unlink_all();
    _exit(RP_ERR_INTERNAL);
}

static volatile sig_atomic_t fail_wait_armed = 0;

static void arm_fail_wait(void)
{
    if (fail_wait_armed || fail_wait == 0) return;
    fail_wait_armed = 1;
    signal(SIGALRM, on_fail_wait);
    alarm(fail_wait);
}

int rp_stage_begin(MPI_Comm comm, const char *prog, int argc, char **argv, rp_stage *st)
{
    int rc = RP_OK;
    memset(st, 0, sizeof *st);
    st->prog = prog;
    st->comm = comm;
    st->t0 = MPI_Wtime();
    RP_MPI(MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN));
    RP_MPI(MPI_Comm_rank(comm, &st->rank));
    RP_MPI(MPI_Comm_size(comm, &st->size));
    rp_log_init(prog, st->rank, st->size);
    const char *lvl = getenv("RP_LOG");
    if (lvl != NULL) rp_log_set_level(atoi(lvl));
    const char *wait = getenv("RP_FAIL_WAIT");
    if (wait != NULL) fail_wait = (unsigned)atoi(wait);
    rp_log_on_error(arm_fail_wait);
    if (rp_fault_init(st->rank) != 0) rc = RP_ERR_USAGE;
    rp_h5_init();
    rp_args_cmdline(argc, argv, st->cmdline, sizeof st->cmdline);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
cleanup:
    return rc;
}

void rp_stage_add(rp_stage *st, const char *key, const char *fmt, ...)
{
    size_t used = strlen(st->summary);
    if (used + 2 >= sizeof st->summary) return;
    int n = snprintf(st->summary + used, sizeof st->summary - used, "%s%s=", used ? " " : "", key);
    if (n < 0 || used + (size_t)n >= sizeof st->summary) return;
    used += (size_t)n;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->summary + used, sizeof st->summary - used, fmt, ap);
    va_end(ap);
}

/* The aggregate HDF5 output rate on the summary line: dataset MB written by all ranks over the
 * slowest rank's seconds in H5Dwrite and in closing the files (the flush). */
static void out_rate(rp_stage *st, double bytes, double secs)
{
    rp_stage_add(st, "h5_out_mb", "%.1f", bytes / 1e6);
    rp_stage_add(st, "h5_out_seconds", "%.3f", secs);
    rp_stage_add(st, "h5_out_mb_s", "%.0f", bytes / 1e6 / (secs > 1e-6 ? secs : 1e-6));
}

int rp_stage_end(rp_stage *st, int rc)
{
    if (rc == RP_HELP) {
        rp_log_on_error(NULL);
        return 0;
    }
    rp_log_debug("RP_FAULT counts: alloc=%lld h5read=%lld h5write=%lld",
                 rp_fault_count(RP_FAULT_ALLOC), rp_fault_count(RP_FAULT_H5READ),
                 rp_fault_count(RP_FAULT_H5WRITE));
    rc = rp_mpi_agree(st->comm, rc);
    double secs = rp_wtime_max(st->comm, st->t0);
    /* Peak memory and HDF5 output seconds: max over ranks; output bytes: sum. */
    double h5_secs = 0.0;
    int64_t h5_bytes = 0;
    rp_h5_out_stats(&h5_secs, &h5_bytes);
    double mx[2] = {rp_peak_rss_mb(), h5_secs}, sum = (double)h5_bytes;
    if (MPI_Allreduce(MPI_IN_PLACE, mx, 2, MPI_DOUBLE, MPI_MAX, st->comm) != MPI_SUCCESS ||
        MPI_Allreduce(MPI_IN_PLACE, &sum, 1, MPI_DOUBLE, MPI_SUM, st->comm) != MPI_SUCCESS)
        rp_die(st->comm, RP_ERR_MPI, "MPI_Allreduce of peak memory and output bytes failed");
    double mem = mx[0];
    if (sum > 0) out_rate(st, sum, mx[1]);
    /* Every rank got here: nobody waits in a collective any more. Stand the watchdog down (a
     * test runs stages in-process and goes on after an expected failure). */
    rp_log_on_error(NULL);
    alarm(0);
    fail_wait_armed = 0;
    if (rc == RP_OK && st->rank == 0) {
        printf("%s: ok %s%sseconds=%.2f peak_rss_mb_per_rank=%.0f nprocs=%d\n", st->prog,
               st->summary, st->summary[0] ? " " : "", secs, mem, st->size);
        fflush(stdout);
    } else if (rc != RP_OK && st->rank == 0) {
        rp_log_info("failed (exit %d) after %.2f s", rc, secs);
    }
    return rc;
}

int rp_stage_stamp(const rp_stage *st, hid_t file, const char *schema, int version,
                   const char *inputs)
{
    int rc = RP_OK;
    char created[256];
    int64_t v = version, np = st->size;
    snprintf(created, sizeof created, "%s %s", st->prog, RP_VERSION);
    RP_CALL(rp_h5_attr_write_str(file, "/", "schema", schema));
    RP_CALL(rp_h5_attr_write(file, "/", "schema_version", RP_I64, 1, &v));
    RP_CALL(rp_h5_attr_write_str(file, "/", "created_by", created));
    RP_CALL(rp_h5_attr_write(file, "/", "nprocs", RP_I64, 1, &np));
    RP_CALL(rp_h5_attr_write_str(file, "/", "params", st->cmdline));
    RP_CALL(rp_h5_attr_write_str(file, "/", "inputs", inputs ? inputs : ""));
    /* What the run cost up to this file (max over ranks), for rp-eval's report page: the
     * only attributes that differ between two runs with the same inputs. */
    double cost[2] = {MPI_Wtime() - st->t0, rp_peak_rss_mb()};
    RP_MPI(MPI_Allreduce(MPI_IN_PLACE, cost, 2, MPI_DOUBLE, MPI_MAX, st->comm));
    RP_CALL(rp_h5_attr_write(file, "/", "elapsed_s", RP_F64, 1, &cost[0]));
    RP_CALL(rp_h5_attr_write(file, "/", "peak_rss_mb", RP_F64, 1, &cost[1]));
cleanup:
    return rc;
}

int rp_signal_raised(void) { return signal_seen != 0; }

int rp_signal_pending(MPI_Comm comm)
{
    int flag = signal_seen ? 1 : 0;
    if (MPI_Allreduce(MPI_IN_PLACE, &flag, 1, MPI_INT, MPI_MAX, comm) != MPI_SUCCESS)
        rp_die(comm, RP_ERR_MPI, "MPI_Allreduce of signal flags failed");
    return flag;
}

double rp_peak_rss_mb(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0.0;
    return (double)ru.ru_maxrss / 1024.0; /* Linux reports KiB */
}
