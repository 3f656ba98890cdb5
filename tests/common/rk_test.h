/* tests/common/rk_test.h — shared helpers for r1kit's Check tests.
 * Each tests/<module>/test_<topic>.c defines `Suite *make_suite(void)` and ends with RK_TEST_MAIN(). */
#ifndef RK_TEST_H
#define RK_TEST_H
#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include "formats/common.h"

/* ck_assert-based closeness check: |a-b| <= atol + rtol*|b| for all i; on failure names the first bad
 * index, both values and the max abs error. */
#define rk_assert_allclose(a, b, n, atol, rtol) rk_assert_allclose_at(a, b, n, atol, rtol, __FILE__, __LINE__)
void rk_assert_allclose_at(const float *a, const float *b, size_t n, double atol, double rtol,
                           const char *file, int line);

/* max|a-b| / max|b| over n values (the parity measure for logits); INFINITY if any difference is NaN. */
double rk_max_rel_err(const float *a, const float *b, size_t n);

/* A fresh empty directory under $TMPDIR (or /tmp) for a test; removed (recursively) by rk_test_rmtree. */
char *rk_test_tmpdir(const char *tag);
void rk_test_rmtree(const char *path);
/* Write bytes to a file (creating it); ck_assert on failure. */
void rk_test_write_file(const char *path, const void *data, size_t n);
/* A generated text of about `bytes` bytes for CLI tests (perplexity, imatrix, verify): words from a small list picked
 * by an LCG seeded with seed, a sentence break now and then; same seed, same text. ck_assert on failure. */
void rk_test_write_words(const char *path, size_t bytes, uint32_t seed);
/* Read a whole file; returns malloc'd buffer, *n set. NULL if missing. */
uint8_t *rk_test_read_file(const char *path, size_t *n);
/* Source tree root (RK_SOURCE_DIR) and the r1kit binary ($RK_BIN or <build>/r1kit). */
const char *rk_test_source_dir(void);
const char *rk_test_bin(void);
/* Run a shell command, capture stdout+stderr (each truncated to cap) and return the exit status
 * (or -1 if it did not exit normally). out/err may be NULL. */
int rk_test_run(const char *cmd, char *out, size_t out_cap, char *err, size_t err_cap);
/* Run the r1kit binary with printf-formatted arguments (env_prefix, e.g. "OMP_NUM_THREADS=1", may be NULL);
 * captures stdout/stderr like rk_test_run and returns the exit status. */
int rk_test_r1kit(char *out, size_t out_cap, char *err, size_t err_cap, const char *env_prefix, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* dir + "/" + name in one of 8 rotating static buffers (valid until 8 more calls; not thread-safe), for tests that
 * build paths inside their temp folder inline: `#define path(name) rk_test_path(g_dir, name)`. */
char *rk_test_path(const char *dir, const char *name);
/* Start `r1kit ARGS` in the background, kill -9 it as soon as DIR/checkpoints/latest exists (or after 30 s), and
 * print its exit status ("killed run: status 137" when the kill landed). For the resume-after-kill tests. */
void rk_test_r1kit_kill_at_checkpoint(const char *args, const char *dir);
/* 1 if `/usr/bin/python3 -c "import torch"` works (Debian's python3-torch). */
int rk_test_have_torch(void);
/* Path of the Debian system python that has torch ("/usr/bin/python3"). */
const char *rk_test_python(void);

/* 1 in an ASan build (tests may do less there: the sanitizers make the engine ~10x slower) */
#if defined(__SANITIZE_ADDRESS__)
#define RK_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RK_TEST_SANITIZED 1
#endif
#endif
#ifndef RK_TEST_SANITIZED
#define RK_TEST_SANITIZED 0
#endif

#define RK_TEST_MAIN()                                                                 \
    int main(void) {                                                                   \
        SRunner *sr = srunner_create(make_suite());                                   \
        srunner_run_all(sr, CK_NORMAL);                                                \
        int nf = srunner_ntests_failed(sr);                                            \
        srunner_free(sr);                                                              \
        return nf == 0 ? 0 : 1;                                                        \
    }

/* ---- HTML pages (verify --html, the training curves) ---- */
size_t rk_test_count(const char *s, const char *sub);   /* occurrences, overlapping */
/* every element closed in order (void elements and "/>" aside); text and attribute values hold no raw '<' */
void rk_test_html_well_formed(const char *html);
/* well formed, and nothing that leaves the file: no http(s) URL, script, image or link; a doctype and a
 * Content-Security-Policy of default-src 'none' */
void rk_test_html_self_contained(const char *html);
/* the browser: RK_CHROMIUM overrides /usr/bin/chromium (e.g. RK_CHROMIUM=/nonexistent to check the skip) */
const char *rk_test_chromium_path(void);
int rk_test_have_chromium(void);
/* headless chromium with a fresh profile folder under dir on file://html; extra = "--dump-dom" or "--screenshot=..." */
int rk_test_chromium(const char *dir, const char *extra, const char *html, char *out, size_t cap);
char *rk_test_read_text(const char *path);   /* the file, NUL-terminated; asserts it exists */
/* Lays the page out in chromium and measures every <svg class="chart">: a copy of html ("m-" + its name, beside it)
 * gets a script (its Content-Security-Policy relaxed for it) that records each chart's size and how many of its
 * elements matching mark_selector (e.g. "circle,polyline") have a non-empty box. Fills up to cap entries and
 * returns the number of charts; asserts that chromium ran and the script reported. */
typedef struct rk_test_chart_box { char id[64]; int w, h, marks; } rk_test_chart_box;
int rk_test_chromium_measure(const char *dir, const char *html, const char *mark_selector, rk_test_chart_box *out, int cap);
/* A screenshot of html into png (asserts chromium ran and wrote a PNG); returns its bytes (malloc'd) and size. */
uint8_t *rk_test_chromium_screenshot(const char *dir, const char *html, const char *png, size_t *n);
/* the size of a screenshot of an empty page (what "far from blank" is measured against) */
size_t rk_test_chromium_blank_bytes(const char *dir);

/* main() for a suite whose tests share fixtures made once in the folder `dir` (a char * the tests set): the tests
 * run in this process (CK_NOFORK, so what one test made the next one sees), then dir is removed. */
#define RK_TEST_MAIN_SHARED_DIR(dir)                                                   \
    int main(void) {                                                                   \
        SRunner *sr = srunner_create(make_suite());                                   \
        srunner_set_fork_status(sr, CK_NOFORK);                                        \
        srunner_run_all(sr, CK_NORMAL);                                                \
        int nf = srunner_ntests_failed(sr);                                            \
        srunner_free(sr);                                                              \
        if (dir) rk_test_rmtree(dir);                                                  \
        return nf == 0 ? 0 : 1;                                                        \
    }

/* main() for a suite whose browser test needs chromium: all tests run; with no failure but no chromium, exit 77
 * (CTest "skipped") with a visible message, since the browser test returned early. */
#define RK_TEST_MAIN_BROWSER()                                                         \
    int main(void) {                                                                   \
        SRunner *sr = srunner_create(make_suite());                                   \
        srunner_run_all(sr, CK_NORMAL);                                                \
        const int nf = srunner_ntests_failed(sr);                                      \
        srunner_free(sr);                                                              \
        if (nf) return 1;                                                              \
        if (!rk_test_have_chromium()) {                                                \
            printf("SKIP: the browser test needs %s (Debian package chromium; scripts/deps.sh --test); " \
                   "every other test passed\n", rk_test_chromium_path());              \
            return 77;                                                                 \
        }                                                                              \
        return 0;                                                                      \
    }

/* For tests that need torch: call first in main-level code; exits 77 (CTest "skipped") with a visible message. */
#define RK_TEST_MAIN_NEEDS_TORCH()                                                     \
    int main(void) {                                                                   \
        if (!rk_test_have_torch()) {                                                   \
            printf("SKIP: Debian python3-torch is not installed (apt-get install python3-torch)\n"); \
            return 77;                                                                 \
        }                                                                              \
        SRunner *sr = srunner_create(make_suite());                                   \
        srunner_run_all(sr, CK_NORMAL);                                                \
        int nf = srunner_ntests_failed(sr);                                            \
        srunner_free(sr);                                                              \
        return nf == 0 ? 0 : 1;                                                        \
    }
#endif
