/* formats/pickle.c — restricted unpickler (see pickle.h for what is accepted and why).
 *
 * The machine: a value stack, a stack of MARK positions and a memo array; each opcode is one case of
 * step(). Values live in blocks owned by rk_pickle and are freed all at once, so nothing here recurses.
 * Opcode encodings follow CPython's Lib/pickletools.py (protocols 0-5; we implement the binary subset
 * torch.save emits at protocols 2-4, plus a few trivial neighbours such as DUP, POP and SHORT_BINSTRING). */
#include "formats/pickle.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NODES_PER_BLOCK 1024
#define MAX_GLOBAL_PART 256         /* module or name length in GLOBAL/STACK_GLOBAL */

typedef struct node_block {
    struct node_block *next;
    size_t used;
    rk_pk_value v[NODES_PER_BLOCK];
} node_block;

struct rk_pickle {
    node_block *blocks;
    size_t count;
    rk_pk_value *root;
};

typedef struct unpickler {
    const uint8_t *p;
    size_t n, pos;
    size_t op;                 /* offset of the opcode being executed */
    uint8_t opc;
    const char *name;
    rk_err *err;
    rk_pickle *pk;
    rk_pk_limits lim;
    rk_pk_value **stack;
    size_t sp, scap;
    size_t *marks;
    size_t nmarks, mcap;
    rk_pk_value **memo;
    size_t nmemo, memocap;
    int stopped;
    int rc;                    /* code of the first failure */
} unpickler;

/* ---- allowlist ------------------------------------------------------------------------------------ */
typedef struct allowed_global {
    const char *module, *name;
    int id, dtype, untyped;
} allowed_global;

static const allowed_global g_allowed[] = {
    {"collections", "OrderedDict", RK_PKG_ORDERED_DICT, RK_DTYPE_INVALID, 0},
    {"torch._utils", "_rebuild_tensor", RK_PKG_REBUILD_TENSOR, RK_DTYPE_INVALID, 0},
    {"torch._utils", "_rebuild_tensor_v2", RK_PKG_REBUILD_TENSOR_V2, RK_DTYPE_INVALID, 0},
    {"torch._utils", "_rebuild_tensor_v3", RK_PKG_REBUILD_TENSOR_V3, RK_DTYPE_INVALID, 0},
    {"torch._utils", "_rebuild_parameter", RK_PKG_REBUILD_PARAMETER, RK_DTYPE_INVALID, 0},
    {"torch._utils", "_rebuild_parameter_with_state", RK_PKG_REBUILD_PARAMETER_WITH_STATE, RK_DTYPE_INVALID, 0},
    {"torch._tensor", "_rebuild_from_type_v2", RK_PKG_REBUILD_FROM_TYPE_V2, RK_DTYPE_INVALID, 0},
    {"torch", "Tensor", RK_PKG_TENSOR_TYPE, RK_DTYPE_INVALID, 0},
    {"torch.nn.parameter", "Parameter", RK_PKG_TENSOR_TYPE, RK_DTYPE_INVALID, 0},
    /* legacy typed storage classes: the persistent id counts elements */
    {"torch", "DoubleStorage", RK_PKG_STORAGE, RK_DTYPE_F64, 0},
    {"torch", "FloatStorage", RK_PKG_STORAGE, RK_DTYPE_F32, 0},
    {"torch", "HalfStorage", RK_PKG_STORAGE, RK_DTYPE_F16, 0},
    {"torch", "BFloat16Storage", RK_PKG_STORAGE, RK_DTYPE_BF16, 0},
    {"torch", "LongStorage", RK_PKG_STORAGE, RK_DTYPE_I64, 0},
    {"torch", "IntStorage", RK_PKG_STORAGE, RK_DTYPE_I32, 0},
    {"torch", "ShortStorage", RK_PKG_STORAGE, RK_DTYPE_I16, 0},
    {"torch", "CharStorage", RK_PKG_STORAGE, RK_DTYPE_I8, 0},
    {"torch", "ByteStorage", RK_PKG_STORAGE, RK_DTYPE_U8, 0},
    {"torch", "BoolStorage", RK_PKG_STORAGE, RK_DTYPE_BOOL, 0},
    {"torch", "ComplexFloatStorage", RK_PKG_STORAGE, RK_DTYPE_INVALID, 0},
    {"torch", "ComplexDoubleStorage", RK_PKG_STORAGE, RK_DTYPE_INVALID, 0},
    /* untyped storage (torch >= 2 for dtypes without a legacy class): the persistent id counts bytes */
    {"torch", "UntypedStorage", RK_PKG_STORAGE, RK_DTYPE_U8, 1},
    {"torch.storage", "UntypedStorage", RK_PKG_STORAGE, RK_DTYPE_U8, 1},
    /* dtype objects (pickled by name, e.g. "torch float32") */
    {"torch", "float64", RK_PKG_DTYPE, RK_DTYPE_F64, 0},
    {"torch", "double", RK_PKG_DTYPE, RK_DTYPE_F64, 0},
    {"torch", "float32", RK_PKG_DTYPE, RK_DTYPE_F32, 0},
    {"torch", "float", RK_PKG_DTYPE, RK_DTYPE_F32, 0},
    {"torch", "float16", RK_PKG_DTYPE, RK_DTYPE_F16, 0},
    {"torch", "half", RK_PKG_DTYPE, RK_DTYPE_F16, 0},
    {"torch", "bfloat16", RK_PKG_DTYPE, RK_DTYPE_BF16, 0},
    {"torch", "int64", RK_PKG_DTYPE, RK_DTYPE_I64, 0},
    {"torch", "long", RK_PKG_DTYPE, RK_DTYPE_I64, 0},
    {"torch", "int32", RK_PKG_DTYPE, RK_DTYPE_I32, 0},
    {"torch", "int", RK_PKG_DTYPE, RK_DTYPE_I32, 0},
    {"torch", "int16", RK_PKG_DTYPE, RK_DTYPE_I16, 0},
    {"torch", "short", RK_PKG_DTYPE, RK_DTYPE_I16, 0},
    {"torch", "int8", RK_PKG_DTYPE, RK_DTYPE_I8, 0},
    {"torch", "uint8", RK_PKG_DTYPE, RK_DTYPE_U8, 0},
    {"torch", "bool", RK_PKG_DTYPE, RK_DTYPE_BOOL, 0},
    {"torch", "uint16", RK_PKG_DTYPE, RK_DTYPE_U16, 0},
    {"torch", "uint32", RK_PKG_DTYPE, RK_DTYPE_U32, 0},
    {"torch", "uint64", RK_PKG_DTYPE, RK_DTYPE_U64, 0},
    {"torch", "float8_e4m3fn", RK_PKG_DTYPE, RK_DTYPE_F8_E4M3, 0},
    {"torch", "float8_e5m2", RK_PKG_DTYPE, RK_DTYPE_F8_E5M2, 0},
    {"torch", "float8_e8m0fnu", RK_PKG_DTYPE, RK_DTYPE_F8_E8M0, 0},
    {"torch", "float8_e4m3fnuz", RK_PKG_DTYPE, RK_DTYPE_INVALID, 0},
    {"torch", "float8_e5m2fnuz", RK_PKG_DTYPE, RK_DTYPE_INVALID, 0},
    {"torch", "complex64", RK_PKG_DTYPE, RK_DTYPE_INVALID, 0},
    {"torch", "complex128", RK_PKG_DTYPE, RK_DTYPE_INVALID, 0},
};

static const allowed_global *find_allowed(const char *module, const char *name) {
    for (size_t i = 0; i < sizeof g_allowed / sizeof g_allowed[0]; i++)
        if (!strcmp(g_allowed[i].module, module) && !strcmp(g_allowed[i].name, name)) return &g_allowed[i];
    return NULL;
}

/* ---- opcode names (for messages) ------------------------------------------------------------------ */
static const char *op_name(uint8_t c) {
    switch (c) {
    case '(': return "MARK";            case '.': return "STOP";           case '0': return "POP";
    case '1': return "POP_MARK";        case '2': return "DUP";            case 'F': return "FLOAT";
    case 'I': return "INT";             case 'J': return "BININT";         case 'K': return "BININT1";
    case 'L': return "LONG";            case 'M': return "BININT2";        case 'N': return "NONE";
    case 'P': return "PERSID";          case 'Q': return "BINPERSID";      case 'R': return "REDUCE";
    case 'S': return "STRING";          case 'T': return "BINSTRING";      case 'U': return "SHORT_BINSTRING";
    case 'V': return "UNICODE";         case 'X': return "BINUNICODE";     case 'a': return "APPEND";
    case 'b': return "BUILD";           case 'c': return "GLOBAL";         case 'd': return "DICT";
    case '}': return "EMPTY_DICT";      case 'e': return "APPENDS";        case 'g': return "GET";
    case 'h': return "BINGET";          case 'i': return "INST";           case 'j': return "LONG_BINGET";
    case 'l': return "LIST";            case ']': return "EMPTY_LIST";     case 'o': return "OBJ";
    case 'p': return "PUT";             case 'q': return "BINPUT";         case 'r': return "LONG_BINPUT";
    case 's': return "SETITEM";         case 't': return "TUPLE";          case ')': return "EMPTY_TUPLE";
    case 'u': return "SETITEMS";        case 'G': return "BINFLOAT";       case 0x80: return "PROTO";
    case 0x81: return "NEWOBJ";         case 0x82: return "EXT1";          case 0x83: return "EXT2";
    case 0x84: return "EXT4";           case 0x85: return "TUPLE1";        case 0x86: return "TUPLE2";
    case 0x87: return "TUPLE3";         case 0x88: return "NEWTRUE";       case 0x89: return "NEWFALSE";
    case 0x8a: return "LONG1";          case 0x8b: return "LONG4";         case 'B': return "BINBYTES";
    case 'C': return "SHORT_BINBYTES";  case 0x8c: return "SHORT_BINUNICODE"; case 0x8d: return "BINUNICODE8";
    case 0x8e: return "BINBYTES8";      case 0x8f: return "EMPTY_SET";     case 0x90: return "ADDITEMS";
    case 0x91: return "FROZENSET";      case 0x92: return "NEWOBJ_EX";     case 0x93: return "STACK_GLOBAL";
    case 0x94: return "MEMOIZE";        case 0x95: return "FRAME";         case 0x96: return "BYTEARRAY8";
    case 0x97: return "NEXT_BUFFER";    case 0x98: return "READONLY_BUFFER";
    default: return "unknown opcode";
    }
}

const char *rk_pk_kind_name(int kind) {
    static const char *names[] = {"None", "bool", "int", "float", "str", "bytes", "tuple", "list", "dict",
                                  "global", "persistent id", "reduce"};
    return kind >= 0 && kind <= RK_PK_REDUCE ? names[kind] : "?";
}

/* ---- errors --------------------------------------------------------------------------------------- */
#define FAILF(u, code, ...) fail_at((u), (code), __VA_ARGS__)

__attribute__((format(printf, 3, 4)))
static int fail_at(unpickler *u, int code, const char *fmt, ...) {
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (!u->rc) u->rc = code;
    return rk_err_file(u->err, code, u->name, u->op, "pickle %s (0x%02x) at offset %zu: %s", op_name(u->opc),
                       u->opc, u->op, what);
}

static int corrupt_trunc(unpickler *u, size_t need) {
    return FAILF(u, RK_ECORRUPT, "truncated: needs %zu more bytes, %zu remain", need, u->n - u->pos);
}

/* ---- values --------------------------------------------------------------------------------------- */
static rk_pk_value *new_value(unpickler *u, rk_pk_kind kind) {
    rk_pickle *pk = u->pk;
    if (pk->count >= u->lim.max_objects) {
        FAILF(u, RK_ECORRUPT, "more than %llu objects (cap)", (unsigned long long)u->lim.max_objects);
        return NULL;
    }
    if (!pk->blocks || pk->blocks->used == NODES_PER_BLOCK) {
        node_block *b = malloc(sizeof *b);
        if (!b) {
            FAILF(u, RK_ENOMEM, "out of memory");
            return NULL;
        }
        b->next = pk->blocks;
        b->used = 0;
        pk->blocks = b;
    }
    rk_pk_value *v = &pk->blocks->v[pk->blocks->used++];
    memset(v, 0, sizeof *v);
    v->kind = kind;
    v->offset = u->op;
    v->tree_size = 1;
    pk->count++;
    return v;
}

static void free_value_parts(rk_pk_value *v) {
    switch (v->kind) {
    case RK_PK_STR: case RK_PK_BYTES: free(v->u.str.s); break;
    case RK_PK_TUPLE: case RK_PK_LIST: free(v->u.seq.items); break;
    case RK_PK_DICT: free(v->u.dict.keys); free(v->u.dict.vals); break;
    default: break;
    }
}

void rk_pickle_free(rk_pickle *pk) {
    if (!pk) return;
    node_block *b = pk->blocks;
    while (b) {
        node_block *next = b->next;
        for (size_t i = 0; i < b->used; i++) free_value_parts(&b->v[i]);
        free(b);
        b = next;
    }
    free(pk);
}

const rk_pk_value *rk_pickle_root(const rk_pickle *pk) { return pk ? pk->root : NULL; }
size_t rk_pickle_object_count(const rk_pickle *pk) { return pk ? pk->count : 0; }

int rk_pk_is_str(const rk_pk_value *v, const char *s) {
    return v && v->kind == RK_PK_STR && strlen(s) == v->u.str.len && !memcmp(v->u.str.s, s, v->u.str.len);
}

const rk_pk_value *rk_pk_dict_get(const rk_pk_value *d, const char *key) {
    if (!d || d->kind != RK_PK_DICT) return NULL;
    for (size_t i = d->u.dict.n; i-- > 0;)
        if (rk_pk_is_str(d->u.dict.keys[i], key)) return d->u.dict.vals[i];
    return NULL;
}

/* Record that `child` now lives inside `parent`: seal it and update depth and expanded size. */
static int adopt(unpickler *u, rk_pk_value *parent, rk_pk_value *child) {
    if (child == parent)
        return FAILF(u, RK_EREFUSED, "a %s stored inside itself (cycles are refused)", rk_pk_kind_name(parent->kind));
    child->sealed = 1;
    if (child->depth + 1 > parent->depth) parent->depth = child->depth + 1;
    if (parent->depth > u->lim.max_depth)
        return FAILF(u, RK_ECORRUPT, "nesting deeper than %u levels (cap)", u->lim.max_depth);
    uint64_t t;
    if (rk_add_u64(parent->tree_size, child->tree_size, &t) || t > u->lim.max_tree)
        return FAILF(u, RK_ECORRUPT, "expanded object tree larger than %llu nodes (cap; shared values repeat)",
                     (unsigned long long)u->lim.max_tree);
    parent->tree_size = t;
    return 0;
}

static int grow(unpickler *u, void **arr, size_t *cap, size_t need, size_t elsize) {
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap : 8;
    while (nc < need) {
        if (nc > SIZE_MAX / 2 / elsize) return FAILF(u, RK_ENOMEM, "out of memory");
        nc *= 2;
    }
    void *p = realloc(*arr, nc * elsize);
    if (!p) return FAILF(u, RK_ENOMEM, "out of memory");
    *arr = p;
    *cap = nc;
    return 0;
}

static int seq_push(unpickler *u, rk_pk_value *seq, rk_pk_value *item) {
    int rc = grow(u, (void **)&seq->u.seq.items, &seq->u.seq.cap, seq->u.seq.n + 1, sizeof(rk_pk_value *));
    if (rc || (rc = adopt(u, seq, item))) return rc;
    seq->u.seq.items[seq->u.seq.n++] = item;
    return 0;
}

static int dict_put(unpickler *u, rk_pk_value *d, rk_pk_value *k, rk_pk_value *v) {
    size_t cap = d->u.dict.cap;
    int rc = grow(u, (void **)&d->u.dict.keys, &cap, d->u.dict.n + 1, sizeof(rk_pk_value *));
    if (rc) return rc;
    cap = d->u.dict.cap;
    if ((rc = grow(u, (void **)&d->u.dict.vals, &cap, d->u.dict.n + 1, sizeof(rk_pk_value *)))) return rc;
    d->u.dict.cap = cap;
    if ((rc = adopt(u, d, k)) || (rc = adopt(u, d, v))) return rc;
    d->u.dict.keys[d->u.dict.n] = k;
    d->u.dict.vals[d->u.dict.n++] = v;
    return 0;
}

/* ---- stack ---------------------------------------------------------------------------------------- */
static int push(unpickler *u, rk_pk_value *v) {
    if (!v) return u->rc ? u->rc : RK_ENOMEM;
    int rc = grow(u, (void **)&u->stack, &u->scap, u->sp + 1, sizeof *u->stack);
    if (rc) return rc;
    u->stack[u->sp++] = v;
    return 0;
}

static size_t floor_of_stack(const unpickler *u) { return u->nmarks ? u->marks[u->nmarks - 1] : 0; }

static int pop(unpickler *u, rk_pk_value **out) {
    if (u->sp <= floor_of_stack(u))
        return FAILF(u, RK_ECORRUPT, u->sp ? "stack underflow (would pop past a MARK)" : "stack underflow");
    *out = u->stack[--u->sp];
    return 0;
}

static int top(unpickler *u, rk_pk_value **out) {
    if (u->sp <= floor_of_stack(u)) return FAILF(u, RK_ECORRUPT, "stack underflow (empty at this point)");
    *out = u->stack[u->sp - 1];
    return 0;
}

/* Items since the last MARK: [*first, u->sp). The mark is consumed. */
static int pop_mark(unpickler *u, size_t *first) {
    if (!u->nmarks) return FAILF(u, RK_ECORRUPT, "no MARK on the stack");
    *first = u->marks[--u->nmarks];
    return 0;
}

/* ---- input ---------------------------------------------------------------------------------------- */
static int need(unpickler *u, size_t k) { return u->n - u->pos < k ? corrupt_trunc(u, k) : 0; }

static uint64_t rd_le(const uint8_t *p, int k) {
    uint64_t v = 0;
    for (int i = k - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* A length field of k bytes, checked against what remains. */
static int read_len(unpickler *u, int k, size_t *len) {
    int rc = need(u, (size_t)k);
    if (rc) return rc;
    uint64_t v = rd_le(u->p + u->pos, k);
    u->pos += (size_t)k;
    if (v > u->n - u->pos)
        return FAILF(u, RK_ECORRUPT, "length %llu exceeds the %zu bytes that remain", (unsigned long long)v,
                     u->n - u->pos);
    *len = (size_t)v;
    return 0;
}

static int utf8_valid(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t k = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : 9;
        if (k == 9 || (k == 1 && c < 0xC2) || (k == 3 && c > 0xF4) || n - i - 1 < k) return 0;
        for (size_t j = 1; j <= k; j++)
            if ((s[i + j] & 0xC0) != 0x80) return 0;
        i += k + 1;
    }
    return 1;
}

static int push_string(unpickler *u, rk_pk_kind kind, size_t len) {
    if (kind == RK_PK_STR && !utf8_valid(u->p + u->pos, len))
        return FAILF(u, RK_ECORRUPT, "string of %zu bytes is not valid UTF-8", len);
    rk_pk_value *v = new_value(u, kind);
    if (!v) return u->rc ? u->rc : RK_ENOMEM;
    v->u.str.s = malloc(len + 1);
    if (!v->u.str.s) return FAILF(u, RK_ENOMEM, "out of memory (%zu-byte string)", len);
    memcpy(v->u.str.s, u->p + u->pos, len);
    v->u.str.s[len] = 0;
    v->u.str.len = len;
    u->pos += len;
    return push(u, v);
}

static int push_int(unpickler *u, int64_t i) {
    rk_pk_value *v = new_value(u, RK_PK_INT);
    if (v) v->u.i = i;
    return push(u, v);
}

/* LONG1/LONG4: little-endian two's complement of len bytes; must fit int64. */
static int op_long(unpickler *u, int lenbytes) {
    size_t len = 0;
    int rc = read_len(u, lenbytes, &len);
    if (rc) return rc;
    const uint8_t *b = u->p + u->pos;
    if (len > 8) {
        uint8_t ext = (b[7] & 0x80) ? 0xFF : 0x00;
        for (size_t i = 8; i < len; i++)
            if (b[i] != ext)
                return FAILF(u, RK_EUNSUPPORTED, "integer of %zu bytes does not fit in 64 bits", len);
    }
    uint64_t v = 0;
    size_t k = len < 8 ? len : 8;
    for (size_t i = k; i-- > 0;) v = (v << 8) | b[i];
    if (k > 0 && k < 8 && (b[k - 1] & 0x80)) v |= ~(uint64_t)0 << (8 * k);   /* sign-extend */
    u->pos += len;
    return push_int(u, (int64_t)v);
}

/* GLOBAL's text argument: "module\nname\n". */
static int read_line(unpickler *u, char *buf, size_t cap) {
    const uint8_t *s = u->p + u->pos;
    size_t avail = u->n - u->pos, lim = avail < cap ? avail : cap;
    const uint8_t *nl = memchr(s, '\n', lim);
    if (!nl) {
        if (avail < cap) return corrupt_trunc(u, avail + 1);
        return FAILF(u, RK_ECORRUPT, "GLOBAL name longer than %zu bytes", cap - 1);
    }
    size_t len = (size_t)(nl - s);
    memcpy(buf, s, len);
    buf[len] = 0;
    if (memchr(buf, 0, len)) return FAILF(u, RK_ECORRUPT, "NUL byte inside a GLOBAL name");
    u->pos += len + 1;
    return 0;
}

static int push_global(unpickler *u, const char *module, const char *name) {
    const allowed_global *g = find_allowed(module, name);
    if (!g)
        return FAILF(u, RK_EREFUSED, "global '%.100s.%.100s' is not allowed (only what a tensor state dict needs)",
                     module, name);
    rk_pk_value *v = new_value(u, RK_PK_GLOBAL);
    if (v) {
        v->u.global.id = g->id;
        v->u.global.dtype = g->dtype;
        v->u.global.untyped = g->untyped;
        v->u.global.module = g->module;
        v->u.global.name = g->name;
    }
    return push(u, v);
}

static int op_stack_global(unpickler *u) {
    rk_pk_value *name = NULL, *module = NULL;
    int rc;
    if ((rc = pop(u, &name)) || (rc = pop(u, &module))) return rc;
    if (module->kind != RK_PK_STR || name->kind != RK_PK_STR)
        return FAILF(u, RK_ECORRUPT, "module and name must be str, got %s and %s", rk_pk_kind_name(module->kind),
                     rk_pk_kind_name(name->kind));
    if (module->u.str.len >= MAX_GLOBAL_PART || name->u.str.len >= MAX_GLOBAL_PART ||
        strlen(module->u.str.s) != module->u.str.len || strlen(name->u.str.s) != name->u.str.len)
        return FAILF(u, RK_EREFUSED, "global name is too long or holds a NUL byte");
    return push_global(u, module->u.str.s, name->u.str.s);
}

/* Items [first, sp) become a new tuple. */
static int make_tuple(unpickler *u, size_t first) {
    rk_pk_value *t = new_value(u, RK_PK_TUPLE);
    if (!t) return u->rc ? u->rc : RK_ENOMEM;
    for (size_t i = first; i < u->sp; i++) {
        int rc = seq_push(u, t, u->stack[i]);
        if (rc) return rc;
    }
    u->sp = first;
    return push(u, t);
}

static int check_mutable(unpickler *u, const rk_pk_value *v, rk_pk_kind want, const char *what) {
    if (v->kind != want)
        return FAILF(u, RK_EREFUSED, "%s on a %s (only a %s is allowed)", what, rk_pk_kind_name(v->kind),
                     rk_pk_kind_name(want));
    if (v->sealed)
        return FAILF(u, RK_EREFUSED, "%s on a %s that is already stored inside another object (cycles are refused)",
                     what, rk_pk_kind_name(v->kind));
    return 0;
}

static int op_appends(unpickler *u, int many) {
    size_t first = 0;
    int rc;
    rk_pk_value *x = NULL;
    if (many) {
        if ((rc = pop_mark(u, &first))) return rc;
    } else {
        if ((rc = pop(u, &x))) return rc;
        first = u->sp;
    }
    if (first == 0 || first <= floor_of_stack(u)) return FAILF(u, RK_ECORRUPT, "no list below the items");
    rk_pk_value *list = u->stack[first - 1];
    if ((rc = check_mutable(u, list, RK_PK_LIST, "append"))) return rc;
    if (x) return seq_push(u, list, x);
    for (size_t i = first; i < u->sp; i++)
        if ((rc = seq_push(u, list, u->stack[i]))) return rc;
    u->sp = first;
    return 0;
}

static int op_setitems(unpickler *u, int many) {
    size_t first = 0;
    int rc;
    if (many) {
        if ((rc = pop_mark(u, &first))) return rc;
    } else {
        if (u->sp < floor_of_stack(u) + 2) return FAILF(u, RK_ECORRUPT, "stack underflow (needs key and value)");
        first = u->sp - 2;
    }
    if ((u->sp - first) % 2) return FAILF(u, RK_ECORRUPT, "odd number of items (%zu) for key/value pairs", u->sp - first);
    if (first == 0 || first <= floor_of_stack(u)) return FAILF(u, RK_ECORRUPT, "no dict below the items");
    rk_pk_value *d = u->stack[first - 1];
    if ((rc = check_mutable(u, d, RK_PK_DICT, "setitem"))) return rc;
    for (size_t i = first; i < u->sp; i += 2)
        if ((rc = dict_put(u, d, u->stack[i], u->stack[i + 1]))) return rc;
    u->sp = first;
    return 0;
}

/* DICT/LIST (protocol 1 style, from MARK). */
static int op_dict_from_mark(unpickler *u) {
    size_t first = 0;
    int rc = pop_mark(u, &first);
    if (rc) return rc;
    if ((u->sp - first) % 2) return FAILF(u, RK_ECORRUPT, "odd number of items (%zu) for key/value pairs", u->sp - first);
    rk_pk_value *d = new_value(u, RK_PK_DICT);
    if (!d) return u->rc ? u->rc : RK_ENOMEM;
    for (size_t i = first; i < u->sp; i += 2)
        if ((rc = dict_put(u, d, u->stack[i], u->stack[i + 1]))) return rc;
    u->sp = first;
    return push(u, d);
}

static int op_list_from_mark(unpickler *u) {
    size_t first = 0;
    int rc = pop_mark(u, &first);
    if (rc) return rc;
    rk_pk_value *l = new_value(u, RK_PK_LIST);
    if (!l) return u->rc ? u->rc : RK_ENOMEM;
    for (size_t i = first; i < u->sp; i++)
        if ((rc = seq_push(u, l, u->stack[i]))) return rc;
    u->sp = first;
    return push(u, l);
}

static int is_callable_global(const rk_pk_value *f) {
    if (f->kind != RK_PK_GLOBAL) return 0;
    switch (f->u.global.id) {
    case RK_PKG_ORDERED_DICT: case RK_PKG_REBUILD_TENSOR: case RK_PKG_REBUILD_TENSOR_V2:
    case RK_PKG_REBUILD_TENSOR_V3: case RK_PKG_REBUILD_PARAMETER: case RK_PKG_REBUILD_PARAMETER_WITH_STATE:
    case RK_PKG_REBUILD_FROM_TYPE_V2: return 1;
    default: return 0;
    }
}

/* REDUCE (fn, args) and NEWOBJ (cls, args). */
static int op_reduce(unpickler *u, int newobj) {
    rk_pk_value *args = NULL, *fn = NULL;
    int rc;
    if ((rc = pop(u, &args)) || (rc = pop(u, &fn))) return rc;
    if (!is_callable_global(fn)) {
        if (fn->kind == RK_PK_GLOBAL)
            return FAILF(u, RK_EREFUSED, "calling '%s.%s' is not allowed", fn->u.global.module, fn->u.global.name);
        return FAILF(u, RK_EREFUSED, "calling a %s is not allowed (only allowlisted globals)", rk_pk_kind_name(fn->kind));
    }
    if (args->kind != RK_PK_TUPLE) return FAILF(u, RK_ECORRUPT, "arguments are a %s, not a tuple", rk_pk_kind_name(args->kind));
    if (newobj && fn->u.global.id != RK_PKG_ORDERED_DICT)
        return FAILF(u, RK_EREFUSED, "NEWOBJ of '%s.%s' is not allowed", fn->u.global.module, fn->u.global.name);
    if (fn->u.global.id == RK_PKG_ORDERED_DICT) {
        if (args->u.seq.n != 0) return FAILF(u, RK_EREFUSED, "OrderedDict with constructor arguments is not allowed");
        return push(u, new_value(u, RK_PK_DICT));
    }
    rk_pk_value *r = new_value(u, RK_PK_REDUCE);
    if (!r) return u->rc ? u->rc : RK_ENOMEM;
    if ((rc = adopt(u, r, fn)) || (rc = adopt(u, r, args))) return rc;
    r->u.reduce.fn = fn;
    r->u.reduce.args = args;
    return push(u, r);
}

static int op_build(unpickler *u) {
    rk_pk_value *state = NULL, *obj = NULL;
    int rc;
    if ((rc = pop(u, &state)) || (rc = top(u, &obj))) return rc;
    if (obj->kind != RK_PK_DICT && obj->kind != RK_PK_REDUCE)
        return FAILF(u, RK_EREFUSED, "BUILD on a %s is not allowed (only OrderedDict and tensor results)",
                     rk_pk_kind_name(obj->kind));
    if ((rc = check_mutable(u, obj, obj->kind, "build"))) return rc;
    if (obj->kind == RK_PK_DICT ? obj->u.dict.state != NULL : obj->u.reduce.state != NULL)
        return FAILF(u, RK_EREFUSED, "a second BUILD on the same %s", rk_pk_kind_name(obj->kind));
    if ((rc = adopt(u, obj, state))) return rc;
    if (obj->kind == RK_PK_DICT) obj->u.dict.state = state;
    else obj->u.reduce.state = state;
    return 0;
}

static int memo_put(unpickler *u, uint64_t idx) {
    rk_pk_value *v = NULL;
    int rc = top(u, &v);
    if (rc) return rc;
    if (idx > u->nmemo)
        return FAILF(u, RK_ECORRUPT, "memo index %llu skips ahead (next free is %zu)", (unsigned long long)idx, u->nmemo);
    if (idx == u->nmemo) {
        if ((rc = grow(u, (void **)&u->memo, &u->memocap, u->nmemo + 1, sizeof *u->memo))) return rc;
        u->nmemo++;
    }
    u->memo[idx] = v;
    return 0;
}

static int memo_get(unpickler *u, uint64_t idx) {
    if (idx >= u->nmemo)
        return FAILF(u, RK_ECORRUPT, "memo index %llu out of range (%zu stored)", (unsigned long long)idx, u->nmemo);
    return push(u, u->memo[idx]);
}

static int op_persid(unpickler *u) {
    rk_pk_value *pid = NULL;
    int rc = pop(u, &pid);
    if (rc) return rc;
    rk_pk_value *v = new_value(u, RK_PK_PERSID);
    if (!v) return u->rc ? u->rc : RK_ENOMEM;
    if ((rc = adopt(u, v, pid))) return rc;
    v->u.persid.pid = pid;
    return push(u, v);
}

static int op_stop(unpickler *u) {
    if (u->nmarks) return FAILF(u, RK_ECORRUPT, "%zu MARK(s) left open", u->nmarks);
    if (u->sp != 1) return FAILF(u, RK_ECORRUPT, "%zu values on the stack (expected exactly 1)", u->sp);
    u->pk->root = u->stack[0];
    u->stopped = 1;
    return 0;
}

/* ---- the step ------------------------------------------------------------------------------------- */
static int step(unpickler *u) {
    int rc;
    size_t len = 0;
    u->op = u->pos;
    u->opc = u->p[u->pos++];
    switch (u->opc) {
    case 0x80:                                                          /* PROTO */
        if ((rc = need(u, 1))) return rc;
        if (u->p[u->pos] > 5) return FAILF(u, RK_EUNSUPPORTED, "protocol %u is unknown", u->p[u->pos]);
        u->pos++;
        return 0;
    case 0x95:                                                          /* FRAME: only the length is checked */
        return read_len(u, 8, &len);
    case '.': return op_stop(u);
    case '(':
        if ((rc = grow(u, (void **)&u->marks, &u->mcap, u->nmarks + 1, sizeof *u->marks))) return rc;
        u->marks[u->nmarks++] = u->sp;
        return 0;
    case '0': { rk_pk_value *v = NULL; return pop(u, &v); }
    case '1': { size_t first = 0; if ((rc = pop_mark(u, &first))) return rc; u->sp = first; return 0; }
    case '2': { rk_pk_value *v = NULL; if ((rc = top(u, &v))) return rc; return push(u, v); }
    case 'N': return push(u, new_value(u, RK_PK_NONE));
    case 0x88: case 0x89: {
        rk_pk_value *v = new_value(u, RK_PK_BOOL);
        if (v) v->u.i = u->opc == 0x88;
        return push(u, v);
    }
    case 'K': if ((rc = need(u, 1))) return rc; u->pos += 1; return push_int(u, u->p[u->pos - 1]);
    case 'M': if ((rc = need(u, 2))) return rc; u->pos += 2; return push_int(u, (int64_t)rd_le(u->p + u->pos - 2, 2));
    case 'J':
        if ((rc = need(u, 4))) return rc;
        u->pos += 4;
        return push_int(u, (int32_t)(uint32_t)rd_le(u->p + u->pos - 4, 4));
    case 0x8a: return op_long(u, 1);
    case 0x8b: return op_long(u, 4);
    case 'G': {
        if ((rc = need(u, 8))) return rc;
        uint64_t bits = 0;
        for (int i = 0; i < 8; i++) bits = (bits << 8) | u->p[u->pos + i];
        u->pos += 8;
        rk_pk_value *v = new_value(u, RK_PK_FLOAT);
        if (v) memcpy(&v->u.f, &bits, sizeof bits);
        return push(u, v);
    }
    case 0x8c: if ((rc = read_len(u, 1, &len))) return rc; return push_string(u, RK_PK_STR, len);
    case 'X':  if ((rc = read_len(u, 4, &len))) return rc; return push_string(u, RK_PK_STR, len);
    case 0x8d: if ((rc = read_len(u, 8, &len))) return rc; return push_string(u, RK_PK_STR, len);
    case 'U':  if ((rc = read_len(u, 1, &len))) return rc; return push_string(u, RK_PK_STR, len);
    case 'T':  if ((rc = read_len(u, 4, &len))) return rc; return push_string(u, RK_PK_STR, len);
    case 'C':  if ((rc = read_len(u, 1, &len))) return rc; return push_string(u, RK_PK_BYTES, len);
    case 'B':  if ((rc = read_len(u, 4, &len))) return rc; return push_string(u, RK_PK_BYTES, len);
    case 0x8e: if ((rc = read_len(u, 8, &len))) return rc; return push_string(u, RK_PK_BYTES, len);
    case ')': return push(u, new_value(u, RK_PK_TUPLE));
    case ']': return push(u, new_value(u, RK_PK_LIST));
    case '}': return push(u, new_value(u, RK_PK_DICT));
    case 't': { size_t first = 0; if ((rc = pop_mark(u, &first))) return rc; return make_tuple(u, first); }
    case 0x85: case 0x86: case 0x87: {
        size_t k = (size_t)(u->opc - 0x84);
        if (u->sp < floor_of_stack(u) + k) return FAILF(u, RK_ECORRUPT, "stack underflow (needs %zu items)", k);
        return make_tuple(u, u->sp - k);
    }
    case 'l': return op_list_from_mark(u);
    case 'd': return op_dict_from_mark(u);
    case 'a': return op_appends(u, 0);
    case 'e': return op_appends(u, 1);
    case 's': return op_setitems(u, 0);
    case 'u': return op_setitems(u, 1);
    case 'c': {
        char module[MAX_GLOBAL_PART], name[MAX_GLOBAL_PART];
        if ((rc = read_line(u, module, sizeof module)) || (rc = read_line(u, name, sizeof name))) return rc;
        return push_global(u, module, name);
    }
    case 0x93: return op_stack_global(u);
    case 'Q': return op_persid(u);
    case 'R': return op_reduce(u, 0);
    case 0x81: return op_reduce(u, 1);
    case 'b': return op_build(u);
    case 'q': if ((rc = need(u, 1))) return rc; u->pos += 1; return memo_put(u, u->p[u->pos - 1]);
    case 'r': if ((rc = need(u, 4))) return rc; u->pos += 4; return memo_put(u, rd_le(u->p + u->pos - 4, 4));
    case 0x94: return memo_put(u, u->nmemo);
    case 'h': if ((rc = need(u, 1))) return rc; u->pos += 1; return memo_get(u, u->p[u->pos - 1]);
    case 'j': if ((rc = need(u, 4))) return rc; u->pos += 4; return memo_get(u, rd_le(u->p + u->pos - 4, 4));
    default:
        return FAILF(u, RK_EREFUSED, "opcode is not allowed in a tensor checkpoint");
    }
}

int rk_pickle_load(rk_pickle **out, const uint8_t *data, size_t n, const char *name,
                   const rk_pk_limits *limits, rk_err *err) {
    if (!out || (!data && n)) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "rk_pickle_load: bad arguments");
    *out = NULL;
    unpickler u = {0};
    u.p = data;
    u.n = n;
    u.name = name ? name : "pickle";
    u.err = err;
    u.lim.max_objects = limits && limits->max_objects ? limits->max_objects : (uint64_t)1 << 23;
    u.lim.max_depth = limits && limits->max_depth ? limits->max_depth : 100;
    u.lim.max_tree = limits && limits->max_tree ? limits->max_tree : (uint64_t)1 << 26;
    u.pk = calloc(1, sizeof *u.pk);
    int rc = 0;
    if (!u.pk) { rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "%s: out of memory", u.name); goto fail; }
    while (!u.stopped) {
        if (u.pos >= u.n) {
            u.op = u.pos;
            rc = rk_err_file(err, RK_ECORRUPT, u.name, u.pos, "pickle ends at offset %zu without STOP", u.pos);
            goto fail;
        }
        if ((rc = step(&u))) goto fail;
    }
    if (u.pos != u.n) {
        rc = rk_err_file(err, RK_ECORRUPT, u.name, u.pos, "%zu bytes of garbage after the pickle's STOP at offset %zu",
                         u.n - u.pos, u.op);
        goto fail;
    }
    free(u.stack);
    free(u.marks);
    free(u.memo);
    *out = u.pk;
    return 0;
fail:
    if (!rc) rc = RK_ECORRUPT;
    free(u.stack);
    free(u.marks);
    free(u.memo);
    rk_pickle_free(u.pk);
    return rc;
}
