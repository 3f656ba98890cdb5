/* tests/common/rk_test.c — helpers shared by the Check suites (see rk_test.h). */
#define _GNU_SOURCE
#include "tests/common/rk_test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

void rk_assert_allclose_at(const float *a, const float *b, size_t n, double atol, double rtol,
                           const char *file, int line) {
    double maxerr = 0;
    size_t first = (size_t)-1;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        int bad = !(d <= atol + rtol * fabs((double)b[i]));
        if (isnan(a[i]) && isnan(b[i])) bad = 0, d = 0;
        if (d > maxerr || isnan(d)) maxerr = isnan(d) ? INFINITY : d;
        if (bad && first == (size_t)-1) first = i;
    }
    if (first != (size_t)-1)
        ck_abort_msg("%s:%d: allclose failed at index %zu: %.9g vs %.9g (max abs err %.3g, atol %g, rtol %g)",
                     file, line, first, (double)a[first], (double)b[first], maxerr, atol, rtol);
}

double rk_max_rel_err(const float *a, const float *b, size_t n) {
    double d = 0, mb = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (!(e == e)) return INFINITY;
        d = e > d ? e : d;
        mb = fabs(b[i]) > mb ? fabs(b[i]) : mb;
    }
    return mb > 0 ? d / mb : d;
}

char *rk_test_tmpdir(const char *tag) {
    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    char *p = malloc(strlen(base) + strlen(tag) + 32);
    ck_assert_ptr_nonnull(p);
    sprintf(p, "%s/rk-%s-XXXXXX", base, tag);
    ck_assert_msg(mkdtemp(p) != NULL, "mkdtemp %s: %s", p, strerror(errno));
    return p;
}

void rk_test_rmtree(const char *path) {
    if (!path) return;
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char *p = rk_path_join(path, e->d_name);
            struct stat st;
            if (p && lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) rk_test_rmtree(p);
            else if (p) unlink(p);
            free(p);
        }
        closedir(d);
    }
    rmdir(path);
}

void rk_test_write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s: %s", path, strerror(errno));
    if (n) ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

uint8_t *rk_test_read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(len > 0 ? (size_t)len + 1 : 1);
    if (buf && len > 0 && fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) buf[len > 0 ? len : 0] = 0;
    if (n) *n = len > 0 ? (size_t)len : 0;
    return buf;
}

const char *rk_test_source_dir(void) {
    const char *s = getenv("RK_SOURCE_DIR");
    return s && *s ? s : RK_SOURCE_DIR;
}

const char *rk_test_bin(void) {
    const char *s = getenv("RK_BIN");
    return s && *s ? s : RK_BINARY_DIR "/r1kit";
}

static void slurp_fd(int fd, char *buf, size_t cap) {
    size_t n = 0;
    char tmp[4096];
    for (;;) {
        ssize_t k = read(fd, tmp, sizeof tmp);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        if (buf && n + 1 < cap) {
            size_t c = (size_t)k < cap - 1 - n ? (size_t)k : cap - 1 - n;
            memcpy(buf + n, tmp, c);
            n += c;
        }
    }
    if (buf && cap) buf[n] = 0;
}

int rk_test_run(const char *cmd, char *out, size_t out_cap, char *err, size_t err_cap) {
    char ofile[] = "/tmp/rk-run-out-XXXXXX", efile[] = "/tmp/rk-run-err-XXXXXX";
    int ofd = mkstemp(ofile), efd = mkstemp(efile);
    ck_assert(ofd >= 0 && efd >= 0);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        dup2(ofd, 1);
        dup2(efd, 2);
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0) dup2(nul, 0);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    lseek(ofd, 0, SEEK_SET);
    lseek(efd, 0, SEEK_SET);
    slurp_fd(ofd, out, out_cap);
    slurp_fd(efd, err, err_cap);
    close(ofd);
    close(efd);
    unlink(ofile);
    unlink(efile);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int rk_test_r1kit(char *out, size_t out_cap, char *err, size_t err_cap, const char *env_prefix, const char *fmt, ...) {
    char args[4096], cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s %s %s", env_prefix ? env_prefix : "", rk_test_bin(), args);
    return rk_test_run(cmd, out, out_cap, err, err_cap);
}

char *rk_test_path(const char *dir, const char *name) {
    static char p[8][4096];
    static int k;
    k = (k + 1) % 8;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

void rk_test_r1kit_kill_at_checkpoint(const char *args, const char *dir) {
    size_t cap = strlen(args) + 2 * strlen(dir) + strlen(rk_test_bin()) + 256;
    char *cmd = malloc(cap), out[4096];
    ck_assert_ptr_nonnull(cmd);
    snprintf(cmd, cap,
             "%s %s >/dev/null 2>&1 & pid=$!; "
             "i=0; while [ ! -f %s/checkpoints/latest ] && [ $i -lt 3000 ]; do sleep 0.01; i=$((i+1)); done; "
             "kill -9 $pid 2>/dev/null; wait $pid; echo status $?",
             rk_test_bin(), args, dir);
    rk_test_run(cmd, out, sizeof out, NULL, 0);
    printf("killed run: %s", out);
    free(cmd);
}

const char *rk_test_python(void) { return "/usr/bin/python3"; }

int rk_test_have_torch(void) {
    if (access(rk_test_python(), X_OK) != 0) return 0;
    int rc = system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1");
    return rc == 0;
}

void rk_test_write_words(const char *path, size_t bytes, uint32_t seed) {
    static const char *const w[] = { "the", "expert", "router", "picks", "eight", "of", "many", "and", "a", "model",
                                     "weights", "shrink", "to", "bits", "while", "quality", "stays", "close", "we",
                                     "measure", "it", "on", "text", "in", "light" };
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    uint32_t s = seed;
    size_t n = 0;
    while (n < bytes) {
        s = s * 1664525u + 1013904223u;
        const char *word = w[(s >> 8) % (sizeof w / sizeof w[0])];
        n += (size_t)fprintf(f, "%s%s", word, (s >> 20) % 9 == 0 ? ".\n" : " ");
    }
    ck_assert_int_eq(fclose(f), 0);
}

/* ---- HTML pages ---- */
size_t rk_test_count(const char *s, const char *sub) {
    size_t n = 0;
    for (const char *p = strstr(s, sub); p; p = strstr(p + 1, sub)) n++;
    return n;
}

void rk_test_html_well_formed(const char *html) {
    static const char *const voids[] = { "meta", "br", "link", "img", "hr", "input", "!DOCTYPE" };
    char stack[256][24];
    int top = 0;
    for (const char *p = strchr(html, '<'); p; p = strchr(p + 1, '<')) {
        const char *e = strchr(p, '>');
        ck_assert_msg(e != NULL, "unterminated tag at %ld", (long)(p - html));
        ck_assert_msg(memchr(p + 1, '<', (size_t)(e - p - 1)) == NULL, "raw '<' inside a tag at %ld: %.60s", (long)(p - html), p);
        const int closing = p[1] == '/';
        const char *n0 = p + 1 + closing, *n1 = n0;
        while (n1 < e && *n1 != ' ' && *n1 != '/' && *n1 != '>') n1++;
        char name[24];
        snprintf(name, sizeof name, "%.*s", (int)(n1 - n0), n0);
        if (!strcmp(name, "style")) {
            p = strstr(e, "</style>");
            ck_assert_ptr_nonnull(p);
            p += 7;
            continue;
        }
        int is_void = e[-1] == '/';
        for (size_t i = 0; i < sizeof voids / sizeof voids[0]; i++) is_void |= !strcmp(name, voids[i]);
        if (closing) {
            ck_assert_msg(top > 0 && !strcmp(stack[top - 1], name), "</%s> at %ld closes <%s>", name, (long)(p - html),
                          top ? stack[top - 1] : "(nothing)");
            top--;
        } else if (!is_void) {
            ck_assert_int_lt(top, 256);
            snprintf(stack[top++], sizeof stack[0], "%s", name);
        }
        p = e;
    }
    ck_assert_msg(top == 0, "<%s> not closed", top ? stack[top - 1] : "");
}

const char *rk_test_chromium_path(void) {
    const char *p = getenv("RK_CHROMIUM");
    return p && *p ? p : "/usr/bin/chromium";
}

int rk_test_have_chromium(void) { return access(rk_test_chromium_path(), X_OK) == 0; }

int rk_test_chromium(const char *dir, const char *extra, const char *html, char *out, size_t cap) {
    static int k;
    char cmd[20000];
    snprintf(cmd, sizeof cmd,
             "timeout 180 '%s' --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
             "--disable-background-networking --disable-component-update --disable-sync --disable-extensions "
             "--user-data-dir='%s/profile%d' --window-size=1000,2400 --hide-scrollbars %s 'file://%s' 2>/dev/null",
             rk_test_chromium_path(), dir, k++, extra, html);
    return rk_test_run(cmd, out, cap, NULL, 0);
}

char *rk_test_read_text(const char *path) {
    size_t n = 0;
    uint8_t *d = rk_test_read_file(path, &n);   /* NUL-terminated */
    ck_assert_msg(d != NULL, "%s missing", path);
    return (char *)d;
}

static char g_dom[1 << 22];

int rk_test_chromium_measure(const char *dir, const char *html, const char *mark_selector, rk_test_chart_box *out, int cap) {
    char script[1024];
    snprintf(script, sizeof script,
             "<script>(function(){var o=[];document.querySelectorAll('svg.chart').forEach(function(s){var r=s.getBoundingClientRect();"
             "var m=0;s.querySelectorAll('%s').forEach(function(e){var b=e.getBoundingClientRect();"
             "if(b.width>0||b.height>0)m++;});o.push(s.id+'='+Math.round(r.width)+'x'+Math.round(r.height)+'/'+m);});"
             "var p=document.createElement('pre');p.id='rk-measure';p.textContent='['+o.join(' ')+']';"
             "document.body.appendChild(p);})();</script>", mark_selector);
    char *h = rk_test_read_text(html);
    const size_t hn = strlen(h), sn = strlen(script);
    char *m = malloc(hn + sn + 64), *body = strstr(h, "</body>"), *csp = strstr(h, "script-src 'none'");
    ck_assert(m && body && csp && csp < body);
    size_t o = (size_t)(csp - h);
    memcpy(m, h, o);
    o += (size_t)sprintf(m + o, "script-src 'unsafe-inline'");
    const size_t b0 = (size_t)(csp - h) + strlen("script-src 'none'"), b1 = (size_t)(body - h);
    memcpy(m + o, h + b0, b1 - b0), o += b1 - b0;
    memcpy(m + o, script, sn), o += sn;
    memcpy(m + o, h + b1, hn - b1), o += hn - b1;
    const char *base = strrchr(html, '/');
    char mp[8192];
    snprintf(mp, sizeof mp, "%.*sm-%s", base ? (int)(base + 1 - html) : 0, html, base ? base + 1 : html);
    rk_test_write_file(mp, m, o);
    free(m);
    free(h);
    const int rc = rk_test_chromium(dir, "--dump-dom", mp, g_dom, sizeof g_dom);
    ck_assert_msg(rc == 0, "chromium --dump-dom exit %d", rc);
    const char *res = strstr(g_dom, "<pre id=\"rk-measure\">[");
    ck_assert_msg(res != NULL, "%s: the measuring script did not run", html);
    res += strlen("<pre id=\"rk-measure\">[");
    int charts = 0;
    for (const char *p = res; *p && *p != ']';) {
        rk_test_chart_box b;
        int used = 0;
        ck_assert_msg(sscanf(p, "%63[^=]=%dx%d/%d%n", b.id, &b.w, &b.h, &b.marks, &used) == 4, "bad measure: %.80s", p);
        if (charts < cap) out[charts] = b;
        charts++;
        p += used;
        while (*p == ' ') p++;
    }
    return charts;
}

uint8_t *rk_test_chromium_screenshot(const char *dir, const char *html, const char *png, size_t *n) {
    char arg[8400];
    snprintf(arg, sizeof arg, "--screenshot='%s'", png);
    const int rc = rk_test_chromium(dir, arg, html, NULL, 0);
    ck_assert_msg(rc == 0, "chromium --screenshot exit %d", rc);
    uint8_t *d = rk_test_read_file(png, n);
    ck_assert_msg(d != NULL && *n > 24 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0, "no PNG screenshot of %s", html);
    return d;
}

size_t rk_test_chromium_blank_bytes(const char *dir) {
    char h[8192], p[8192];
    snprintf(h, sizeof h, "%s/blank.html", dir);
    snprintf(p, sizeof p, "%s/blank.png", dir);
    rk_test_write_file(h, "<!DOCTYPE html><html><body></body></html>", 41);
    size_t n = 0;
    free(rk_test_chromium_screenshot(dir, h, p, &n));
    return n;
}

void rk_test_html_self_contained(const char *html) {
    rk_test_html_well_formed(html);
    ck_assert_ptr_null(strstr(html, "http://"));
    ck_assert_ptr_null(strstr(html, "https://"));
    ck_assert_ptr_null(strstr(html, "<script"));
    ck_assert_ptr_null(strstr(html, "<img"));
    ck_assert_ptr_null(strstr(html, "<link"));
    ck_assert_ptr_null(strstr(html, "url(http"));
    ck_assert_ptr_nonnull(strstr(html, "<!DOCTYPE html>"));
    ck_assert_ptr_nonnull(strstr(html, "default-src 'none'"));
}
