/* fuzz/fuzz_safetensors.c — libFuzzer harness for the safetensors reader: parse the input from memory with
 * rk_safetensors_open_buffer and, if it is accepted, touch every byte of every tensor, look each name up
 * and read the metadata, so that any view the parser hands out past the input is caught by ASan.
 * Rejected inputs must come with a one-line message that names the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rk_safetensors *st = NULL;
    rk_err err;
    rk_err_clear(&err);
    if (rk_safetensors_open_buffer(&st, data, size, "fuzz", &err) != 0) {
        if (st != NULL || err.code == 0 || strncmp(err.msg, "fuzz: ", 6) != 0 || strchr(err.msg, '\n')) abort();
        return 0;
    }
    volatile uint8_t sink = 0;
    uint64_t total = 0;
    for (size_t i = 0; i < rk_safetensors_count(st); i++) {
        const rk_st_tensor *t = rk_safetensors_tensor(st, i);
        if (!t || rk_safetensors_find(st, t->name) != t) abort();
        if (t->nbytes && (t->data < data || t->data + t->nbytes > data + size)) abort();
        if (t->n_dims < 0 || t->n_dims > RK_MAX_DIMS || !rk_dtype_get(t->dtype)) abort();
        for (uint64_t j = 0; j < t->nbytes; j++) sink ^= t->data[j];
        total += t->nbytes;
    }
    if (8 + rk_safetensors_header_len(st) + total != size) abort();   /* the tensors tile the buffer */
    for (size_t i = 0; i < rk_safetensors_meta_count(st); i++) {
        const char *k, *v;
        if (rk_safetensors_meta(st, i, &k, &v) != 0 || rk_safetensors_meta_get(st, k) == NULL) abort();
        sink ^= (uint8_t)strlen(v);
    }
    (void)sink;
    rk_safetensors_close(st);
    return 0;
}
