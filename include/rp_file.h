/* rp_file.h - plain-file helpers every stage's non-HDF5 I/O shares: complete positional reads,
 * mkdir -p, and the atomic rename of a "<out>.partial" written by several ranks. */
#ifndef RP_FILE_H
#define RP_FILE_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

/* rp_file_pread_full - read up to n bytes at off, retrying short reads and EINTR; *got < n only
 * at end of file. Returns 0, or -1 with errno set. Local. */
int rp_file_pread_full(int fd, void *buf, size_t n, int64_t off, size_t *got);

/* rp_file_mkdirs - mkdir -p dir. Local. Returns RP_OK or RP_ERR_IO ("dir: cannot create
 * folder: ..."). */
int rp_file_mkdirs(const char *dir);

/* rp_file_mkdirs_for - mkdir -p of the folder holding path ("a/b/c.h5" -> "a/b"). Local. */
int rp_file_mkdirs_for(const char *path);

/* rp_file_partial_track - note that partial is being written (rp_h5_create does it), so the
 * failure watchdog (rp_stage.c) can remove it if the job has to end abruptly; rp_file_commit
 * forgets it. Local. */
void rp_file_partial_track(const char *partial);
/* rp_file_partial_unlink_all - remove every tracked partial file. Async-signal-safe. */
void rp_file_partial_unlink_all(void);

/* rp_file_commit - collective end of an atomic output: agree on rc; on success rank 0 renames
 * partial to path, on failure it removes partial (the previous path is left untouched).
 * Returns the agreed rc. */
int rp_file_commit(MPI_Comm comm, const char *partial, const char *path, int rc);

#endif
