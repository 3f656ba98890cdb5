/* cli/inspect.c — `r1kit inspect PATH`: what a checkpoint holds, as a table or one JSON document. */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "formats/checkpoint.h"
#include "formats/gguf.h"

const char rk_usage_inspect[] =
    "usage: r1kit inspect PATH [--json] [--no-tensors] [--filter SUBSTR]\n"
    "\n"
    "Show a checkpoint's format, architecture, parameter count, bytes by dtype, tensors and metadata.\n"
    "PATH is a Hugging Face folder (safetensors, sharded or not, incl. DeepSeek FP8; or PyTorch .bin),\n"
    "a .safetensors / .bin / .pt / .pth file, a *.index.json, or a .gguf file.\n"
    "\n"
    "  --json          print one JSON document on stdout\n"
    "  --no-tensors    leave out the per-tensor table\n"
    "  --filter S      list only tensors whose name contains S\n"
    "\n"
    "FP8 weight_scale_inv companions are listed but not counted as parameters.\n";

static void human_units(double b, char *out, size_t n, const char *const u[5]) {
    int i = 0;
    while (b >= 1000 && i < 4) b /= 1000, i++;
    snprintf(out, n, i ? "%.2f %s" : "%.0f %s", b, u[i]);
}

static void human(double b, char *out, size_t n) {
    static const char *const u[] = { "B", "KB", "MB", "GB", "TB" };
    human_units(b, out, n, u);
}

static void human_count(double b, char *out, size_t n) {
    static const char *const u[] = { "", "K", "M", "B", "T" };
    human_units(b, out, n, u);
}

static void shape_str(const rk_ckpt_tensor *t, char *out, size_t n) {
    size_t k = (size_t)snprintf(out, n, "[");
    for (int d = 0; d < t->n_dims && k < n; d++)
        k += (size_t)snprintf(out + k, n - k, d ? ", %" PRId64 : "%" PRId64, t->shape[d]);
    if (k < n) snprintf(out + k, n - k, "]");
}

/* config.json next to the checkpoint, if any (parsed; NULL if absent or unreadable) */
static cJSON *load_config(const rk_ckpt *ck) {
    char *p = rk_path_join(rk_ckpt_dir(ck), "config.json"), *txt = NULL;
    uint64_t len = 0;
    cJSON *j = NULL;
    if (p && rk_read_file(p, 16 << 20, &txt, &len, NULL) == 0) j = cJSON_ParseWithLength(txt, (size_t)len);
    free(p);
    free(txt);
    return j;
}

static const char *arch_of(const rk_ckpt *ck, cJSON *cfg, char *buf, size_t n) {
    const struct rk_gguf *g = rk_ckpt_gguf(ck);
    if (g) {
        rk_gguf_str s;
        if (rk_gguf_get_str(g, "general.architecture", &s) == 0) {
            snprintf(buf, n, "%.*s", (int)(s.len < 64 ? s.len : 64), s.ptr);
            return buf;
        }
        return "unknown (no general.architecture)";
    }
    cJSON *mt = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, "model_type") : NULL;
    if (cJSON_IsString(mt)) {
        snprintf(buf, n, "%s", mt->valuestring);
        return buf;
    }
    return "unknown (no config.json)";
}

int rk_cmd_inspect(int argc, char **argv) {
    static const struct option opts[] = {
        { "json", no_argument, 0, 'j' }, { "no-tensors", no_argument, 0, 'n' }, { "filter", required_argument, 0, 'f' }, { 0, 0, 0, 0 },
    };
    int json = 0, tensors = 1, c;
    const char *filter = NULL;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'j') json = 1;
        else if (c == 'n') tensors = 0;
        else if (c == 'f') filter = optarg;
        else return rk_cli_usage_error("inspect", "bad option");
    }
    if (optind != argc - 1) return rk_cli_usage_error("inspect", "expected one PATH");
    const char *path = argv[optind];
    rk_err err;
    rk_err_clear(&err);
    rk_ckpt *ck = NULL;
    if (rk_ckpt_open(&ck, path, &err)) return rk_cli_fail("inspect", &err);

    cJSON *cfg = load_config(ck);
    char archbuf[80];
    const char *arch = arch_of(ck, cfg, archbuf, sizeof archbuf);
    uint64_t params = 0, bytes = 0, largest = 0, by_dtype[RK_DTYPE_LIMIT] = {0};
    const char *largest_name = "";
    size_t n = rk_ckpt_count(ck), n_scales = 0;
    for (size_t i = 0; i < n; i++) {
        const rk_ckpt_tensor *t = rk_ckpt_tensor_at(ck, i);
        if (t->is_scale) n_scales++;
        else params += t->numel;
        bytes += t->nbytes;
        if (t->nbytes > largest) largest = t->nbytes, largest_name = t->name;
        if (t->dtype >= 0 && t->dtype < RK_DTYPE_LIMIT) by_dtype[t->dtype] += t->nbytes;
    }

    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "path", path);
        cJSON_AddStringToObject(j, "format", rk_ckpt_format_name(ck));
        cJSON *files = cJSON_AddArrayToObject(j, "files");
        for (size_t i = 0; i < rk_ckpt_file_count(ck); i++) cJSON_AddItemToArray(files, cJSON_CreateString(rk_ckpt_file_path(ck, i)));
        cJSON_AddStringToObject(j, "architecture", arch);
        cJSON_AddNumberToObject(j, "n_tensors", (double)n);
        cJSON_AddNumberToObject(j, "n_scale_tensors", (double)n_scales);
        cJSON_AddNumberToObject(j, "n_params", (double)params);
        cJSON_AddNumberToObject(j, "n_bytes", (double)bytes);
        cJSON_AddStringToObject(j, "largest_tensor", largest_name);
        cJSON_AddNumberToObject(j, "largest_tensor_bytes", (double)largest);
        cJSON *bd = cJSON_AddObjectToObject(j, "bytes_by_dtype");
        for (int d = 0; d < RK_DTYPE_LIMIT; d++)
            if (by_dtype[d]) cJSON_AddNumberToObject(bd, rk_dtype_name(d), (double)by_dtype[d]);
        cJSON *meta = cJSON_AddObjectToObject(j, "metadata");
        const struct rk_gguf *g = rk_ckpt_gguf(ck);
        if (g) {
            for (uint64_t i = 0; i < rk_gguf_kv_count(g); i++) {
                const rk_gguf_kv *kv = rk_gguf_kv_at(g, i);
                char key[256], val[1024];
                snprintf(key, sizeof key, "%.*s", (int)(kv->key.len < 255 ? kv->key.len : 255), kv->key.ptr);
                const rk_gguf_value *v = &kv->val;
                if (v->type == RK_GGUF_STRING) snprintf(val, sizeof val, "%.*s", (int)(v->v.s.len < 1000 ? v->v.s.len : 1000), v->v.s.ptr);
                else rk_gguf_value_format(v, val, sizeof val, 16);
                if (v->type == RK_GGUF_BOOL) cJSON_AddBoolToObject(meta, key, v->v.b);
                else if (v->type == RK_GGUF_F32 || v->type == RK_GGUF_F64) cJSON_AddNumberToObject(meta, key, v->v.f);
                else if (v->type <= RK_GGUF_I32 || v->type == RK_GGUF_U64 || v->type == RK_GGUF_I64) {
                    int sig = v->type == RK_GGUF_I8 || v->type == RK_GGUF_I16 || v->type == RK_GGUF_I32 || v->type == RK_GGUF_I64;
                    cJSON_AddNumberToObject(meta, key, sig ? (double)v->v.i : (double)v->v.u);
                } else cJSON_AddStringToObject(meta, key, val);
            }
        } else {
            for (size_t i = 0; i < rk_ckpt_meta_count(ck); i++) {
                const char *k, *v;
                if (rk_ckpt_meta(ck, i, &k, &v) == 0) cJSON_AddStringToObject(meta, k, v);
            }
        }
        if (cfg) cJSON_AddItemReferenceToObject(j, "config", cfg);
        if (tensors) {
            cJSON *ta = cJSON_AddArrayToObject(j, "tensors");
            for (size_t i = 0; i < n; i++) {
                const rk_ckpt_tensor *t = rk_ckpt_tensor_at(ck, i);
                if (filter && !strstr(t->name, filter)) continue;
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "name", t->name);
                cJSON_AddStringToObject(o, "dtype", rk_dtype_name(t->dtype));
                cJSON *sh = cJSON_AddArrayToObject(o, "shape");
                for (int d = 0; d < t->n_dims; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t->shape[d]));
                cJSON_AddNumberToObject(o, "bytes", (double)t->nbytes);
                cJSON_AddNumberToObject(o, "file", t->file);
                cJSON_AddItemToArray(ta, o);
            }
        }
        char *s = cJSON_PrintUnformatted(j);
        if (s) puts(s);
        free(s);
        cJSON_Delete(j);
    } else {
        char hb[32];
        printf("path:          %s\n", path);
        printf("format:        %s (%zu file%s)\n", rk_ckpt_format_name(ck), rk_ckpt_file_count(ck), rk_ckpt_file_count(ck) == 1 ? "" : "s");
        printf("architecture:  %s\n", arch);
        printf("tensors:       %zu", n);
        if (n_scales) printf(" (incl. %zu FP8 scale_inv)", n_scales);
        human_count((double)params, hb, sizeof hb);
        printf("\nparameters:    %" PRIu64 " (%s)\n", params, hb + 0);
        human((double)bytes, hb, sizeof hb);
        printf("bytes:         %" PRIu64 " (%s)\n", bytes, hb);
        human((double)largest, hb, sizeof hb);
        printf("largest:       %s (%s)\n", largest_name, hb);
        printf("by dtype:     ");
        for (int d = 0; d < RK_DTYPE_LIMIT; d++)
            if (by_dtype[d]) { human((double)by_dtype[d], hb, sizeof hb); printf(" %s %s;", rk_dtype_name(d), hb); }
        printf("\n");
        const struct rk_gguf *g = rk_ckpt_gguf(ck);
        size_t nm = g ? (size_t)rk_gguf_kv_count(g) : rk_ckpt_meta_count(ck);
        if (nm) printf("metadata:\n");
        for (size_t i = 0; i < nm; i++) {
            if (g) {
                const rk_gguf_kv *kv = rk_gguf_kv_at(g, i);
                char val[512];
                rk_gguf_value_format(&kv->val, val, sizeof val, 8);
                printf("  %.*s = %s\n", (int)(kv->key.len < 200 ? kv->key.len : 200), kv->key.ptr, val);
            } else {
                const char *k, *v;
                if (rk_ckpt_meta(ck, i, &k, &v) == 0) printf("  %s = %.200s\n", k, v);
            }
        }
        if (tensors) {
            size_t w = 4;
            for (size_t i = 0; i < n; i++) {
                size_t l = strlen(rk_ckpt_tensor_at(ck, i)->name);
                if (l > w) w = l;
            }
            if (w > 80) w = 80;
            printf("%-*s  %-8s  %-24s  %12s\n", (int)w, "name", "dtype", "shape", "bytes");
            for (size_t i = 0; i < n; i++) {
                const rk_ckpt_tensor *t = rk_ckpt_tensor_at(ck, i);
                if (filter && !strstr(t->name, filter)) continue;
                char sh[128];
                shape_str(t, sh, sizeof sh);
                printf("%-*s  %-8s  %-24s  %12" PRIu64 "\n", (int)w, t->name, rk_dtype_name(t->dtype), sh, t->nbytes);
            }
        }
    }
    cJSON_Delete(cfg);
    rk_ckpt_close(ck);
    return 0;
}
