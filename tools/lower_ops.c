/* The operators `tessera lower` can build: one table row per operator name, with the
 * key=value arguments it takes (their kinds, defaults and help) and the named schedules
 * that fit it, and one builder per row that turns the arguments into placeholders and
 * a call into the operator library (<tessera/ops.h>).
 *
 * The table is the single source of truth: cmd_lower.c parses and checks arguments
 * against it and prints it for `tessera lower --help`, so a new operator is one row and
 * one builder here. Keys that only a schedule reads (matmul's bn, conv2d's tile_h and
 * tile_w) live here too, so that they are listed and checked like the others. */
#include <assert.h>
#include <string.h>

#include "tools.h"

/* ---- reading the arguments ---- */

int tool_num_keys(const ToolOp *op)
{
    int n = 0;
    while (n < TOOL_MAX_KEYS && op->keys[n].name)
        n++;
    return n;
}

int tool_find_key(const ToolOp *op, const char *name)
{
    for (int i = 0; i < tool_num_keys(op); i++)
        if (strcmp(op->keys[i].name, name) == 0)
            return i;
    return -1;
}

int64_t tool_arg(const ToolOp *op, const ToolArgs *args, const char *name)
{
    int i = tool_find_key(op, name);
    assert(i >= 0 && "a builder or schedule read a key its operator does not list");
    if (i < 0)
        return 0;
    return args->given[i] ? args->value[i] : op->keys[i].def;
}

bool tool_arg_given(const ToolOp *op, const ToolArgs *args, const char *name)
{
    int i = tool_find_key(op, name);
    return i >= 0 && args->given[i];
}

/* Products of narrow integers accumulate in int32, as quantized kernels do; everything
 * else in the inputs' dtype (bits == 0 tells the library so). */
static TsDType accumulation(TsDType dtype)
{
    if (ts_dtype_is_int(dtype) && dtype.bits < 32)
        return TS_INT32;
    return ts_dtype(TS_TYPE_FLOAT, 0, 1);
}

/* ---- shapes given as size=S or N C H W ---- */

static const char *const nchw_keys[4] = { "N", "C", "H", "W" };

/* The shape of an elementwise operator: size=S gives [S], N=.. C=.. H=.. W=.. give
 * [N, C, H, W]. Exactly one of the two forms, complete. */
static bool size_or_nchw(TsArena *arena, const ToolOp *op, const ToolArgs *args, int *ndim,
                         int64_t shape[4])
{
    int given = 0;
    const char *missing = NULL;
    for (int i = 0; i < 4; i++) {
        if (tool_arg_given(op, args, nchw_keys[i]))
            given++;
        else if (!missing)
            missing = nchw_keys[i];
    }
    if (tool_arg_given(op, args, "size")) {
        if (given > 0) {
            ts_arena_fail(arena, TS_EINVAL,
                          "%s: give the shape as size=... or as N, C, H "
                          "and W, not both",
                          op->name);
            return false;
        }
        *ndim = 1;
        shape[0] = tool_arg(op, args, "size");
        return true;
    }
    if (given < 4) {
        ts_arena_fail(arena, TS_EINVAL,
                      "%s: missing required key %s (give the shape as "
                      "size=... or as N, C, H and W)",
                      op->name, missing);
        return false;
    }
    *ndim = 4;
    for (int i = 0; i < 4; i++)
        shape[i] = tool_arg(op, args, nchw_keys[i]);
    return true;
}

/* ---- builders ---- */

static TsTensor *build_matmul(TsArena *arena, const ToolOp *op, const ToolArgs *args, TsDType dtype)
{
    int64_t m = tool_arg(op, args, "M"), n = tool_arg(op, args, "N"), k = tool_arg(op, args, "K");
    bool trans_a = tool_arg(op, args, "trans_a"), trans_b = tool_arg(op, args, "trans_b");
    int64_t a_shape[2] = { m, k }, b_shape[2] = { k, n };
    if (trans_a) {
        a_shape[0] = k;
        a_shape[1] = m;
    }
    if (trans_b) {
        b_shape[0] = n;
        b_shape[1] = k;
    }
    TsTensor *a = ts_placeholder(arena, "A", 2, a_shape, dtype);
    TsTensor *b = ts_placeholder(arena, "B", 2, b_shape, dtype);
    return ts_op_matmul(arena, a, b, trans_a, trans_b, accumulation(dtype));
}

static TsTensor *build_dense(TsArena *arena, const ToolOp *op, const ToolArgs *args, TsDType dtype)
{
    int64_t n = tool_arg(op, args, "N"), m = tool_arg(op, args, "M"), k = tool_arg(op, args, "K");
    TsDType acc = accumulation(dtype);
    TsTensor *data = ts_placeholder(arena, "data", 2, (int64_t[]){ n, k }, dtype);
    TsTensor *weight = ts_placeholder(arena, "weight", 2, (int64_t[]){ m, k }, dtype);
    TsTensor *bias = NULL;
    if (tool_arg(op, args, "bias"))
        bias = ts_placeholder(arena, "bias", 1, (int64_t[]){ m }, acc.bits ? acc : dtype);
    return ts_op_dense(arena, data, weight, bias, acc);
}

/* Channels that groups must divide, named by their keys. */
static bool groups_divide(TsArena *arena, const ToolOp *op, int64_t groups, const char *key,
                          int64_t channels)
{
    if (channels % groups == 0)
        return true;
    ts_arena_fail(arena, TS_EINVAL, "%s: groups=%lld does not divide %s=%lld", op->name,
                  (long long)groups, key, (long long)channels);
    return false;
}

static TsTensor *build_conv2d(TsArena *arena, const ToolOp *op, const ToolArgs *args, TsDType dtype)
{
    int64_t n = tool_arg(op, args, "N"), c = tool_arg(op, args, "C");
    int64_t h = tool_arg(op, args, "H"), w = tool_arg(op, args, "W");
    int64_t o = tool_arg(op, args, "O"), groups = tool_arg(op, args, "groups");
    int64_t kh = tool_arg(op, args, "KH"), kw = tool_arg(op, args, "KW");
    int64_t stride = tool_arg(op, args, "stride"), pad = tool_arg(op, args, "pad");
    int64_t dilation = tool_arg(op, args, "dilation");
    if (!groups_divide(arena, op, groups, "C", c) || !groups_divide(arena, op, groups, "O", o))
        return NULL;
    TsConv2dAttrs attrs = ts_conv2d_attrs_default();
    attrs.stride[0] = attrs.stride[1] = stride;
    attrs.dilation[0] = attrs.dilation[1] = dilation;
    for (int i = 0; i < 4; i++)
        attrs.padding[i] = pad;
    attrs.groups = groups;
    attrs.layout = tool_arg(op, args, "layout") == 0 ? TS_LAYOUT_NCHW : TS_LAYOUT_NHWC;
    attrs.out_dtype = accumulation(dtype);
    bool nchw = attrs.layout == TS_LAYOUT_NCHW;
    int64_t data_shape[4] = { n, c, h, w }, weight_shape[4] = { o, c / groups, kh, kw };
    if (!nchw) {
        memcpy(data_shape, (int64_t[]){ n, h, w, c }, sizeof data_shape);
        memcpy(weight_shape, (int64_t[]){ kh, kw, c / groups, o }, sizeof weight_shape);
    }
    TsTensor *data = ts_placeholder(arena, "data", 4, data_shape, dtype);
    TsTensor *weight = ts_placeholder(arena, "weight", 4, weight_shape, dtype);
    return ts_op_conv2d(arena, data, weight, &attrs);
}

/* pool2d chooses max or average with kind=; maxpool and avgpool are fixed. */
static TsPoolKind pool_kind(const ToolOp *op, const ToolArgs *args)
{
    if (strcmp(op->name, "maxpool") == 0)
        return TS_POOL_MAX;
    if (strcmp(op->name, "avgpool") == 0)
        return TS_POOL_AVG;
    return tool_arg(op, args, "kind") == 0 ? TS_POOL_MAX : TS_POOL_AVG;
}

static TsTensor *build_pool2d(TsArena *arena, const ToolOp *op, const ToolArgs *args, TsDType dtype)
{
    int64_t n = tool_arg(op, args, "N"), c = tool_arg(op, args, "C");
    int64_t h = tool_arg(op, args, "H"), w = tool_arg(op, args, "W");
    int64_t kernel = tool_arg(op, args, "kernel"), pad = tool_arg(op, args, "pad");
    /* stride=0 (the default) means "the kernel size", as ONNX and PyTorch default. */
    int64_t stride = tool_arg_given(op, args, "stride") ? tool_arg(op, args, "stride") : kernel;
    TsPool2dAttrs attrs = ts_pool2d_attrs_default(pool_kind(op, args), kernel, kernel);
    attrs.stride[0] = attrs.stride[1] = stride;
    for (int i = 0; i < 4; i++)
        attrs.padding[i] = pad;
    attrs.ceil_mode = tool_arg(op, args, "ceil_mode") != 0;
    attrs.layout = tool_arg(op, args, "layout") == 0 ? TS_LAYOUT_NCHW : TS_LAYOUT_NHWC;
    int64_t shape[4] = { n, c, h, w };
    if (attrs.layout == TS_LAYOUT_NHWC)
        memcpy(shape, (int64_t[]){ n, h, w, c }, sizeof shape);
    TsTensor *data = ts_placeholder(arena, "data", 4, shape, dtype);
    return ts_op_pool2d(arena, data, &attrs);
}

static TsTensor *build_relu(TsArena *arena, const ToolOp *op, const ToolArgs *args, TsDType dtype)
{
    int ndim;
    int64_t shape[4];
    if (!size_or_nchw(arena, op, args, &ndim, shape))
        return NULL;
    return ts_op_relu(arena, ts_placeholder(arena, "data", ndim, shape, dtype));
}

static TsTensor *build_add(TsArena *arena, const ToolOp *op, const ToolArgs *args, TsDType dtype)
{
    int ndim;
    int64_t shape[4];
    if (!size_or_nchw(arena, op, args, &ndim, shape))
        return NULL;
    TsTensor *a = ts_placeholder(arena, "A", ndim, shape, dtype);
    TsTensor *b = ts_placeholder(arena, "B", ndim, shape, dtype);
    return ts_op_add(arena, a, b);
}

static TsTensor *build_softmax(TsArena *arena, const ToolOp *op, const ToolArgs *args,
                               TsDType dtype)
{
    int64_t shape[2] = { tool_arg(op, args, "M"), tool_arg(op, args, "N") };
    return ts_op_softmax(arena, ts_placeholder(arena, "data", 2, shape, dtype), 1);
}

/* Pads H and W of an N C H W shape (the one dimension of size=S) on both sides. */
static TsTensor *build_pad(TsArena *arena, const ToolOp *op, const ToolArgs *args, TsDType dtype)
{
    int ndim;
    int64_t shape[4], before[4] = { 0 }, after[4] = { 0 };
    if (!size_or_nchw(arena, op, args, &ndim, shape))
        return NULL;
    int64_t pad = tool_arg(op, args, "pad");
    for (int i = ndim == 4 ? 2 : 0; i < ndim; i++)
        before[i] = after[i] = pad;
    TsTensor *data = ts_placeholder(arena, "data", ndim, shape, dtype);
    return ts_op_pad(arena, data, before, after, 0.0);
}

/* ---- bitserial operators: integer codes packed by bitpack stages in the DAG ---- */

/* The unpacked codes' dtype: the requested integer type, or uint8 for the default
 * float32 (low-bit codes are integers whatever --dtype says). */
static TsDType bitserial_codes(TsDType dtype)
{
    return ts_dtype_is_int(dtype) ? dtype : TS_UINT8;
}

static const TsDType bitserial_words[4] = { { TS_TYPE_UINT, 8, 1 }, { TS_TYPE_UINT, 16, 1 },
                                            { TS_TYPE_UINT, 32, 1 }, { TS_TYPE_UINT, 64, 1 } };

static TsTensor *build_bitserial_conv2d(TsArena *arena, const ToolOp *op, const ToolArgs *args,
                                        TsDType dtype)
{
    int64_t n = tool_arg(op, args, "N"), c = tool_arg(op, args, "C");
    int64_t h = tool_arg(op, args, "H"), w = tool_arg(op, args, "W");
    int64_t o = tool_arg(op, args, "O"), groups = tool_arg(op, args, "groups");
    int64_t kh = tool_arg(op, args, "KH"), kw = tool_arg(op, args, "KW");
    int abits = (int)tool_arg(op, args, "abits"), wbits = (int)tool_arg(op, args, "wbits");
    TsDType word = bitserial_words[tool_arg(op, args, "word")], codes = bitserial_codes(dtype);
    if (!groups_divide(arena, op, groups, "C", c) || !groups_divide(arena, op, groups, "O", o))
        return NULL;
    TsBitserialConv2dAttrs attrs = ts_bitserial_conv2d_attrs_default(c);
    attrs.stride[0] = attrs.stride[1] = tool_arg(op, args, "stride");
    attrs.dilation[0] = attrs.dilation[1] = tool_arg(op, args, "dilation");
    for (int i = 0; i < 4; i++)
        attrs.padding[i] = tool_arg(op, args, "pad");
    attrs.groups = groups;
    attrs.layout = tool_arg(op, args, "layout") == 0 ? TS_LAYOUT_NCHW : TS_LAYOUT_NHWC;
    attrs.encoding = (TsBitserialEncoding)tool_arg(op, args, "encoding");
    bool nchw = attrs.layout == TS_LAYOUT_NCHW;
    int64_t data_shape[4] = { n, c, h, w }, weight_shape[4] = { o, c / groups, kh, kw };
    if (!nchw) {
        memcpy(data_shape, (int64_t[]){ n, h, w, c }, sizeof data_shape);
        memcpy(weight_shape, (int64_t[]){ kh, kw, c / groups, o }, sizeof weight_shape);
    }
    TsTensor *data = ts_placeholder(arena, "data", 4, data_shape, codes);
    TsTensor *weight = ts_placeholder(arena, "weight", 4, weight_shape, codes);
    TsTensor *packed_data = ts_op_bitpack(arena, data, nchw ? 1 : 3, abits, groups, word);
    TsTensor *packed_weight = ts_op_bitpack(arena, weight, nchw ? 1 : 2, wbits, 1, word);
    return ts_op_bitserial_conv2d(arena, packed_data, packed_weight, &attrs);
}

static TsTensor *build_bitserial_dense(TsArena *arena, const ToolOp *op, const ToolArgs *args,
                                       TsDType dtype)
{
    int64_t n = tool_arg(op, args, "N"), m = tool_arg(op, args, "M"), k = tool_arg(op, args, "K");
    int abits = (int)tool_arg(op, args, "abits"), wbits = (int)tool_arg(op, args, "wbits");
    TsDType word = bitserial_words[tool_arg(op, args, "word")], codes = bitserial_codes(dtype);
    TsBitserialDenseAttrs attrs = ts_bitserial_dense_attrs_default(k);
    attrs.encoding = (TsBitserialEncoding)tool_arg(op, args, "encoding");
    TsTensor *data = ts_placeholder(arena, "data", 2, (int64_t[]){ n, k }, codes);
    TsTensor *weight = ts_placeholder(arena, "weight", 2, (int64_t[]){ m, k }, codes);
    return ts_op_bitserial_dense(arena, ts_op_bitpack(arena, data, 1, abits, 1, word),
                                 ts_op_bitpack(arena, weight, 1, wbits, 1, word), &attrs);
}

/* ---- the table ---- */

/* clang-format off */
#define REQUIRED(key, text) { .name = key, .kind = TOOL_KEY_POSITIVE, .required = true, .help = text }
#define OPTIONAL(key, text) { .name = key, .kind = TOOL_KEY_POSITIVE, .def_text = "-", .help = text }
#define POSITIVE(key, value, text) { .name = key, .kind = TOOL_KEY_POSITIVE, .def = value, .help = text }
#define COUNT(key, value, text) { .name = key, .kind = TOOL_KEY_COUNT, .def = value, .help = text }
#define FLAG(key, text) { .name = key, .kind = TOOL_KEY_FLAG, .def = 0, .help = text }
#define LAYOUT { .name = "layout", .kind = TOOL_KEY_WORD, .words = { "NCHW", "NHWC" }, \
                 .help = "data layout (conv2d weights OIHW or HWIO)" }
#define SHAPE_KEYS                                                                 \
    OPTIONAL("size", "a 1-D shape [size]"), OPTIONAL("N", "batch (4-D shape)"),     \
    OPTIONAL("C", "channels"), OPTIONAL("H", "height"), OPTIONAL("W", "width")
#define POOL_KEYS                                                                  \
    REQUIRED("N", "batch"), REQUIRED("C", "channels"), REQUIRED("H", "input height"), \
    REQUIRED("W", "input width"), POSITIVE("kernel", 2, "window height and width"),  \
    { .name = "stride", .kind = TOOL_KEY_POSITIVE, .def_text = "kernel",           \
      .help = "window step" },                                                     \
    COUNT("pad", 0, "padding on every side"),                                      \
    FLAG("ceil_mode", "round the output size up"), LAYOUT

#define BITSERIAL_KEYS                                                             \
    POSITIVE("abits", 1, "activation bits (1-8)"), POSITIVE("wbits", 1, "weight bits (1-8)"), \
    { .name = "encoding", .kind = TOOL_KEY_WORD, .words = { "01x01", "01xpm1", "pm1xpm1" },  \
      .help = "0/1 x 0/1 (AND), 0/1 x +-1, +-1 x +-1 (XNOR)" },                              \
    { .name = "word", .kind = TOOL_KEY_WORD, .words = { "uint8", "uint16", "uint32", "uint64" }, \
      .def = 3, .help = "the packed word" }

static const ToolOp ops[] = {
    { .name = "matmul", .summary = "C[i, j] = sum over k of A[i, k] * B[k, j]",
      .build = build_matmul,
      .keys = { REQUIRED("M", "rows of A and C"), REQUIRED("N", "columns of B and C"),
                REQUIRED("K", "the reduction extent"),
                FLAG("trans_a", "A is given as [K, M]"), FLAG("trans_b", "B is given as [N, K]"),
                POSITIVE("bn", 32, "block size of the blocked schedule") },
      .schedules = { "blocked" } },
    { .name = "dense", .summary = "out[n, m] = sum over k of data[n, k] * weight[m, k] (+ bias[m])",
      .build = build_dense,
      .keys = { REQUIRED("N", "rows of data (batch)"), REQUIRED("M", "rows of weight (units)"),
                REQUIRED("K", "features"), FLAG("bias", "add a bias vector"),
                POSITIVE("bn", 32, "block size of the blocked schedule") },
      .schedules = { "blocked" } },
    { .name = "conv2d", .summary = "2-D convolution, padding as a separate pad stage",
      .build = build_conv2d,
      .keys = { REQUIRED("N", "batch"), REQUIRED("C", "input channels"),
                REQUIRED("H", "input height"), REQUIRED("W", "input width"),
                REQUIRED("O", "output channels"), POSITIVE("KH", 3, "kernel height"),
                POSITIVE("KW", 3, "kernel width"), POSITIVE("stride", 1, "step in H and W"),
                COUNT("pad", 0, "zero padding on every side"),
                POSITIVE("dilation", 1, "kernel dilation"), POSITIVE("groups", 1, "channel groups"),
                LAYOUT, POSITIVE("tile_h", 4, "output rows per tile (tiled schedule)"),
                POSITIVE("tile_w", 8, "output columns per tile (tiled schedule)") },
      .schedules = { "tiled", "inline_pad" } },
    { .name = "bitserial_conv2d",
      .summary = "low-bit conv2d of integer codes, bit-packed by bitpack stages (--dtype: the codes', uint8 unless an integer)",
      .build = build_bitserial_conv2d,
      .keys = { REQUIRED("N", "batch"), REQUIRED("C", "input channels"),
                REQUIRED("H", "input height"), REQUIRED("W", "input width"),
                REQUIRED("O", "output channels"), POSITIVE("KH", 3, "kernel height"),
                POSITIVE("KW", 3, "kernel width"), POSITIVE("stride", 1, "step in H and W"),
                COUNT("pad", 0, "zero padding on every side"),
                POSITIVE("dilation", 1, "kernel dilation"), POSITIVE("groups", 1, "channel groups"),
                LAYOUT, BITSERIAL_KEYS } },
    { .name = "bitserial_dense",
      .summary = "low-bit dense out[n, m] of integer codes, bit-packed along K",
      .build = build_bitserial_dense,
      .keys = { REQUIRED("N", "rows of data (batch)"), REQUIRED("M", "rows of weight (units)"),
                REQUIRED("K", "features"), BITSERIAL_KEYS } },
    { .name = "pool2d", .summary = "max or average pooling over kernel x kernel windows",
      .build = build_pool2d,
      .keys = { POOL_KEYS, { .name = "kind", .kind = TOOL_KEY_WORD, .words = { "max", "avg" },
                             .help = "max or average" } } },
    { .name = "maxpool", .summary = "max pooling (pool2d kind=max)", .build = build_pool2d,
      .keys = { POOL_KEYS } },
    { .name = "avgpool", .summary = "average pooling (pool2d kind=avg)", .build = build_pool2d,
      .keys = { POOL_KEYS } },
    { .name = "relu", .summary = "max(data, 0), elementwise", .build = build_relu,
      .keys = { SHAPE_KEYS }, .schedules = { "vectorized" } },
    { .name = "add", .summary = "A + B, elementwise", .build = build_add,
      .keys = { SHAPE_KEYS }, .schedules = { "vectorized" } },
    { .name = "softmax", .summary = "softmax along the rows of an M x N matrix",
      .build = build_softmax,
      .keys = { REQUIRED("M", "rows"), REQUIRED("N", "columns (the softmax axis)") } },
    { .name = "pad", .summary = "zero padding of H and W (of the only dimension for size=)",
      .build = build_pad,
      .keys = { SHAPE_KEYS, COUNT("pad", 1, "padding on each side") },
      /* Its padding condition varies across the lanes and guards a load: the vector
       * code reads through masked loads. */
      .schedules = { "vectorized" } },
};
/* clang-format on */

int tool_num_ops(void)
{
    return (int)(sizeof ops / sizeof ops[0]);
}

const ToolOp *tool_op(int i)
{
    return i >= 0 && i < tool_num_ops() ? &ops[i] : NULL;
}

const ToolOp *tool_find_op(const char *name)
{
    for (int i = 0; i < tool_num_ops(); i++)
        if (strcmp(ops[i].name, name) == 0)
            return &ops[i];
    return NULL;
}
