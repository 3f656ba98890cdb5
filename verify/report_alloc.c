/* verify/report_alloc.c — the candidate's bit allocation for the HTML report: every tensor of its GGUF (type and
 * bytes from the tensor table, never from metadata), with the allocator's predicted error and share when the
 * file carries r1kit.quantize.alloc.errors / .shares (f32 arrays aligned with r1kit.quantize.types, whose items
 * are "<tensor name>=<type>"; docs/quantize.md). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "formats/gguf.h"
#include "verify/report-impl.h"

void rk_verify_report_alloc_free(rk_verify_report_alloc *a) {
    if (!a) return;
    free(a->t);
    memset(a, 0, sizeof *a);
}

/* "blk.12.ffn_gate.5.weight" → layer 12, expert 5, kind "ffn_gate"; "token_embd.weight" → -1, -1, "token_embd" */
static void parse_name(rk_verify_alloc_tensor *t) {
    const char *s = t->name;
    t->layer = -1, t->expert = -1;
    if (strncmp(s, "blk.", 4) == 0) {
        char *end;
        long long l = strtoll(s + 4, &end, 10);
        if (end != s + 4 && *end == '.' && l >= 0) t->layer = l, s = end + 1;
    }
    size_t n = strlen(s);
    if (n > 7 && strcmp(s + n - 7, ".weight") == 0) n -= 7;
    else if (n > 5 && strcmp(s + n - 5, ".bias") == 0) n -= 5;
    /* trailing ".E" (digits) = expert index of the per-expert layout */
    size_t d = n;
    while (d > 0 && s[d - 1] >= '0' && s[d - 1] <= '9') d--;
    if (d < n && d > 1 && s[d - 1] == '.' && n - d <= 9) {
        t->expert = strtoll(s + d, NULL, 10);
        n = d - 1;
    }
    if (n >= sizeof t->kind) n = sizeof t->kind - 1;
    memcpy(t->kind, s, n);
    t->kind[n] = 0;
}

static void copy_str(char *dst, size_t cap, const rk_gguf_str *s) {
    size_t n = s->len < cap - 1 ? (size_t)s->len : cap - 1;
    memcpy(dst, s->ptr, n);
    dst[n] = 0;
}

/* the f32/f64 array key (NULL if absent) aligned with types; values into t by tensor name */
static int read_aligned(const rk_gguf *g, const char *key, const rk_gguf_value *types, rk_verify_report_alloc *a,
                        int which, rk_err *err) {
    const rk_gguf_kv *kv = rk_gguf_find_kv(g, key);
    if (!kv) return 0;
    const rk_gguf_value *v = &kv->val;
    if (!types || v->type != RK_GGUF_ARRAY || (v->v.arr.type != RK_GGUF_F32 && v->v.arr.type != RK_GGUF_F64) ||
        v->v.arr.n != types->v.arr.n)
        return rk_err_file(err, RK_ECORRUPT, rk_gguf_name(g), UINT64_MAX,
                           "%s is not a float array aligned with r1kit.quantize.types", key);
    for (uint64_t i = 0; i < v->v.arr.n; i++) {
        rk_gguf_value e, ty;
        double x;
        if (rk_gguf_arr_at(v, i, &e) || rk_gguf_value_f64(&e, &x) || rk_gguf_arr_at(types, i, &ty) ||
            ty.type != RK_GGUF_STRING)
            return rk_err_file(err, RK_ECORRUPT, rk_gguf_name(g), UINT64_MAX, "%s: item %llu unreadable", key,
                               (unsigned long long)i);
        const char *eq = memchr(ty.v.s.ptr, '=', (size_t)ty.v.s.len);
        const size_t nl = eq ? (size_t)(eq - ty.v.s.ptr) : (size_t)ty.v.s.len;
        for (size_t k = 0; k < a->n; k++) {   /* usually the same order: try i first */
            size_t j = (i + k) % a->n;
            if (strlen(a->t[j].name) == nl && memcmp(a->t[j].name, ty.v.s.ptr, nl) == 0) {
                if (which == 0) a->t[j].pred_error = x;
                else a->t[j].share = x;
                break;
            }
        }
    }
    return 0;
}

int rk_verify_report_load_alloc(const char *gguf_path, rk_verify_report_alloc *out, rk_err *err) {
    memset(out, 0, sizeof *out);
    out->predicted_error = NAN;
    FILE *f = fopen(gguf_path, "rb");
    char magic[4] = { 0 };
    const int is_gguf = f && fread(magic, 1, 4, f) == 4 && memcmp(magic, "GGUF", 4) == 0;
    if (f) fclose(f);
    if (!is_gguf) return rk_err_file(err, RK_EUNSUPPORTED, gguf_path, UINT64_MAX, "not a GGUF file: no bit allocation to show");
    rk_gguf *g = NULL;
    int rc = rk_gguf_open(&g, gguf_path, err);
    if (rc) return rc;
    const uint64_t n = rk_gguf_tensor_count(g);
    out->t = calloc(n ? (size_t)n : 1, sizeof *out->t);
    if (!out->t) {
        rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory for %llu tensors", (unsigned long long)n);
        goto done;
    }
    out->n = (size_t)n;
    for (uint64_t i = 0; i < n; i++) {
        const rk_gguf_tensor *gt = rk_gguf_tensor_at(g, i);
        rk_verify_alloc_tensor *t = &out->t[i];
        snprintf(t->name, sizeof t->name, "%s", gt->name_z);
        snprintf(t->type, sizeof t->type, "%s", rk_dtype_name(gt->type));
        t->bytes = gt->nbytes;
        t->n_params = 1;
        for (int d = 0; d < 4; d++) t->n_params *= (uint64_t)gt->ne[d];   /* the reader checked the product */
        t->n_dims = (int)gt->n_dims;
        t->pred_error = NAN, t->share = NAN;
        parse_name(t);
        if (t->expert >= out->n_experts && t->expert < (1 << 20)) out->n_experts = (int)t->expert + 1;
        out->total_bytes += t->bytes, out->total_params += t->n_params;
    }
    rk_gguf_str s;
    if (rk_gguf_get_str(g, "r1kit.quantize.recipe", &s) == 0) copy_str(out->recipe, sizeof out->recipe, &s);
    if (rk_gguf_get_str(g, "r1kit.quantize.layout", &s) == 0) copy_str(out->layout, sizeof out->layout, &s);
    double pe;
    if (rk_gguf_get_f64(g, "r1kit.quantize.alloc.predicted_error", &pe) == 0) out->predicted_error = pe;
    const rk_gguf_kv *types = rk_gguf_find_kv(g, "r1kit.quantize.types");
    const rk_gguf_value *tv = types && types->val.type == RK_GGUF_ARRAY && types->val.v.arr.type == RK_GGUF_STRING
                                  ? &types->val : NULL;
    if ((rc = read_aligned(g, "r1kit.quantize.alloc.errors", tv, out, 0, err)) ||
        (rc = read_aligned(g, "r1kit.quantize.alloc.shares", tv, out, 1, err)))
        goto done;
done:
    rk_gguf_close(g);
    if (rc) rk_verify_report_alloc_free(out);
    return rc;
}
