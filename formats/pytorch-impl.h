/* formats/pytorch-impl.h — internals shared by pytorch.c (zip archive, reading) and pytorch-tensors.c
 * (turning the unpickled tree into a tensor list). Not part of the public API. */
#ifndef RK_FORMATS_PYTORCH_IMPL_H
#define RK_FORMATS_PYTORCH_IMPL_H
#include <zip.h>

#include "formats/pickle.h"
#include "formats/pytorch.h"

#define RK_PT_MAX_PICKLE_BYTES ((uint64_t)256 << 20)   /* data.pkl larger than this is refused */
#define RK_PT_MAX_TENSORS ((size_t)1 << 21)            /* per file (DeepSeek-R1 has ~92k in total) */
#define RK_PT_MAX_NAME 4096                            /* flattened tensor name, bytes */
#define RK_PT_MAX_TENSOR_BYTES ((uint64_t)1 << 48)      /* a single tensor beyond 256 TiB is refused */
#define RK_PT_MAX_KEY 128                              /* storage key, bytes */

/* Open-addressing string → index table (indices into an owner's array; the owner supplies the keys). */
typedef struct rk_pt_hash {
    size_t *slot;        /* index + 1; 0 = empty */
    size_t cap;          /* power of two */
    size_t n;
} rk_pt_hash;

typedef struct rk_pt_storage {
    char *key;           /* as in the persistent id */
    char *entry;         /* "<prefix>data/<key>" */
    int untyped;         /* persistent id named UntypedStorage: numel counts bytes */
    int class_dtype;     /* dtype of the storage class (U8 for untyped) */
    int elem_dtype;      /* dtype of the tensors that view it (set by the first tensor) */
    uint64_t numel;      /* as declared in the persistent id */
    uint64_t nbytes;     /* bytes the entry must hold */
    uint64_t elems;      /* nbytes / element size of elem_dtype */
    zip_uint64_t index;  /* zip entry */
    int stored;          /* ZIP_CM_STORE: zip_fseek works */
} rk_pt_storage;

struct rk_pytorch {
    char *path;                   /* file path or buffer label */
    rk_map map;                   /* the file, when opened by path */
    zip_t *za;
    char *prefix;                 /* "archive/" (with the slash) or "" */
    rk_pickle *pk;
    rk_pt_tensor *t;
    size_t *t_storage;            /* storage index of each tensor */
    size_t n, cap;
    rk_pt_hash names;             /* tensor name → index */
    rk_pt_storage *st;
    size_t n_st, cap_st;
    rk_pt_hash keys;              /* storage key → index */
};

const char *rk_pt_tensor_key(const void *pt, size_t i);
const char *rk_pt_storage_key(const void *pt, size_t i);
/* Index of key in h, or SIZE_MAX. */
size_t rk_pt_hash_find(const rk_pt_hash *h, const char *key, const char *(*key_of)(const void *, size_t),
                       const void *owner);
/* Insert index i (whose key must not be present yet); 0 ok, RK_ENOMEM. */
int rk_pt_hash_add(rk_pt_hash *h, size_t i, const char *(*key_of)(const void *, size_t), const void *owner);
void rk_pt_hash_free(rk_pt_hash *h);

/* Walk the unpickled tree, flattening dict keys with '.', and append every tensor to pt->t (storages to
 * pt->st). Validates every tensor's geometry against its storage's declared size; zip entries are checked
 * afterwards by the caller. */
int rk_pt_collect(rk_pytorch *pt, const rk_pk_value *root, rk_err *err);
#endif
