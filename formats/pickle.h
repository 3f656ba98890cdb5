/* formats/pickle.h — a restricted unpickler for the data.pkl of torch.save checkpoints. It never executes
 * anything: it builds a small tree of values and refuses every opcode and global a state dict does not need.
 *
 * Why our own: Python's pickle is a program for a stack machine whose GLOBAL/REDUCE opcodes call arbitrary
 * functions (os.system, builtins.eval). A torch.save state dict uses a tiny, known subset: containers,
 * numbers, strings, collections.OrderedDict, torch._utils._rebuild_tensor_v2 (or _v3 for newer dtypes),
 * _rebuild_parameter, torch.<X>Storage classes named by a persistent id, and torch.<dtype> objects.
 * Facts follow CPython's Lib/pickletools.py (opcode encodings) and torch/serialization.py (what torch emits);
 * the allowlist mirrors what torch's own weights_only unpickler accepts for plain tensors.
 *
 * Values: none, bool, int (int64; bigger LONG values are refused), float, str (UTF-8), bytes, tuple, list,
 * dict (insertion order kept; duplicate keys are kept too — rk_pk_dict_get returns the last, as Python would),
 * global (an allowlisted name, never resolved to code), persid (a BINPERSID reference), reduce (an allowlisted
 * callable with its argument tuple and optional BUILD state, not evaluated). REDUCE of OrderedDict with no
 * arguments yields an empty dict directly.
 *
 * Safety: every length is checked against the bytes that remain before anything is allocated; the memo must
 * be filled in order (as every real pickler does) so its size is bounded by the input; a value becomes
 * immutable once it is stored inside another value, which makes cycles impossible; nesting depth, object
 * count and the size of the tree with shared values expanded are capped. Errors: RK_EREFUSED for opcodes
 * and globals outside the allowlist, RK_EUNSUPPORTED for integers beyond int64 and unknown protocols,
 * RK_ECORRUPT for malformed input (truncation, stack underflow, MARK mismatch, bad memo index, caps),
 * each naming the input, the opcode and its byte offset. */
#ifndef RK_FORMATS_PICKLE_H
#define RK_FORMATS_PICKLE_H
#include "formats/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum rk_pk_kind {
    RK_PK_NONE = 0, RK_PK_BOOL, RK_PK_INT, RK_PK_FLOAT, RK_PK_STR, RK_PK_BYTES,
    RK_PK_TUPLE, RK_PK_LIST, RK_PK_DICT, RK_PK_GLOBAL, RK_PK_PERSID, RK_PK_REDUCE,
} rk_pk_kind;

/* What an allowlisted global is. Callables may appear in REDUCE; the others are only data. */
typedef enum rk_pk_global_id {
    RK_PKG_ORDERED_DICT = 1,               /* collections.OrderedDict (callable, no arguments) */
    RK_PKG_REBUILD_TENSOR,                 /* torch._utils._rebuild_tensor(storage, offset, size, stride) */
    RK_PKG_REBUILD_TENSOR_V2,              /* ... (storage, offset, size, stride, requires_grad, hooks[, metadata]) */
    RK_PKG_REBUILD_TENSOR_V3,              /* ... v2 args + dtype[, metadata]; storage is untyped (bytes) */
    RK_PKG_REBUILD_PARAMETER,              /* torch._utils._rebuild_parameter(data, requires_grad, hooks) */
    RK_PKG_REBUILD_PARAMETER_WITH_STATE,   /* ... (data, requires_grad, hooks, state) */
    RK_PKG_REBUILD_FROM_TYPE_V2,           /* torch._tensor._rebuild_from_type_v2(func, type, args, state) */
    RK_PKG_STORAGE,                        /* torch.<X>Storage / torch.UntypedStorage class (not callable) */
    RK_PKG_DTYPE,                          /* torch.float32 etc. (not callable) */
    RK_PKG_TENSOR_TYPE,                    /* torch.Tensor, torch.nn.parameter.Parameter (not callable) */
} rk_pk_global_id;

typedef struct rk_pk_value rk_pk_value;
struct rk_pk_value {
    rk_pk_kind kind;
    uint64_t offset;                 /* byte offset of the opcode that made it */
    union {
        int64_t i;                                                   /* BOOL (0/1), INT */
        double f;                                                    /* FLOAT */
        struct { char *s; size_t len; } str;                         /* STR, BYTES (NUL-terminated copy) */
        struct { rk_pk_value **items; size_t n, cap; } seq;          /* TUPLE, LIST */
        struct { rk_pk_value **keys, **vals; size_t n, cap; rk_pk_value *state; } dict;  /* state: BUILD arg */
        struct {
            int id;                  /* rk_pk_global_id */
            int dtype;               /* STORAGE/DTYPE: rk_dtype, RK_DTYPE_INVALID if r1kit has none (complex) */
            int untyped;             /* STORAGE: 1 for UntypedStorage (persistent id counts bytes) */
            const char *module, *name;
        } global;
        struct { rk_pk_value *pid; } persid;                         /* PERSID: usually a tuple */
        struct { rk_pk_value *fn; rk_pk_value *args; rk_pk_value *state; } reduce;  /* fn is a GLOBAL */
    } u;
    /* bookkeeping (read-only for callers) */
    uint32_t depth;                  /* 0 for scalars; 1 + deepest child for containers */
    uint8_t sealed;                  /* stored inside another value: no longer mutable */
    uint64_t tree_size;              /* nodes in this subtree with shared values counted each time */
};

typedef struct rk_pk_limits {
    uint64_t max_objects;    /* values created (default 1<<23) */
    uint32_t max_depth;      /* container nesting (default 100) */
    uint64_t max_tree;       /* expanded tree size (default 1<<26) */
} rk_pk_limits;

typedef struct rk_pickle rk_pickle;

/* Unpickle data[0..n). name labels error messages ("model.bin:archive/data.pkl"). limits may be NULL. */
int rk_pickle_load(rk_pickle **out, const uint8_t *data, size_t n, const char *name,
                   const rk_pk_limits *limits, rk_err *err);
void rk_pickle_free(rk_pickle *pk);                                 /* NULL ok */
const rk_pk_value *rk_pickle_root(const rk_pickle *pk);
size_t rk_pickle_object_count(const rk_pickle *pk);

const char *rk_pk_kind_name(int kind);                              /* "dict", "tuple", ... */
/* Last value stored under the str key `key` in a DICT, or NULL. */
const rk_pk_value *rk_pk_dict_get(const rk_pk_value *dict, const char *key);
/* 1 if v is a STR equal to s. */
int rk_pk_is_str(const rk_pk_value *v, const char *s);

#ifdef __cplusplus
}
#endif
#endif
