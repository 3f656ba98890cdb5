/* formats/safetensors_set.c — a safetensors checkpoint as one set of tensors: a single file, or the shards
 * named by model.safetensors.index.json ({"metadata":{...},"weight_map":{tensor: shard file}}, as written
 * by transformers' save_pretrained). Every shard is opened and validated; the index and the shards must
 * agree exactly (each mapped tensor is in its shard, each shard tensor is mapped to that shard). */
#define _GNU_SOURCE
#include "formats/safetensors-impl.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>

struct rk_st_set {
    char *path;
    size_t n_shards;
    rk_safetensors **shards;
    size_t n;
    const rk_st_tensor **t;   /* shard order, then file order */
    rk_st_name *by_name;      /* idx → t */
};

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

/* Fill s->t and the name index from the opened shards; names must be unique across the set. */
static int index_tensors(rk_st_set *s, const char *label, rk_err *err) {
    size_t n = 0;
    for (size_t i = 0; i < s->n_shards; i++) n += rk_safetensors_count(s->shards[i]);
    s->t = calloc(n ? n : 1, sizeof *s->t);
    s->by_name = calloc(n ? n : 1, sizeof *s->by_name);
    if (!s->t || !s->by_name) return rk_err_file(err, RK_ENOMEM, label, UINT64_MAX, "out of memory for %zu tensors", n);
    for (size_t i = 0; i < s->n_shards; i++)
        for (size_t j = 0; j < rk_safetensors_count(s->shards[i]); j++) {
            s->t[s->n] = rk_safetensors_tensor(s->shards[i], j);
            s->by_name[s->n] = (rk_st_name){ s->t[s->n]->name, s->n };
            s->n++;
        }
    rk_st_names_sort(s->by_name, s->n);
    size_t d = rk_st_names_dup(s->by_name, s->n);
    if (d < s->n)
        return rk_err_file(err, RK_ECORRUPT, label, UINT64_MAX, "tensor '%.*s' is in more than one shard", RK_ST_NAME_SHOW,
                           s->by_name[d].name);
    return 0;
}

static int open_single(rk_st_set *s, const char *path, rk_err *err) {
    s->shards = calloc(1, sizeof *s->shards);
    if (!s->shards) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "%s: out of memory", path);
    int rc = rk_safetensors_open(&s->shards[0], path, err);
    if (rc) return rc;
    s->n_shards = 1;
    return index_tensors(s, path, err);
}

static int plain_name(const char *n) {
    return n[0] && !strchr(n, '/') && !strchr(n, '\\') && !strstr(n, "..") && strcmp(n, ".") != 0;
}

typedef struct map_ent {
    const char *tensor, *shard;
    size_t shard_idx;
} map_ent;

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Parse the index JSON (already in memory) into a name-sorted weight map; *root owns the strings. */
static int parse_index(const char *P, const char *text, size_t len, cJSON **root, rk_st_name **names, map_ent **ents,
                       size_t *n_ents, rk_err *err) {
    size_t bad = rk_st_utf8_check((const uint8_t *)text, len);
    if (bad < len)
        return rk_err_file(err, RK_ECORRUPT, P, bad, "not valid UTF-8 (byte 0x%02x at offset %zu)", (unsigned char)text[bad], bad);
    rk_st_jerr je;
    size_t end;
    if (rk_st_json_check(text, len, 0, &end, &je))
        return rk_err_file(err, RK_ECORRUPT, P, je.pos, "%s: %s at offset %zu", je.syntax ? "not a valid JSON object" : "rejected",
                           je.msg, je.pos);
    for (size_t i = end; i < len; i++)
        if (!strchr(" \t\r\n", text[i]) || !text[i])
            return rk_err_file(err, RK_ECORRUPT, P, i, "unexpected byte 0x%02x after the JSON object at offset %zu",
                               (unsigned char)text[i], i);
    *root = cJSON_ParseWithLengthOpts(text, end, NULL, 0);
    if (!*root) return rk_err_file(err, RK_ENOMEM, P, UINT64_MAX, "out of memory parsing the index");
    const cJSON *wm = NULL, *meta = NULL;
    for (const cJSON *c = (*root)->child; c; c = c->next) {
        const cJSON **slot = !strcmp(c->string, "weight_map") ? &wm : !strcmp(c->string, "metadata") ? &meta : NULL;
        if (!slot) continue;   /* other keys are not ours to judge */
        if (*slot) return rk_err_file(err, RK_ECORRUPT, P, UINT64_MAX, "duplicate key '%s'", c->string);
        *slot = c;
    }
    if (meta && !cJSON_IsObject(meta)) return rk_err_file(err, RK_ECORRUPT, P, UINT64_MAX, "\"metadata\" is not an object");
    if (!wm) return rk_err_file(err, RK_ECORRUPT, P, UINT64_MAX, "no \"weight_map\"");
    if (!cJSON_IsObject(wm)) return rk_err_file(err, RK_ECORRUPT, P, UINT64_MAX, "\"weight_map\" is not an object");
    size_t n = 0;
    for (const cJSON *c = wm->child; c; c = c->next) {
        if (!cJSON_IsString(c))
            return rk_err_file(err, RK_ECORRUPT, P, UINT64_MAX, "weight_map: the shard of '%.*s' is not a string",
                               RK_ST_NAME_SHOW, c->string);
        if (!plain_name(c->valuestring))
            return rk_err_file(err, RK_ECORRUPT, P, UINT64_MAX,
                               "weight_map: shard '%.*s' of tensor '%.*s' is not a plain file name in the index's folder",
                               RK_ST_NAME_SHOW, c->valuestring, RK_ST_NAME_SHOW, c->string);
        n++;
    }
    *names = calloc(n ? n : 1, sizeof **names);
    *ents = calloc(n ? n : 1, sizeof **ents);
    if (!*names || !*ents) return rk_err_file(err, RK_ENOMEM, P, UINT64_MAX, "out of memory for %zu entries", n);
    size_t k = 0;
    for (const cJSON *c = wm->child; c; c = c->next, k++) {
        (*ents)[k] = (map_ent){ c->string, c->valuestring, 0 };
        (*names)[k] = (rk_st_name){ c->string, k };
    }
    rk_st_names_sort(*names, n);
    size_t d = rk_st_names_dup(*names, n);
    if (d < n)
        return rk_err_file(err, RK_ECORRUPT, P, UINT64_MAX, "weight_map lists tensor '%.*s' twice", RK_ST_NAME_SHOW,
                           (*names)[d].name);
    *n_ents = n;
    return 0;
}

static int open_index(rk_st_set *s, const char *P, rk_err *err) {
    char *text = NULL, *dcopy = NULL, *spath = NULL;
    const char **shard_names = NULL;
    cJSON *root = NULL;
    rk_st_name *names = NULL;
    map_ent *ents = NULL;
    size_t n = 0;
    uint64_t len = 0;
    int rc = rk_read_file(P, RK_ST_MAX_INDEX, &text, &len, err);
    if (rc) goto fail;
    if ((rc = parse_index(P, text, (size_t)len, &root, &names, &ents, &n, err))) goto fail;

    /* distinct shard names, sorted */
    shard_names = calloc(n ? n : 1, sizeof *shard_names);
    if (!shard_names) { rc = rk_err_file(err, RK_ENOMEM, P, UINT64_MAX, "out of memory"); goto fail; }
    for (size_t i = 0; i < n; i++) shard_names[i] = ents[i].shard;
    if (n > 1) qsort(shard_names, n, sizeof *shard_names, cmp_str);
    size_t ns = 0;
    for (size_t i = 0; i < n; i++)
        if (ns == 0 || strcmp(shard_names[ns - 1], shard_names[i]) != 0) shard_names[ns++] = shard_names[i];
    for (size_t i = 0; i < n; i++) {
        const char **hit = bsearch(&ents[i].shard, shard_names, ns, sizeof *shard_names, cmp_str);
        ents[i].shard_idx = (size_t)(hit - shard_names);
    }

    s->shards = calloc(ns ? ns : 1, sizeof *s->shards);
    dcopy = rk_strdup(P);
    if (!s->shards || !dcopy) { rc = rk_err_file(err, RK_ENOMEM, P, UINT64_MAX, "out of memory"); goto fail; }
    const char *dir = dirname(dcopy);
    for (size_t i = 0; i < ns; i++) {
        free(spath);
        if (!(spath = rk_path_join(dir, shard_names[i]))) { rc = rk_err_file(err, RK_ENOMEM, P, UINT64_MAX, "out of memory"); goto fail; }
        if ((rc = rk_safetensors_open(&s->shards[i], spath, err))) goto fail;
        s->n_shards++;
        rk_st_set_shard_index(s->shards[i], (int)i);
    }

    /* every shard tensor is mapped to its own shard ... */
    for (size_t i = 0; i < ns; i++)
        for (size_t j = 0; j < rk_safetensors_count(s->shards[i]); j++) {
            const char *tn = rk_safetensors_tensor(s->shards[i], j)->name;
            const rk_st_name *e = rk_st_names_find(names, n, tn);
            if (!e) {
                rc = rk_err_file(err, RK_ECORRUPT, P, UINT64_MAX, "tensor '%.*s' in shard '%s' is not listed in weight_map",
                                 RK_ST_NAME_SHOW, tn, shard_names[i]);
                goto fail;
            }
            if (ents[e->idx].shard_idx != i) {
                rc = rk_err_file(err, RK_ECORRUPT, P, UINT64_MAX, "tensor '%.*s' is in shard '%s' but weight_map says '%s'",
                                 RK_ST_NAME_SHOW, tn, shard_names[i], ents[e->idx].shard);
                goto fail;
            }
        }
    /* ... and every mapped tensor is in its shard */
    for (size_t i = 0; i < n; i++)
        if (!rk_safetensors_find(s->shards[ents[i].shard_idx], ents[i].tensor)) {
            rc = rk_err_file(err, RK_ECORRUPT, P, UINT64_MAX, "weight_map puts tensor '%.*s' in '%s', but that shard has no such tensor",
                             RK_ST_NAME_SHOW, ents[i].tensor, ents[i].shard);
            goto fail;
        }
    rc = index_tensors(s, P, err);
fail:
    cJSON_Delete(root);
    free(text);
    free(dcopy);
    free(spath);
    free(shard_names);
    free(names);
    free(ents);
    return rc;
}

/* A folder: its index, else model.safetensors, else the only *.safetensors.index.json or *.safetensors. */
static int open_dir(rk_st_set *s, const char *dir, rk_err *err) {
    static const char *const fixed[] = { "model.safetensors.index.json", "model.safetensors" };
    char *found = NULL;
    int rc = 0;
    for (int i = 0; i < 2; i++) {
        char *p = rk_path_join(dir, fixed[i]);
        if (!p) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "%s: out of memory", dir);
        if (rk_file_exists(p)) {
            rc = i == 0 ? open_index(s, p, err) : open_single(s, p, err);
            free(p);
            return rc;
        }
        free(p);
    }
    DIR *d = opendir(dir);
    if (!d) return rk_err_file(err, RK_EIO, dir, UINT64_MAX, "cannot list the folder");
    size_t n_idx = 0, n_st = 0;
    char *idx = NULL, *st = NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        int is_idx = ends_with(e->d_name, ".safetensors.index.json"), is_st = ends_with(e->d_name, ".safetensors");
        if (!is_idx && !is_st) continue;
        char *p = rk_path_join(dir, e->d_name);
        if (!p) { rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "%s: out of memory", dir); break; }
        if (!rk_file_exists(p)) { free(p); continue; }
        char **slot = is_idx ? &idx : &st;
        size_t *cnt = is_idx ? &n_idx : &n_st;
        (*cnt)++;
        free(*slot);
        *slot = p;
    }
    closedir(d);
    if (!rc) {
        if (n_idx == 1) found = idx, idx = NULL, rc = open_index(s, found, err);
        else if (n_idx > 1)
            rc = rk_err_file(err, RK_ECORRUPT, dir, UINT64_MAX, "%zu *.safetensors.index.json files and no model.safetensors.index.json",
                             n_idx);
        else if (n_st == 1) found = st, st = NULL, rc = open_single(s, found, err);
        else if (n_st > 1)
            rc = rk_err_file(err, RK_ECORRUPT, dir, UINT64_MAX,
                             "%zu .safetensors files but no model.safetensors.index.json to say how they fit together", n_st);
        else rc = rk_err_file(err, RK_ENOTFOUND, dir, UINT64_MAX, "no .safetensors file in this folder");
    }
    free(idx);
    free(st);
    free(found);
    return rc;
}

int rk_st_set_open(rk_st_set **out, const char *path, rk_err *err) {
    *out = NULL;
    rk_st_set *s = calloc(1, sizeof *s);
    if (!s || !(s->path = rk_strdup(path))) {
        free(s);
        return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "%s: out of memory", path);
    }
    int rc;
    if (rk_is_dir(path)) rc = open_dir(s, path, err);
    else if (ends_with(path, ".json")) rc = open_index(s, path, err);
    else rc = open_single(s, path, err);
    if (rc) {
        rk_st_set_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void rk_st_set_close(rk_st_set *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n_shards; i++) rk_safetensors_close(s->shards[i]);
    free(s->shards);
    free(s->t);
    free(s->by_name);
    free(s->path);
    free(s);
}

size_t rk_st_set_count(const rk_st_set *s) { return s ? s->n : 0; }

const rk_st_tensor *rk_st_set_tensor(const rk_st_set *s, size_t i) { return s && i < s->n ? s->t[i] : NULL; }

const rk_st_tensor *rk_st_set_find(const rk_st_set *s, const char *name) {
    if (!s || !name) return NULL;
    const rk_st_name *e = rk_st_names_find(s->by_name, s->n, name);
    return e ? s->t[e->idx] : NULL;
}

size_t rk_st_set_shard_count(const rk_st_set *s) { return s ? s->n_shards : 0; }

const rk_safetensors *rk_st_set_shard(const rk_st_set *s, size_t i) { return s && i < s->n_shards ? s->shards[i] : NULL; }
