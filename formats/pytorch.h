/* formats/pytorch.h — PyTorch zip checkpoints (torch.save since 1.6: .bin/.pt/.pth) without executing pickle.
 * Layout: <prefix>/data.pkl (pickle, protocol 2 or 4), <prefix>/data/<key> raw storages, <prefix>/byteorder,
 * <prefix>/version. The pickle is interpreted by formats/pickle.h, which understands only the opcodes and
 * globals a state dict needs (collections.OrderedDict, torch._utils._rebuild_tensor_v2, _rebuild_parameter,
 * torch.*Storage classes, torch.<dtype>) and refuses everything else. Nested dicts (e.g. {"model": sd}) are
 * flattened with "." separators (list/tuple items by position, int keys in decimal); non-tensor leaves are
 * skipped (see rk_pytorch_pickle_root). Legacy (pre-zip) files, big-endian byteorder, and entries whose names
 * contain ".." or start with "/" are refused. Declared sizes are checked against the central directory and the
 * storage numel; decompressed bytes are bounded by what the tensor needs. */
#ifndef RK_FORMATS_PYTORCH_H
#define RK_FORMATS_PYTORCH_H
#include "formats/common.h"

typedef struct rk_pt_tensor {
    const char *name;
    int dtype;                     /* rk_dtype (F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL, F8_*) */
    int n_dims;
    int64_t shape[RK_MAX_DIMS];    /* outermost first */
    int64_t stride[RK_MAX_DIMS];   /* in elements */
    int64_t storage_offset;        /* in elements */
    const char *storage_key;       /* "<prefix>/data/<key>" entry */
    uint64_t nbytes;               /* numel * element size */
    int contiguous;                /* row-major contiguous */
} rk_pt_tensor;

typedef struct rk_pytorch rk_pytorch;
int  rk_pytorch_open(rk_pytorch **out, const char *path, rk_err *err);
void rk_pytorch_close(rk_pytorch *pt);
size_t rk_pytorch_count(const rk_pytorch *pt);
const rk_pt_tensor *rk_pytorch_tensor(const rk_pytorch *pt, size_t i);     /* pickle order */
const rk_pt_tensor *rk_pytorch_find(const rk_pytorch *pt, const char *name);
/* Copy the tensor's elements, row-major contiguous, into dst (dst_bytes >= nbytes). Non-contiguous tensors
 * (any strides, incl. transposed views and expanded 0 strides) are gathered; views that reach past their storage
 * are an error. Thread-safe for distinct tensors? No: one reader per thread. */
int  rk_pytorch_read(rk_pytorch *pt, size_t i, void *dst, uint64_t dst_bytes, rk_err *err);
const char *rk_pytorch_path(const rk_pytorch *pt);

/* Additions (formats/pytorch.c):
 * rk_pytorch_open_buffer: the same checks over bytes in memory (tests, fuzzing); label names it in messages;
 * data must stay valid and unchanged until rk_pytorch_close.
 * rk_pytorch_pickle_root: the unpickled data.pkl (see formats/pickle.h) for the non-tensor leaves that the
 * flattened tensor list skips (e.g. "step", "epoch", config strings); valid until rk_pytorch_close.
 * Sharded checkpoints (pytorch_model.bin.index.json) are handled by formats/checkpoint.h, one rk_pytorch per shard. */
int rk_pytorch_open_buffer(rk_pytorch **out, const void *data, uint64_t size, const char *label, rk_err *err);
struct rk_pk_value;
const struct rk_pk_value *rk_pytorch_pickle_root(const rk_pytorch *pt);
#endif
