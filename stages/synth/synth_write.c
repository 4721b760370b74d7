/* synth_write.c - rp-synth's collective CSV writer: units (users, videos) are formatted in
 * fixed chunks, chunk c by rank c % size; each round places the ranks' buffers by an exclusive
 * scan of their byte counts, so the file's bytes never depend on the number of ranks. Output
 * goes to "<file>.partial" (MPI-IO, independent writes at disjoint offsets), then rank 0
 * renames it. Memory per rank: one chunk's text. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rp_err.h"
#include "rp_file.h"
#include "rp_log.h"
#include "rp_mpi.h"
#include "synth.h"

static int write_at(MPI_File fh, int64_t off, const char *p, size_t len, const char *path)
{
    int rc = RP_OK;
    while (len > 0) { /* pieces below 1 GiB keep MPI's int counts safe */
        int n = len > (1u << 30) ? 1 << 30 : (int)len;
        MPI_Status stt;
        RP_MPI_IO(MPI_File_write_at(fh, (MPI_Offset)off, p, n, MPI_BYTE, &stt), path);
        off += n;
        p += n;
        len -= (size_t)n;
    }
cleanup:
    return rc;
}

static int format_chunk(const synth_model *m, int64_t c, int64_t chunk, int64_t n_units,
                        synth_unit_fn fn, void *ctx, synth_buf *b)
{
    int rc = RP_OK;
    int64_t end = (c + 1) * chunk < n_units ? (c + 1) * chunk : n_units;
    for (int64_t u = c * chunk; u < end; u++) RP_CALL(fn(m, u, b, ctx));
cleanup:
    return rc;
}

int synth_write_table(MPI_Comm comm, const char *dir, const char *name, const char *header,
                      int64_t n_units, int64_t chunk, const synth_model *m, synth_unit_fn fn,
                      synth_round_fn round, void *ctx, int64_t *bytes_out)
{
    int rc = RP_OK, rank = 0, size = 1, opened = 0;
    char path[4096], partial[4200];
    MPI_File fh = MPI_FILE_NULL;
    synth_buf b = {0};
    RP_MPI(MPI_Comm_rank(comm, &rank));
    RP_MPI(MPI_Comm_size(comm, &size));
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(partial, sizeof partial, "%s.partial", path);
    if (rank == 0) unlink(partial); /* a stale partial from a killed run */
    RP_MPI(MPI_Barrier(comm));
    int e = MPI_File_open(comm, partial, MPI_MODE_CREATE | MPI_MODE_WRONLY, MPI_INFO_NULL, &fh);
    if (e != MPI_SUCCESS) RP_FAIL_USER0(RP_ERR_IO, "%s: cannot create", partial);
    opened = 1;
    int64_t base = (int64_t)strlen(header) + 1;
    if (rank == 0) {
        RP_CALL(synth_buf_reserve(&b, (size_t)base));
        synth_put_str(&b, header);
        synth_put_ch(&b, '\n');
        rc = write_at(fh, 0, b.p, b.len, partial);
    }
    RP_AGREE(comm, rc);
    int64_t nchunks = (n_units + chunk - 1) / chunk;
    int64_t nrounds = (nchunks + size - 1) / size;
    char what[256];
    rp_progress pg;
    snprintf(what, sizeof what, "writing %s", name);
    /* A table's units are its first column's entities (one user's rows, one video's rows). */
    rp_progress_begin(&pg, what, n_units, strncmp(header, "user_id", 7) == 0    ? "users"
                                          : strncmp(header, "video_id", 8) == 0 ? "videos"
                                                                                : "rows");
    for (int64_t r = 0; r < nrounds; r++) {
        int64_t c = r * size + rank, off = 0, total = 0;
        b.len = 0;
        if (c < nchunks) rc = format_chunk(m, c, chunk, n_units, fn, ctx, &b);
        RP_AGREE(comm, rc);
        if (round) RP_CALL(round(ctx, c, c < nchunks));
        RP_CALL(rp_mpi_exscan_i64(comm, (int64_t)b.len, &off));
        total = (int64_t)b.len;
        RP_CALL(rp_mpi_sum_i64(comm, &total, 1));
        rc = write_at(fh, base + off, b.p, b.len, partial);
        RP_AGREE(comm, rc);
        base += total;
        int64_t done = (r + 1) * size * chunk;
        rp_progress_update(&pg, done < n_units ? done : n_units);
    }
    rp_progress_end(&pg);
    if (bytes_out) *bytes_out = base;
cleanup:
    if (opened && MPI_File_close(&fh) != MPI_SUCCESS && rc == RP_OK) rc = RP_ERR_IO;
    synth_buf_clear(&b);
    if (opened) rc = rp_file_commit(comm, partial, path, rc);
    return rc;
}

int synth_copy_file(MPI_Comm comm, const char *src, const char *dir, const char *name)
{
    int rc = RP_OK, rank = 0;
    char path[4096], partial[4200];
    FILE *in = NULL, *out = NULL;
    char *buf = NULL;
    RP_MPI(MPI_Comm_rank(comm, &rank));
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(partial, sizeof partial, "%s.partial", path);
    if (rank == 0) {
        in = fopen(src, "rb");
        if (in == NULL) RP_FAIL_USER(RP_ERR_NOINPUT, "%s: cannot open: %s", src, strerror(errno));
        out = fopen(partial, "wb");
        if (out == NULL) RP_FAIL_USER(RP_ERR_IO, "%s: cannot create: %s", partial, strerror(errno));
        RP_ALLOC(buf = malloc(1 << 20));
        size_t n;
        while ((n = fread(buf, 1, 1 << 20, in)) > 0)
            if (fwrite(buf, 1, n, out) != n)
                RP_FAIL_USER(RP_ERR_IO, "%s: write failed: %s", partial, strerror(errno));
        if (ferror(in)) RP_FAIL_USER(RP_ERR_IO, "%s: read failed", src);
        int ce = fclose(out);
        out = NULL;
        if (ce != 0) RP_FAIL_USER(RP_ERR_IO, "%s: write failed: %s", partial, strerror(errno));
    }
cleanup:
    if (in) fclose(in);
    if (out) fclose(out);
    free(buf);
    if (rank == 0 && rc != RP_OK) unlink(partial);
    rc = rp_mpi_agree(comm, rc);
    if (rc == RP_OK) rc = rp_file_commit(comm, partial, path, rc);
    return rc;
}
