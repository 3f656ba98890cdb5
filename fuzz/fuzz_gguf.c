/* fuzz/fuzz_gguf.c — libFuzzer harness for the GGUF reader (formats/gguf.h).
 * Parses the input with rk_gguf_open_buffer and, when it is accepted, touches everything a consumer
 * would: every KV (formatted, looked up by key, typed getters, every array element), every tensor
 * (looked up by name, first and last data byte). The reader must never crash, leak or read outside the
 * input; on rejection the error must be a one-line message naming the input.
 * Seeds: fuzz/corpus/fuzz_gguf/ (replayed as an ordinary test by fuzz/replay_main.c). */
#include "formats/gguf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void touch_value(const rk_gguf_value *v, int depth) {
    if (v->type != RK_GGUF_ARRAY || depth > RK_GGUF_MAX_DEPTH) return;
    uint64_t n = v->v.arr.n < 64 ? v->v.arr.n : 64;   /* sample; raw arrays are read by format too */
    for (uint64_t i = 0; i < n; i++) {
        rk_gguf_value e;
        if (rk_gguf_arr_at(v, i, &e) != 0) abort();
        uint64_t u;
        int64_t s;
        double f;
        (void)rk_gguf_value_u64(&e, &u);
        (void)rk_gguf_value_i64(&e, &s);
        (void)rk_gguf_value_f64(&e, &f);
        touch_value(&e, depth + 1);
    }
    if (v->v.arr.n) {   /* the last element too */
        rk_gguf_value e;
        if (rk_gguf_arr_at(v, v->v.arr.n - 1, &e) != 0) abort();
        if (e.type == RK_GGUF_STRING && e.v.s.len) { volatile char c = e.v.s.ptr[e.v.s.len - 1]; (void)c; }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rk_gguf *g = NULL;
    rk_err err;
    if (rk_gguf_open_buffer(&g, data, size, "fuzz.gguf", &err) != 0) {
        if (g || err.code >= 0 || strncmp(err.msg, "fuzz.gguf: ", 11) != 0 || strchr(err.msg, '\n')) abort();
        return 0;
    }
    char buf[1024], small[7];
    char *key = malloc(RK_GGUF_MAX_KEY_LEN + 1);
    if (!key) abort();
    for (uint64_t i = 0; i < rk_gguf_kv_count(g); i++) {
        const rk_gguf_kv *kv = rk_gguf_kv_at(g, i);
        rk_gguf_value_format(&kv->val, buf, sizeof buf, 16);
        rk_gguf_value_format(&kv->val, small, sizeof small, 2);
        if (strlen(buf) >= sizeof buf || strlen(small) >= sizeof small) abort();
        memcpy(key, kv->key.ptr, (size_t)kv->key.len);
        key[kv->key.len] = 0;
        if (rk_gguf_find_kv(g, key) != kv) abort();
        uint64_t u;
        int64_t s;
        double f;
        int b;
        rk_gguf_str str;
        (void)rk_gguf_get_u64(g, key, &u);
        (void)rk_gguf_get_i64(g, key, &s);
        (void)rk_gguf_get_f64(g, key, &f);
        (void)rk_gguf_get_bool(g, key, &b);
        if (rk_gguf_get_str(g, key, &str) == 0 && str.len) { volatile char c = str.ptr[str.len - 1]; (void)c; }
        touch_value(&kv->val, 0);
    }
    free(key);
    uint32_t a = rk_gguf_alignment(g);
    if (a == 0 || (a & (a - 1)) || rk_gguf_data_offset(g) > rk_gguf_size(g)) abort();
    for (uint64_t i = 0; i < rk_gguf_tensor_count(g); i++) {
        const rk_gguf_tensor *t = rk_gguf_tensor_at(g, i);
        if (rk_gguf_find_tensor(g, t->name_z) != t || t->offset % a) abort();
        if (t->nbytes) {
            volatile uint8_t x = t->data[0] ^ t->data[t->nbytes - 1];
            (void)x;
        }
    }
    rk_gguf_close(g);
    return 0;
}
