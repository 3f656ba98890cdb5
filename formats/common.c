/* formats/common.c — error records, the dtype table, file maps and atomic output files.
 * See common.h. The dtype table follows ggml's type_traits (block size, bytes per block) for ids < 40
 * and the safetensors spec for the rest. */
#define _GNU_SOURCE
#include "formats/common.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- errors ---- */
static int err_vset(rk_err *err, int code, uint64_t offset, const char *prefix, const char *fmt, va_list ap) {
    if (!err) return code;
    err->code = code;
    err->offset = offset;
    size_t n = 0;
    if (prefix) {
        int k = snprintf(err->msg, sizeof err->msg, "%s: ", prefix);
        n = k < 0 ? 0 : ((size_t)k >= sizeof err->msg ? sizeof err->msg - 1 : (size_t)k);
    }
    vsnprintf(err->msg + n, sizeof err->msg - n, fmt, ap);
    for (char *p = err->msg; *p; p++)  /* keep it one line */
        if (*p == '\n' || *p == '\r') *p = ' ';
    return code;
}

int rk_err_set(rk_err *err, int code, uint64_t offset, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, code, offset, NULL, fmt, ap);
    va_end(ap);
    return code;
}

int rk_err_file(rk_err *err, int code, const char *path, uint64_t offset, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, code, offset, path ? path : "(null)", fmt, ap);
    va_end(ap);
    return code;
}

void rk_err_clear(rk_err *err) {
    if (!err) return;
    err->code = 0;
    err->offset = UINT64_MAX;
    err->msg[0] = 0;
}

const char *rk_err_code_name(int code) {
    switch (code) {
    case RK_OK: return "ok";
    case RK_EIO: return "I/O error";
    case RK_ECORRUPT: return "corrupt input";
    case RK_EUNSUPPORTED: return "unsupported";
    case RK_EREFUSED: return "refused";
    case RK_ENOMEM: return "out of memory";
    case RK_EINVAL: return "invalid argument";
    case RK_ENOTFOUND: return "not found";
    case RK_EINTR: return "interrupted";
    default: return "error";
    }
}

/* ---- dtypes ---- */
#define SCALAR(nm, bytes, fl) { nm, 1, bytes, (bytes) * 8, fl }
#define BLOCK(nm, bs, ts) { nm, bs, ts, 0, 1 }
static const rk_dtype_traits g_traits[RK_DTYPE_LIMIT] = {
    [RK_DTYPE_F32] = SCALAR("F32", 4, 1),
    [RK_DTYPE_F16] = SCALAR("F16", 2, 1),
    [RK_DTYPE_Q4_0] = BLOCK("Q4_0", 32, 18),
    [RK_DTYPE_Q4_1] = BLOCK("Q4_1", 32, 20),
    [RK_DTYPE_Q5_0] = BLOCK("Q5_0", 32, 22),
    [RK_DTYPE_Q5_1] = BLOCK("Q5_1", 32, 24),
    [RK_DTYPE_Q8_0] = BLOCK("Q8_0", 32, 34),
    [RK_DTYPE_Q8_1] = BLOCK("Q8_1", 32, 36),
    [RK_DTYPE_Q2_K] = BLOCK("Q2_K", 256, 84),
    [RK_DTYPE_Q3_K] = BLOCK("Q3_K", 256, 110),
    [RK_DTYPE_Q4_K] = BLOCK("Q4_K", 256, 144),
    [RK_DTYPE_Q5_K] = BLOCK("Q5_K", 256, 176),
    [RK_DTYPE_Q6_K] = BLOCK("Q6_K", 256, 210),
    [RK_DTYPE_Q8_K] = BLOCK("Q8_K", 256, 292),
    [RK_DTYPE_IQ2_XXS] = BLOCK("IQ2_XXS", 256, 66),
    [RK_DTYPE_IQ2_XS] = BLOCK("IQ2_XS", 256, 74),
    [RK_DTYPE_IQ3_XXS] = BLOCK("IQ3_XXS", 256, 98),
    [RK_DTYPE_IQ1_S] = BLOCK("IQ1_S", 256, 50),
    [RK_DTYPE_IQ4_NL] = BLOCK("IQ4_NL", 32, 18),
    [RK_DTYPE_IQ3_S] = BLOCK("IQ3_S", 256, 110),
    [RK_DTYPE_IQ2_S] = BLOCK("IQ2_S", 256, 82),
    [RK_DTYPE_IQ4_XS] = BLOCK("IQ4_XS", 256, 136),
    [RK_DTYPE_I8] = SCALAR("I8", 1, 0),
    [RK_DTYPE_I16] = SCALAR("I16", 2, 0),
    [RK_DTYPE_I32] = SCALAR("I32", 4, 0),
    [RK_DTYPE_I64] = SCALAR("I64", 8, 0),
    [RK_DTYPE_F64] = SCALAR("F64", 8, 1),
    [RK_DTYPE_IQ1_M] = BLOCK("IQ1_M", 256, 56),
    [RK_DTYPE_BF16] = SCALAR("BF16", 2, 1),
    [RK_DTYPE_TQ1_0] = BLOCK("TQ1_0", 256, 54),
    [RK_DTYPE_TQ2_0] = BLOCK("TQ2_0", 256, 66),
    [RK_DTYPE_MXFP4] = BLOCK("MXFP4", 32, 17),
    [RK_DTYPE_BOOL] = SCALAR("BOOL", 1, 0),
    [RK_DTYPE_U8] = SCALAR("U8", 1, 0),
    [RK_DTYPE_U16] = SCALAR("U16", 2, 0),
    [RK_DTYPE_U32] = SCALAR("U32", 4, 0),
    [RK_DTYPE_U64] = SCALAR("U64", 8, 0),
    [RK_DTYPE_F8_E4M3] = SCALAR("F8_E4M3", 1, 1),
    [RK_DTYPE_F8_E5M2] = SCALAR("F8_E5M2", 1, 1),
    [RK_DTYPE_F8_E8M0] = SCALAR("F8_E8M0", 1, 0),
    [RK_DTYPE_F6_E2M3] = { "F6_E2M3", 1, 0, 6, 0 },
    [RK_DTYPE_F6_E3M2] = { "F6_E3M2", 1, 0, 6, 0 },
    [RK_DTYPE_F4] = { "F4", 1, 0, 4, 0 },
};

const rk_dtype_traits *rk_dtype_get(int dtype) {
    if (dtype < 0 || dtype >= RK_DTYPE_LIMIT || !g_traits[dtype].name) return NULL;
    return &g_traits[dtype];
}

const char *rk_dtype_name(int dtype) {
    const rk_dtype_traits *t = rk_dtype_get(dtype);
    return t ? t->name : "?";
}

rk_dtype rk_dtype_from_name(const char *name) {
    if (!name) return RK_DTYPE_INVALID;
    for (int i = 0; i < RK_DTYPE_LIMIT; i++)
        if (g_traits[i].name && strcmp(g_traits[i].name, name) == 0) return (rk_dtype)i;
    return RK_DTYPE_INVALID;
}

int rk_dtype_is_ggml(int dtype) { return dtype >= 0 && dtype < RK_GGML_TYPE_LIMIT && g_traits[dtype].name; }

int rk_dtype_nbytes(int dtype, uint64_t n, uint64_t *out) {
    const rk_dtype_traits *t = rk_dtype_get(dtype);
    if (!t) return RK_ECORRUPT;
    uint64_t r;
    if (t->type_size == 0) { /* sub-byte scalar */
        if (rk_mul_u64(n, t->bits, &r) || r % 8) return RK_ECORRUPT;
        *out = r / 8;
        return 0;
    }
    if (n % t->block_size) return RK_ECORRUPT;
    if (rk_mul_u64(n / t->block_size, t->type_size, &r)) return RK_ECORRUPT;
    *out = r;
    return 0;
}

int rk_shape_numel(const int64_t *shape, int n_dims, uint64_t *out) {
    uint64_t n = 1;
    if (n_dims < 0 || n_dims > RK_MAX_DIMS) return -1;
    for (int i = 0; i < n_dims; i++) {
        if (shape[i] < 0 || rk_mul_u64(n, (uint64_t)shape[i], &n)) return -1;
    }
    *out = n;
    return 0;
}

/* ---- file maps ---- */
static volatile int g_map_read;
void rk_map_use_memory(void) { g_map_read = 1; }
int rk_map_in_memory(void) { return g_map_read; }

/* The whole file into anonymous memory (for rk_map_use_memory): NULL with errno set on failure. */
static void *read_whole(int fd, uint64_t size) {
    void *p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, (size_t)size, MADV_HUGEPAGE);   /* a hint; fine if refused */
#endif
    for (uint64_t off = 0; off < size;) {
        const size_t want = size - off < ((size_t)64 << 20) ? (size_t)(size - off) : ((size_t)64 << 20);
        const ssize_t got = pread(fd, (uint8_t *)p + off, want, (off_t)off);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            const int e = got == 0 ? EIO : errno;   /* 0: the file shrank under us */
            munmap(p, (size_t)size);
            errno = e;
            return NULL;
        }
        off += (uint64_t)got;
    }
    if (mprotect(p, (size_t)size, PROT_READ) != 0) { /* read-only like a map; keep going if refused */ }
    return p;
}

int rk_map_open(rk_map *m, const char *path, rk_err *err) {
    memset(m, 0, sizeof *m);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return rk_err_file(err, RK_EIO, path, UINT64_MAX, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return rk_err_file(err, RK_EIO, path, UINT64_MAX, "cannot stat: %s", strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return rk_err_file(err, RK_EIO, path, UINT64_MAX, "is a directory, expected a file");
    }
    m->size = (uint64_t)st.st_size;
    if (m->size > 0 && g_map_read) {
        void *p = read_whole(fd, m->size);
        if (!p) {
            int e = errno;
            close(fd);
            return rk_err_file(err, e == ENOMEM ? RK_ENOMEM : RK_EIO, path, UINT64_MAX, "cannot read %llu bytes into memory: %s",
                               (unsigned long long)m->size, strerror(e));
        }
        m->data = p;
    } else if (m->size > 0) {
        void *p = mmap(NULL, (size_t)m->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return rk_err_file(err, RK_EIO, path, UINT64_MAX, "cannot map %llu bytes: %s",
                               (unsigned long long)m->size, strerror(e));
        }
        m->data = p;
    }
    close(fd);
    m->path = rk_strdup(path);
    if (!m->path) {
        rk_map_close(m);
        return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    }
    return 0;
}

void rk_map_close(rk_map *m) {
    if (!m) return;
    if (m->data) munmap((void *)m->data, (size_t)m->size);
    free(m->path);
    memset(m, 0, sizeof *m);
}

/* ---- atomic outputs ----
 * A small fixed registry of live temp paths; the signal handler unlinks them (async-signal-safe) and
 * re-raises the signal with the default action. */
#define RK_MAX_OUTFILES 1024   /* R1 has 163 shards, all open until the writer finishes */
static char *volatile g_live[RK_MAX_OUTFILES];
static volatile sig_atomic_t g_interrupted;

static void on_signal(int sig) {
    g_interrupted = 1;
    for (int i = 0; i < RK_MAX_OUTFILES; i++) {
        char *p = g_live[i];
        if (p) unlink(p);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

void rk_outfile_install_signal_handlers(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

int rk_interrupted(void) { return g_interrupted != 0; }

static int registry_add(char *tmp) {
    for (int i = 0; i < RK_MAX_OUTFILES; i++) {
        if (__sync_bool_compare_and_swap(&g_live[i], NULL, tmp)) return i;
    }
    return -1;
}

int rk_outfile_open(rk_outfile *o, const char *path, rk_err *err) {
    memset(o, 0, sizeof *o);
    o->slot = -1;
    char *dcopy = rk_strdup(path), *bcopy = rk_strdup(path);
    if (!dcopy || !bcopy) {
        free(dcopy);
        free(bcopy);
        return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    }
    const char *dir = dirname(dcopy), *base = basename(bcopy);
    size_t n = strlen(dir) + strlen(base) + 32;
    o->tmp = malloc(n);
    o->path = rk_strdup(path);
    if (!o->tmp || !o->path) {
        free(dcopy);
        free(bcopy);
        rk_outfile_abort(o);
        return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    }
    snprintf(o->tmp, n, "%s/.%s.tmp.XXXXXX", dir, base);
    free(dcopy);
    free(bcopy);
    int fd = mkostemp(o->tmp, O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        free(o->tmp);
        o->tmp = NULL;
        rk_outfile_abort(o);
        return rk_err_file(err, RK_EIO, path, UINT64_MAX, "cannot create a temporary file beside it: %s", strerror(e));
    }
    fchmod(fd, 0644);
    o->slot = registry_add(o->tmp);
    o->fp = fdopen(fd, "wb");
    if (!o->fp) {
        int e = errno;
        close(fd);
        rk_outfile_abort(o);
        return rk_err_file(err, RK_EIO, path, UINT64_MAX, "cannot open temporary file: %s", strerror(e));
    }
    return 0;
}

static void registry_remove(rk_outfile *o) {
    if (o->slot >= 0) {
        g_live[o->slot] = NULL;
        o->slot = -1;
    }
}

void rk_outfile_abort(rk_outfile *o) {
    if (!o) return;
    if (o->fp) fclose(o->fp);
    o->fp = NULL;
    registry_remove(o);
    if (o->tmp) unlink(o->tmp);
    free(o->tmp);
    free(o->path);
    o->tmp = o->path = NULL;
}

/* Test seam: RK_TEST_WRITE_DELAY_US slows every write so that tests can interrupt a run mid-file. */
static long write_delay_us(void) {
    static long d = -1;
    if (d < 0) {
        const char *s = getenv("RK_TEST_WRITE_DELAY_US");
        d = s ? strtol(s, NULL, 10) : 0;
        if (d < 0) d = 0;
    }
    return d;
}

int rk_outfile_write(rk_outfile *o, const void *buf, size_t n, rk_err *err) {
    if (n == 0) return 0;
    if (write_delay_us()) usleep((useconds_t)write_delay_us());
    if (!o->fp) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "write to a closed output file");
    if (fwrite(buf, 1, n, o->fp) != n)
        return rk_err_file(err, RK_EIO, o->path, UINT64_MAX, "write failed: %s", strerror(errno));
    if (g_interrupted) return rk_err_file(err, RK_EINTR, o->path, UINT64_MAX, "interrupted");
    return 0;
}

int rk_outfile_commit(rk_outfile *o, rk_err *err) {
    int rc = 0;
    if (!o->fp) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "commit of a closed output file");
    if (fflush(o->fp) != 0 || fsync(fileno(o->fp)) != 0) {
        rc = rk_err_file(err, RK_EIO, o->path, UINT64_MAX, "flush failed: %s", strerror(errno));
        goto fail;
    }
    if (fclose(o->fp) != 0) {
        o->fp = NULL;
        rc = rk_err_file(err, RK_EIO, o->path, UINT64_MAX, "close failed: %s", strerror(errno));
        goto fail;
    }
    o->fp = NULL;
    if (rename(o->tmp, o->path) != 0) {
        rc = rk_err_file(err, RK_EIO, o->path, UINT64_MAX, "rename failed: %s", strerror(errno));
        goto fail;
    }
    registry_remove(o);
    { /* make the rename durable */
        char *d = rk_strdup(o->path);
        if (d) {
            int dfd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dfd >= 0) {
                fsync(dfd);
                close(dfd);
            }
            free(d);
        }
    }
    free(o->tmp);
    free(o->path);
    o->tmp = o->path = NULL;
    return 0;
fail:
    rk_outfile_abort(o);
    return rc;
}

int rk_outfile_commit_header(rk_outfile *o, const void *head, size_t n, rk_err *err) {
    if (fflush(o->fp) || fseeko(o->fp, 0, SEEK_SET)) {
        int rc = rk_err_file(err, RK_EIO, o->path, UINT64_MAX, "cannot seek: %s", strerror(errno));
        rk_outfile_abort(o);
        return rc;
    }
    int rc = rk_outfile_write(o, head, n, err);
    if (rc) {
        rk_outfile_abort(o);
        return rc;
    }
    return rk_outfile_commit(o, err);
}

/* ---- small helpers ---- */
char *rk_strdup(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

char *rk_path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t k = a;
    if (a && dir[a - 1] != '/') p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}

int rk_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int rk_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int rk_read_file(const char *path, uint64_t max_bytes, char **out, uint64_t *out_len, rk_err *err) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return rk_err_file(err, errno == ENOENT ? RK_ENOTFOUND : RK_EIO, path, UINT64_MAX,
                               "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return rk_err_file(err, RK_EIO, path, UINT64_MAX, "not a regular file");
    }
    if ((uint64_t)st.st_size > max_bytes) {
        fclose(f);
        return rk_err_file(err, RK_ECORRUPT, path, UINT64_MAX, "file is %llu bytes, more than the %llu allowed",
                           (unsigned long long)st.st_size, (unsigned long long)max_bytes);
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "%s: out of memory", path);
    }
    if (n && fread(buf, 1, n, f) != n) {
        free(buf);
        fclose(f);
        return rk_err_file(err, RK_EIO, path, UINT64_MAX, "read failed");
    }
    fclose(f);
    buf[n] = 0;
    *out = buf;
    if (out_len) *out_len = n;
    return 0;
}

int rk_write_file_atomic(const char *path, const void *data, size_t n, rk_err *err) {
    rk_outfile o;
    int rc = rk_outfile_open(&o, path, err);
    if (rc) return rc;
    if ((rc = rk_outfile_write(&o, data, n, err))) {
        rk_outfile_abort(&o);
        return rc;
    }
    return rk_outfile_commit(&o, err);
}
