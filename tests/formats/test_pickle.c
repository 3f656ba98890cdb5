/* tests/formats/test_pickle.c — the restricted unpickler on hand-made pickle bytes: what torch.save emits
 * (protocols 2 and 4) parses into the expected tree; every refusal (opcodes, globals, calls) and every kind
 * of corruption (truncation, underflow, MARK and memo misuse, absurd lengths, caps, cycles) fails with the
 * right code, a message naming the problem, and the opcode's offset. Truncations and byte flips of a real
 * state-dict pickle must fail cleanly (run under the sanitizers). */
#include <stdlib.h>
#include <string.h>

#include "formats/pickle.h"
#include "tests/common/rk_test.h"

#define P(lit) (const uint8_t *)(lit), sizeof(lit) - 1

/* What torch 1.13 torch.save writes for OrderedDict(w=torch.arange(6.).reshape(2,3)) at protocol 2. */
static const char k_sd2[] =
    "\x80\x02" "ccollections\nOrderedDict\nq\x00)Rq\x01("
    "X\x01\x00\x00\x00wq\x02" "ctorch._utils\n_rebuild_tensor_v2\nq\x03(("
    "X\x07\x00\x00\x00storageq\x04" "ctorch\nFloatStorage\nq\x05"
    "X\x01\x00\x00\x00" "0q\x06X\x03\x00\x00\x00" "cpuq\x07K\x06tq\x08Q"
    "K\x00K\x02K\x03\x86q\x09K\x03K\x01\x86q\x0a\x89h\x00)Rq\x0btq\x0cRq\x0d"
    "X\x01\x00\x00\x00vh\x03((h\x04h\x05h\x06h\x07K\x06tq\x0eQK\x03K\x03\x85K\x01\x85\x89h\x00)Rtq\x0fR"
    "u.";

/* The same at protocol 4: FRAME, MEMOIZE, SHORT_BINUNICODE, STACK_GLOBAL; plus a BUILD of _metadata. */
static const char k_sd4[] =
    "\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00"
    "\x8c\x0b" "collections\x94\x8c\x0b" "OrderedDict\x94\x93\x94)R\x94("
    "\x8c\x01w\x94\x8c\x0ctorch._utils\x94\x8c\x12_rebuild_tensor_v2\x94\x93\x94(("
    "\x8c\x07storage\x94\x8c\x05torch\x94\x8c\x0f" "BFloat16Storage\x94\x93\x94\x8c\x01" "0\x94\x8c\x03" "cpu\x94K\x02t\x94Q"
    "K\x00K\x02\x85\x94K\x01\x85\x94\x89h\x02)R\x94t\x94R\x94"
    "u}\x94\x8c\x09_metadata\x94h\x02)R\x94\x8c\x00}\x8c\x07version\x94K\x01sssb.";

static rk_pickle *load_ok(const uint8_t *p, size_t n) {
    rk_pickle *pk = NULL;
    rk_err err;
    rk_err_clear(&err);
    int rc = rk_pickle_load(&pk, p, n, "t.pkl", NULL, &err);
    ck_assert_msg(rc == 0, "expected success, got %d: %s", rc, err.msg);
    ck_assert_ptr_nonnull(rk_pickle_root(pk));
    return pk;
}

static void check_tensor_call(const rk_pk_value *t, const char *cls, int dtype, int64_t numel) {
    ck_assert_int_eq(t->kind, RK_PK_REDUCE);
    ck_assert_int_eq(t->u.reduce.fn->kind, RK_PK_GLOBAL);
    ck_assert_int_eq(t->u.reduce.fn->u.global.id, RK_PKG_REBUILD_TENSOR_V2);
    const rk_pk_value *args = t->u.reduce.args;
    ck_assert_int_eq(args->kind, RK_PK_TUPLE);
    ck_assert_uint_eq(args->u.seq.n, 6);
    const rk_pk_value *st = args->u.seq.items[0];
    ck_assert_int_eq(st->kind, RK_PK_PERSID);
    const rk_pk_value *pid = st->u.persid.pid;
    ck_assert_int_eq(pid->kind, RK_PK_TUPLE);
    ck_assert_uint_eq(pid->u.seq.n, 5);
    ck_assert(rk_pk_is_str(pid->u.seq.items[0], "storage"));
    ck_assert_int_eq(pid->u.seq.items[1]->u.global.id, RK_PKG_STORAGE);
    ck_assert_str_eq(pid->u.seq.items[1]->u.global.name, cls);
    ck_assert_int_eq(pid->u.seq.items[1]->u.global.dtype, dtype);
    ck_assert(rk_pk_is_str(pid->u.seq.items[3], "cpu"));
    ck_assert_int_eq(pid->u.seq.items[4]->u.i, numel);
    ck_assert_int_eq(args->u.seq.items[4]->kind, RK_PK_BOOL);
    ck_assert_int_eq(args->u.seq.items[5]->kind, RK_PK_DICT);     /* OrderedDict() hooks */
}

START_TEST(parse_ok_torch_protocol2) {
    rk_pickle *pk = load_ok(P(k_sd2));
    const rk_pk_value *root = rk_pickle_root(pk);
    ck_assert_int_eq(root->kind, RK_PK_DICT);
    ck_assert_uint_eq(root->u.dict.n, 2);
    ck_assert(rk_pk_is_str(root->u.dict.keys[0], "w"));
    ck_assert(rk_pk_is_str(root->u.dict.keys[1], "v"));
    const rk_pk_value *w = rk_pk_dict_get(root, "w");
    check_tensor_call(w, "FloatStorage", RK_DTYPE_F32, 6);
    const rk_pk_value *size = w->u.reduce.args->u.seq.items[2];
    ck_assert_uint_eq(size->u.seq.n, 2);
    ck_assert_int_eq(size->u.seq.items[0]->u.i, 2);
    ck_assert_int_eq(size->u.seq.items[1]->u.i, 3);
    const rk_pk_value *v = rk_pk_dict_get(root, "v");
    check_tensor_call(v, "FloatStorage", RK_DTYPE_F32, 6);
    ck_assert_int_eq(v->u.reduce.args->u.seq.items[1]->u.i, 3);     /* storage offset */
    /* the memo shares the storage class and key between both tensors */
    ck_assert_ptr_eq(w->u.reduce.args->u.seq.items[0]->u.persid.pid->u.seq.items[2],
                     v->u.reduce.args->u.seq.items[0]->u.persid.pid->u.seq.items[2]);
    ck_assert_ptr_null(rk_pk_dict_get(root, "missing"));
    rk_pickle_free(pk);
}
END_TEST

START_TEST(parse_ok_torch_protocol4) {
    rk_pickle *pk = load_ok(P(k_sd4));
    const rk_pk_value *root = rk_pickle_root(pk);
    ck_assert_int_eq(root->kind, RK_PK_DICT);
    ck_assert_uint_eq(root->u.dict.n, 1);
    check_tensor_call(rk_pk_dict_get(root, "w"), "BFloat16Storage", RK_DTYPE_BF16, 2);
    const rk_pk_value *state = root->u.dict.state;                  /* BUILD({'_metadata': {...}}) */
    ck_assert_ptr_nonnull(state);
    const rk_pk_value *meta = rk_pk_dict_get(state, "_metadata");
    ck_assert_ptr_nonnull(meta);
    ck_assert_int_eq(rk_pk_dict_get(rk_pk_dict_get(meta, ""), "version")->u.i, 1);
    rk_pickle_free(pk);
}
END_TEST

START_TEST(parse_ok_scalars) {
    /* [K 7, M 0x1234, J -2, LONG1 8 bytes INT64_MIN, LONG1 9 bytes = -1, LONG1 empty = 0, LONG4 2 bytes 300,
     *  BINFLOAT 1.5, None, True, False, "hé" (SHORT_BINUNICODE), "ab" (BINUNICODE8), b"\0z" (SHORT_BINBYTES),
     *  b"q" (BINBYTES), b"" (BINBYTES8), "s" (SHORT_BINSTRING), "tt" (BINSTRING)] */
    static const char p[] =
        "\x80\x02](K\x07M\x34\x12J\xfe\xff\xff\xff"
        "\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x80" "\x8a\x09\xff\xff\xff\xff\xff\xff\xff\xff\xff" "\x8a\x00"
        "\x8b\x02\x00\x00\x00\x2c\x01" "G\x3f\xf8\x00\x00\x00\x00\x00\x00" "N\x88\x89"
        "\x8c\x03h\xc3\xa9" "\x8d\x02\x00\x00\x00\x00\x00\x00\x00" "ab" "C\x02\x00z" "B\x01\x00\x00\x00q"
        "\x8e\x00\x00\x00\x00\x00\x00\x00\x00" "U\x01s" "T\x02\x00\x00\x00tt" "e.";
    rk_pickle *pk = load_ok(P(p));
    const rk_pk_value *l = rk_pickle_root(pk);
    ck_assert_int_eq(l->kind, RK_PK_LIST);
    ck_assert_uint_eq(l->u.seq.n, 18);
    rk_pk_value *const *it = l->u.seq.items;
    ck_assert_int_eq(it[0]->u.i, 7);
    ck_assert_int_eq(it[1]->u.i, 0x1234);
    ck_assert_int_eq(it[2]->u.i, -2);
    ck_assert(it[3]->u.i == INT64_MIN);
    ck_assert_int_eq(it[4]->u.i, -1);
    ck_assert_int_eq(it[5]->u.i, 0);
    ck_assert_int_eq(it[6]->u.i, 300);
    ck_assert_int_eq(it[7]->kind, RK_PK_FLOAT);
    ck_assert(it[7]->u.f == 1.5);
    ck_assert_int_eq(it[8]->kind, RK_PK_NONE);
    ck_assert_int_eq(it[9]->kind, RK_PK_BOOL);
    ck_assert_int_eq(it[9]->u.i, 1);
    ck_assert_int_eq(it[10]->u.i, 0);
    ck_assert(rk_pk_is_str(it[11], "h\xc3\xa9"));
    ck_assert(rk_pk_is_str(it[12], "ab"));
    ck_assert_int_eq(it[13]->kind, RK_PK_BYTES);
    ck_assert_uint_eq(it[13]->u.str.len, 2);
    ck_assert(!memcmp(it[13]->u.str.s, "\0z", 2));
    ck_assert_int_eq(it[14]->kind, RK_PK_BYTES);
    ck_assert(!strcmp(it[14]->u.str.s, "q"));
    ck_assert_int_eq(it[15]->kind, RK_PK_BYTES);
    ck_assert_uint_eq(it[15]->u.str.len, 0);
    ck_assert(rk_pk_is_str(it[16], "s"));
    ck_assert(rk_pk_is_str(it[17], "tt"));
    ck_assert_uint_eq(l->depth, 1);
    rk_pickle_free(pk);
}
END_TEST

START_TEST(parse_ok_stack_ops) {
    /* DUP, POP, POP_MARK, LIST/DICT from MARK, TUPLE from MARK, LONG_BINPUT/LONG_BINGET, NEWOBJ OrderedDict,
     * protocol 0 header, duplicate dict keys kept (last wins on lookup). */
    static const char p[] =
        "\x80\x00(K\x01K\x02l" "r\x00\x00\x00\x00" "2" "0" "0" "(NNN1"
        "(X\x01\x00\x00\x00kK\x01X\x01\x00\x00\x00kK\x02" "d"
        "ccollections\nOrderedDict\n)\x81" "(j\x00\x00\x00\x00t" "\x87.";
    rk_pickle *pk = load_ok(P(p));
    const rk_pk_value *t = rk_pickle_root(pk);
    ck_assert_int_eq(t->kind, RK_PK_TUPLE);
    ck_assert_uint_eq(t->u.seq.n, 3);
    ck_assert_int_eq(t->u.seq.items[0]->kind, RK_PK_DICT);
    ck_assert_uint_eq(t->u.seq.items[0]->u.dict.n, 2);
    ck_assert_int_eq(rk_pk_dict_get(t->u.seq.items[0], "k")->u.i, 2);
    ck_assert_int_eq(t->u.seq.items[1]->kind, RK_PK_DICT);        /* NEWOBJ OrderedDict() */
    ck_assert_uint_eq(t->u.seq.items[1]->u.dict.n, 0);
    ck_assert_int_eq(t->u.seq.items[2]->kind, RK_PK_TUPLE);       /* (MARK ... TUPLE) wrapping the list */
    ck_assert_int_eq(t->u.seq.items[2]->u.seq.items[0]->kind, RK_PK_LIST);
    ck_assert_uint_eq(t->u.seq.items[2]->u.seq.items[0]->u.seq.n, 2);
    rk_pickle_free(pk);
}
END_TEST

START_TEST(parse_ok_shared_values) {
    /* a tensor-like value referenced twice (tied weights) is one node, its expanded size counts twice */
    static const char p[] = "\x80\x02}q\x00(X\x01\x00\x00\x00" "a" "]q\x01K\x05" "aX\x01\x00\x00\x00" "bh\x01u.";
    rk_pickle *pk = load_ok(P(p));
    const rk_pk_value *d = rk_pickle_root(pk);
    ck_assert_ptr_eq(rk_pk_dict_get(d, "a"), rk_pk_dict_get(d, "b"));
    ck_assert_uint_eq(d->tree_size, 1 + 2 * 1 + 2 * 2);
    ck_assert_uint_eq(rk_pickle_object_count(pk), 5);
    rk_pickle_free(pk);
}
END_TEST

typedef struct bad_case {
    const char *what;
    const uint8_t *p;
    size_t n;
    int code;
    const char *msg;
    uint64_t offset;      /* UINT64_MAX: don't check */
} bad_case;

#define BAD(what, lit, code, msg, off) {what, P(lit), code, msg, off}

static const bad_case k_bad[] = {
    BAD("INST opcode", "\x80\x02i os\nsystem\n", RK_EREFUSED, "INST (0x69) at offset 2", 2),
    BAD("OBJ opcode", "\x80\x02(o.", RK_EREFUSED, "OBJ", 3),
    BAD("EXT1", "\x80\x02\x82\x01.", RK_EREFUSED, "EXT1", 2),
    BAD("NEWOBJ_EX", "\x80\x04\x92", RK_EREFUSED, "NEWOBJ_EX", 2),
    BAD("text INT", "I1\n.", RK_EREFUSED, "INT", 0),
    BAD("EMPTY_SET", "\x80\x04\x8f.", RK_EREFUSED, "EMPTY_SET", 2),
    BAD("byte 0xff", "\xff", RK_EREFUSED, "unknown opcode", 0),
    BAD("os.system", "\x80\x02" "cos\nsystem\nX\x02\x00\x00\x00idR.", RK_EREFUSED, "global 'os.system' is not allowed", 2),
    BAD("posix.system", "\x80\x02" "cposix\nsystem\n", RK_EREFUSED, "'posix.system'", 2),
    BAD("builtins.eval", "\x80\x04\x8c\x08" "builtins\x8c\x04" "eval\x93", RK_EREFUSED, "'builtins.eval'", 18),
    BAD("torch.load", "\x80\x02" "ctorch\nload\n", RK_EREFUSED, "'torch.load'", 2),
    BAD("call a storage class", "\x80\x02" "ctorch\nFloatStorage\n)R.", RK_EREFUSED, "calling 'torch.FloatStorage'", 23),
    BAD("call a dtype", "\x80\x02" "ctorch\nfloat32\n)R.", RK_EREFUSED, "calling 'torch.float32'", 18),
    BAD("call a str", "\x80\x02X\x01\x00\x00\x00x)R.", RK_EREFUSED, "calling a str", 9),
    BAD("NEWOBJ of a rebuild", "\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\n)\x81.", RK_EREFUSED, "NEWOBJ of", 36),
    BAD("OrderedDict(args)", "\x80\x02" "ccollections\nOrderedDict\n]\x85R.", RK_EREFUSED, "constructor arguments", 29),
    BAD("BUILD on a list", "\x80\x02]}b.", RK_EREFUSED, "BUILD on a list", 4),
    BAD("BUILD twice", "\x80\x02}}b}b.", RK_EREFUSED, "a second BUILD on the same dict", 6),
    BAD("append to a dict", "\x80\x02}Na.", RK_EREFUSED, "append on a dict", 4),
    BAD("setitem on a list", "\x80\x02]NNs.", RK_EREFUSED, "setitem on a list", 5),
    BAD("self cycle", "\x80\x02]2a.", RK_EREFUSED, "inside itself", 4),
    BAD("indirect cycle", "\x80\x02]q\x00]h\x00" "aa.", RK_EREFUSED, "already stored inside", 9),
    BAD("dict cycle", "\x80\x02}q\x00X\x01\x00\x00\x00k]h\x00" "a" "s.", RK_EREFUSED, "already stored inside", 15),
    BAD("protocol 6", "\x80\x06N.", RK_EUNSUPPORTED, "protocol 6", 0),
    BAD("LONG1 2^64", "\x80\x02\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01.", RK_EUNSUPPORTED, "does not fit in 64 bits", 2),
    BAD("LONG1 2^63", "\x80\x02\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x80\x00.", RK_EUNSUPPORTED, "does not fit", 2),
    BAD("LONG4 absurd", "\x80\x02\x8b\xff\xff\xff\x7f\x00.", RK_ECORRUPT, "exceeds the 2 bytes that remain", 2),
    BAD("BINUNICODE8 2^63", "\x80\x04\x8d\x00\x00\x00\x00\x00\x00\x00\x80x.", RK_ECORRUPT, "exceeds", 2),
    BAD("BINBYTES past end", "\x80\x02" "B\x05\x00\x00\x00" "abc", RK_ECORRUPT, "length 5 exceeds the 3 bytes", 2),
    BAD("FRAME past end", "\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00N.", RK_ECORRUPT, "length 16 exceeds", 2),
    BAD("BININT truncated", "\x80\x02J\x01\x02", RK_ECORRUPT, "truncated: needs 4 more bytes, 2 remain", 2),
    BAD("length truncated", "\x80\x02X\x01\x00", RK_ECORRUPT, "truncated", 2),
    BAD("GLOBAL truncated", "\x80\x02" "ccollections\nOrdered", RK_ECORRUPT, "truncated", 2),
    BAD("PROTO truncated", "\x80", RK_ECORRUPT, "truncated", 0),
    BAD("no STOP", "\x80\x02N", RK_ECORRUPT, "without STOP", 3),
    BAD("empty input", "", RK_ECORRUPT, "without STOP", 0),
    BAD("garbage after STOP", "\x80\x02N.xyz", RK_ECORRUPT, "3 bytes of garbage after", 4),
    BAD("bad UTF-8", "\x80\x02X\x02\x00\x00\x00\xc3\x28.", RK_ECORRUPT, "not valid UTF-8", 2),
    BAD("overlong UTF-8", "\x80\x02X\x02\x00\x00\x00\xc0\xaf.", RK_ECORRUPT, "not valid UTF-8", 2),
    BAD("stack underflow TUPLE1", "\x80\x02\x85.", RK_ECORRUPT, "stack underflow", 2),
    BAD("stack underflow POP", "\x80\x02" "0", RK_ECORRUPT, "stack underflow", 2),
    BAD("pop past MARK", "\x80\x02N(0", RK_ECORRUPT, "past a MARK", 4),
    BAD("TUPLE2 across MARK", "\x80\x02N(N\x86", RK_ECORRUPT, "stack underflow", 5),
    BAD("REDUCE underflow", "\x80\x02)R", RK_ECORRUPT, "stack underflow", 3),
    BAD("BINPERSID underflow", "\x80\x02Q", RK_ECORRUPT, "stack underflow", 2),
    BAD("BUILD underflow", "\x80\x02}b", RK_ECORRUPT, "stack underflow", 3),
    BAD("SETITEM underflow", "\x80\x02Ns", RK_ECORRUPT, "needs key and value", 3),
    BAD("APPEND with no list", "\x80\x02Na", RK_ECORRUPT, "no list below", 3),
    BAD("TUPLE without MARK", "\x80\x02Nt.", RK_ECORRUPT, "no MARK", 3),
    BAD("APPENDS without MARK", "\x80\x02]Ne.", RK_ECORRUPT, "no MARK", 4),
    BAD("POP_MARK without MARK", "\x80\x02" "1", RK_ECORRUPT, "no MARK", 2),
    BAD("MARK left open", "\x80\x02(N.", RK_ECORRUPT, "MARK(s) left open", 4),
    BAD("two values at STOP", "\x80\x02NN.", RK_ECORRUPT, "2 values on the stack", 4),
    BAD("nothing at STOP", "\x80\x02.", RK_ECORRUPT, "0 values on the stack", 2),
    BAD("SETITEMS odd", "\x80\x02}(Nu.", RK_ECORRUPT, "odd number of items (1)", 5),
    BAD("DICT odd", "\x80\x02(Nd.", RK_ECORRUPT, "odd number", 4),
    BAD("BINGET empty memo", "\x80\x02h\x00.", RK_ECORRUPT, "memo index 0 out of range (0 stored)", 2),
    BAD("LONG_BINGET far", "\x80\x02Nq\x00j\xff\xff\xff\xff.", RK_ECORRUPT, "memo index 4294967295 out of range", 5),
    BAD("BINPUT skips ahead", "\x80\x02Nq\x05.", RK_ECORRUPT, "memo index 5 skips ahead", 3),
    BAD("LONG_BINPUT huge", "\x80\x02Nr\xff\xff\xff\x7f.", RK_ECORRUPT, "skips ahead", 3),
    BAD("MEMOIZE empty stack", "\x80\x04\x94", RK_ECORRUPT, "stack underflow", 2),
    BAD("STACK_GLOBAL non-str", "\x80\x04K\x01K\x02\x93", RK_ECORRUPT, "must be str", 6),
    BAD("REDUCE args not tuple", "\x80\x02" "ccollections\nOrderedDict\nNR.", RK_ECORRUPT, "not a tuple", 28),
    BAD("GLOBAL NUL", "\x80\x02" "cto\0rch\nx\n", RK_ECORRUPT, "NUL byte", 2),
};

START_TEST(parse_refused_and_corrupt) {
    for (size_t i = 0; i < sizeof k_bad / sizeof k_bad[0]; i++) {
        const bad_case *c = &k_bad[i];
        rk_pickle *pk = (rk_pickle *)1;
        rk_err err;
        rk_err_clear(&err);
        int rc = rk_pickle_load(&pk, c->p, c->n, "evil.pkl", NULL, &err);
        ck_assert_msg(rc == c->code, "%s: expected code %d, got %d (%s)", c->what, c->code, rc, err.msg);
        ck_assert_int_eq(err.code, rc);
        ck_assert_ptr_null(pk);
        ck_assert_msg(strstr(err.msg, c->msg) != NULL, "%s: message '%s' lacks '%s'", c->what, err.msg, c->msg);
        ck_assert_msg(!strncmp(err.msg, "evil.pkl: ", 10), "%s: message '%s' does not name the input", c->what, err.msg);
        if (c->offset != UINT64_MAX)
            ck_assert_msg(err.offset == c->offset, "%s: offset %llu, expected %llu (%s)", c->what,
                          (unsigned long long)err.offset, (unsigned long long)c->offset, err.msg);
    }
}
END_TEST

START_TEST(global_name_too_long) {
    char p[400];
    memcpy(p, "\x80\x02" "c", 3);
    memset(p + 3, 'a', 300);
    memcpy(p + 303, "\nb\n", 3);
    rk_pickle *pk = NULL;
    rk_err err;
    rk_err_clear(&err);
    ck_assert_int_eq(rk_pickle_load(&pk, (const uint8_t *)p, 306, "x", NULL, &err), RK_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(err.msg, "GLOBAL name longer than 255 bytes"));
}
END_TEST

/* Caps: depth, object count, expanded size (exponential sharing through the memo). */
START_TEST(parse_caps) {
    uint8_t p[4096];
    size_t n = 0;
    rk_pickle *pk = NULL;
    rk_err err;
    rk_err_clear(&err);

    p[n++] = 0x80, p[n++] = 2;
    for (int i = 0; i < 150; i++) p[n++] = ']';
    for (int i = 0; i < 149; i++) p[n++] = 'a';
    p[n++] = '.';
    ck_assert_int_eq(rk_pickle_load(&pk, p, n, "deep", NULL, &err), RK_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(err.msg, "nesting deeper than 100 levels"));
    rk_pk_limits lim = {.max_depth = 200};
    ck_assert_int_eq(rk_pickle_load(&pk, p, n, "deep", &lim, &err), 0);
    ck_assert_uint_eq(rk_pickle_root(pk)->depth, 149);
    rk_pickle_free(pk);

    n = 0;
    p[n++] = 0x80, p[n++] = 2, p[n++] = ']', p[n++] = '(';
    for (int i = 0; i < 20; i++) p[n++] = 'N';
    p[n++] = 'e', p[n++] = '.';
    lim = (rk_pk_limits){.max_objects = 10};
    ck_assert_int_eq(rk_pickle_load(&pk, p, n, "many", &lim, &err), RK_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(err.msg, "more than 10 objects"));
    ck_assert_int_eq(rk_pickle_load(&pk, p, n, "many", NULL, &err), 0);
    rk_pickle_free(pk);

    n = 0;
    p[n++] = 0x80, p[n++] = 2, p[n++] = 'N';
    for (int i = 0; i < 60; i++) p[n++] = '2', p[n++] = 0x86;   /* (x, x) doubles the expanded size */
    p[n++] = '.';
    ck_assert_int_eq(rk_pickle_load(&pk, p, n, "bomb", NULL, &err), RK_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(err.msg, "expanded object tree larger than"));
    ck_assert_ptr_null(pk);
}
END_TEST

/* Every proper prefix of a real pickle fails as corrupt; no prefix crashes or leaks. */
START_TEST(parse_truncations) {
    const uint8_t *full = (const uint8_t *)k_sd2;
    size_t n = sizeof k_sd2 - 1;
    for (size_t k = 0; k < n; k++) {
        uint8_t *copy = malloc(k ? k : 1);   /* exact-size copy: ASan sees any over-read */
        memcpy(copy, full, k);
        rk_pickle *pk = NULL;
        rk_err err;
        rk_err_clear(&err);
        int rc = rk_pickle_load(&pk, copy, k, "cut", NULL, &err);
        ck_assert_msg(rc == RK_ECORRUPT, "prefix %zu: got %d (%s)", k, rc, err.msg);
        ck_assert_ptr_null(pk);
        free(copy);
    }
}
END_TEST

/* Single-byte changes of real pickles: any outcome but a crash; failures are filled in. */
START_TEST(parse_byte_flips) {
    const char *srcs[] = {k_sd2, k_sd4};
    size_t lens[] = {sizeof k_sd2 - 1, sizeof k_sd4 - 1};
    static const uint8_t vals[] = {0x00, 0x01, 0x7f, 0x80, 0xff, '(', 't', 'R', 'h', 'q', 'e', 'u', 'b', '.'};
    for (int s = 0; s < 2; s++) {
        uint8_t *copy = malloc(lens[s]);
        for (size_t i = 0; i < lens[s]; i++)
            for (size_t v = 0; v < sizeof vals; v++) {
                memcpy(copy, srcs[s], lens[s]);
                copy[i] = vals[v];
                rk_pickle *pk = NULL;
                rk_err err;
                rk_err_clear(&err);
                int rc = rk_pickle_load(&pk, copy, lens[s], "flip", NULL, &err);
                if (rc) {
                    ck_assert_int_eq(err.code, rc);
                    ck_assert(err.msg[0] != 0);
                    ck_assert_ptr_null(pk);
                }
                rk_pickle_free(pk);
            }
        free(copy);
    }
}
END_TEST

START_TEST(api_misuse) {
    rk_pickle *pk = NULL;
    ck_assert_int_eq(rk_pickle_load(NULL, (const uint8_t *)"N.", 2, "x", NULL, NULL), RK_EINVAL);
    ck_assert_int_eq(rk_pickle_load(&pk, NULL, 2, "x", NULL, NULL), RK_EINVAL);
    ck_assert_int_eq(rk_pickle_load(&pk, (const uint8_t *)"\x80\x02" "cos\nsystem\n", 13, NULL, NULL, NULL), RK_EREFUSED);
    rk_pickle_free(NULL);
    ck_assert_ptr_null(rk_pickle_root(NULL));
    ck_assert_str_eq(rk_pk_kind_name(RK_PK_DICT), "dict");
    ck_assert_str_eq(rk_pk_kind_name(99), "?");
    ck_assert_ptr_null(rk_pk_dict_get(NULL, "x"));
}
END_TEST

Suite *make_suite(void) {
    Suite *s = suite_create("pickle");
    TCase *tc = tcase_create("parse_ok");
    tcase_add_test(tc, parse_ok_torch_protocol2);
    tcase_add_test(tc, parse_ok_torch_protocol4);
    tcase_add_test(tc, parse_ok_scalars);
    tcase_add_test(tc, parse_ok_stack_ops);
    tcase_add_test(tc, parse_ok_shared_values);
    suite_add_tcase(s, tc);
    tc = tcase_create("parse_corrupt");
    tcase_add_test(tc, parse_refused_and_corrupt);
    tcase_add_test(tc, global_name_too_long);
    tcase_add_test(tc, parse_caps);
    tcase_add_test(tc, parse_truncations);
    tcase_add_test(tc, parse_byte_flips);
    tcase_add_test(tc, api_misuse);
    suite_add_tcase(s, tc);
    return s;
}

RK_TEST_MAIN()
