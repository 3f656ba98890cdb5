/* fuzz/fuzz_pickle.c — libFuzzer harness for the restricted unpickler (formats/pickle.h): any bytes must
 * give either a tree or a filled-in error, never a crash, hang or leak. Caps are lowered so that inputs of a
 * few kilobytes can reach them. Corpus: fuzz/corpus/fuzz_pickle/ (torch.save data.pkl files, protocols 2 and 4). */
#include <stdint.h>
#include <string.h>

#include "formats/pickle.h"

/* Touch every value once (the tree is a DAG: sharing is bounded by max_tree, so this terminates). */
static uint64_t visit(const rk_pk_value *v, int depth) {
    uint64_t n = 1;
    if (depth > 200) __builtin_trap();   /* the depth cap must hold */
    switch (v->kind) {
    case RK_PK_TUPLE: case RK_PK_LIST:
        for (size_t i = 0; i < v->u.seq.n; i++) n += visit(v->u.seq.items[i], depth + 1);
        break;
    case RK_PK_DICT:
        for (size_t i = 0; i < v->u.dict.n; i++) n += visit(v->u.dict.keys[i], depth + 1) + visit(v->u.dict.vals[i], depth + 1);
        if (v->u.dict.state) n += visit(v->u.dict.state, depth + 1);
        break;
    case RK_PK_PERSID: n += visit(v->u.persid.pid, depth + 1); break;
    case RK_PK_REDUCE:
        n += visit(v->u.reduce.fn, depth + 1) + visit(v->u.reduce.args, depth + 1);
        if (v->u.reduce.state) n += visit(v->u.reduce.state, depth + 1);
        break;
    case RK_PK_STR: case RK_PK_BYTES:
        if (v->u.str.s[v->u.str.len] != 0) __builtin_trap();
        break;
    default: break;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rk_pk_limits lim = {.max_objects = 1 << 16, .max_depth = 64, .max_tree = 1 << 18};
    rk_pickle *pk = NULL;
    rk_err err;
    rk_err_clear(&err);
    int rc = rk_pickle_load(&pk, data, size, "fuzz.pkl", &lim, &err);
    if (rc == 0) {
        const rk_pk_value *root = rk_pickle_root(pk);
        if (!root || visit(root, 0) != root->tree_size) __builtin_trap();
        (void)rk_pk_dict_get(root, "state_dict");
    } else if (pk != NULL || err.code != rc || err.msg[0] == 0 || strlen(err.msg) >= sizeof err.msg) {
        __builtin_trap();
    }
    rk_pickle_free(pk);
    return 0;
}
