/* Lowering of Resize (opsets 10 to 21) and Upsample (7 to 9): nearest with every
 * nearest_mode, linear with every coordinate_transformation_mode the importer accepts,
 * scales or sizes. Part of node lowering (lower_node.c).
 *
 * Resize-10 and Upsample have no transformation or rounding attributes; they are
 * asymmetric (x / scale), and nearest takes the floor of the coordinate when enlarging
 * and its ceiling when shrinking, as ONNX Runtime's kernel for those opsets does. */
#include <string.h>

#include "relay_lite/lower_rules.h"

static bool word_is(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

/* The attributes of Resize from opset 11 on. */
static TsStatus read_modes(RlyLower *l, TsResizeAttrs *attrs)
{
    const char *coord = "half_pixel", *nearest = "round_prefer_floor";
    int64_t exclude_outside = 0;
    TsStatus status = rly_attr_string(l->graph, l->node, "coordinate_transformation_mode",
                                      "half_pixel", &coord, l->err);
    if (status == TS_OK)
        status = rly_attr_string(l->graph, l->node, "nearest_mode", "round_prefer_floor", &nearest,
                                 l->err);
    if (status == TS_OK)
        status = rly_attr_int(l->graph, l->node, "exclude_outside", 0, &exclude_outside, l->err);
    if (status != TS_OK)
        return status;
    /* With linear taps, excluding the outside and renormalizing gives the edge value,
     * which clamping gives too; with nearest it would leave no weight. */
    if (exclude_outside && attrs->mode == TS_RESIZE_NEAREST)
        return rly_lower_fail(l, "attribute exclude_outside = 1 is not supported with mode "
                                 "nearest");
    if (word_is(coord, "half_pixel"))
        attrs->coord = TS_RESIZE_HALF_PIXEL;
    else if (word_is(coord, "half_pixel_symmetric"))
        attrs->coord = TS_RESIZE_HALF_PIXEL_SYMMETRIC;
    else if (word_is(coord, "pytorch_half_pixel"))
        attrs->coord = TS_RESIZE_PYTORCH_HALF_PIXEL;
    else if (word_is(coord, "align_corners"))
        attrs->coord = TS_RESIZE_ALIGN_CORNERS;
    else if (word_is(coord, "asymmetric"))
        attrs->coord = TS_RESIZE_ASYMMETRIC;
    else
        return rly_lower_fail(l,
                              "attribute coordinate_transformation_mode = \"%s\" is not "
                              "supported",
                              coord);
    if (word_is(nearest, "round_prefer_floor"))
        attrs->nearest = TS_RESIZE_ROUND_PREFER_FLOOR;
    else if (word_is(nearest, "round_prefer_ceil"))
        attrs->nearest = TS_RESIZE_ROUND_PREFER_CEIL;
    else if (word_is(nearest, "floor"))
        attrs->nearest = TS_RESIZE_FLOOR;
    else if (word_is(nearest, "ceil"))
        attrs->nearest = TS_RESIZE_CEIL;
    else
        return rly_lower_fail(l, "attribute nearest_mode = \"%s\" is not supported", nearest);
    return TS_OK;
}

/* The scales: an attribute (Upsample-7) or a constant input; none when empty or omitted. */
static TsStatus read_scales(RlyLower *l, bool upsample, double *scales, int *count)
{
    *count = -1;
    if (upsample && l->graph->opset < 9) {
        const RlyAttr *attr = rly_node_attr(l->node, "scales");
        if (!attr || attr->kind != RLY_ATTR_FLOATS || attr->num_values > TS_MAX_DIMS)
            return rly_lower_fail(l, "attribute scales (floats) is required");
        memcpy(scales, attr->floats, (size_t)attr->num_values * sizeof *scales);
        *count = attr->num_values;
        return TS_OK;
    }
    int k = upsample || l->graph->opset == 10 ? 1 : 2;
    const RlyValue *v = rly_input(l->node, k);
    if (v && !rly_const_floats(v, scales, TS_MAX_DIMS, count))
        return rly_lower_fail(l, "input %d (scales) \"%s\" must be a constant float list", k,
                              v->name);
    if (*count == 0)
        *count = -1;
    return TS_OK;
}

TsStatus rly_lower_resize(RlyLower *l, bool upsample)
{
    TsTensor *x = rly_lower_input(l, 0);
    const RlyValue *out = rly_output(l->node, 0);
    const char *mode = "nearest";
    double scales[TS_MAX_DIMS];
    int count = -1;
    if (!x || !out)
        return x ? TS_OK : l->err->status;
    TsStatus status = rly_attr_string(l->graph, l->node, "mode", "nearest", &mode, l->err);
    if (status != TS_OK)
        return status;
    TsResizeAttrs attrs = { .mode = TS_RESIZE_NEAREST, .coord = TS_RESIZE_ASYMMETRIC };
    if (word_is(mode, "linear"))
        attrs.mode = TS_RESIZE_LINEAR;
    else if (!word_is(mode, "nearest"))
        return rly_lower_fail(l, "attribute mode = \"%s\" is not supported", mode);
    bool legacy = upsample || l->graph->opset == 10;
    if (!legacy)
        status = read_modes(l, &attrs);
    if (status == TS_OK)
        status = read_scales(l, upsample, scales, &count);
    if (status != TS_OK)
        return status;
    int rank = ts_tensor_ndim(x);
    bool shrinks = false, grows = false;
    for (int d = 0; d < rank; d++) {
        int64_t in = ts_tensor_dim(x, d);
        attrs.out_shape[d] = out->dims[d];
        /* with sizes, ONNX takes the scale as the ratio of the extents */
        attrs.scale[d] = count >= 0 ? scales[d] : (double)out->dims[d] / (double)in;
        shrinks |= attrs.scale[d] < 1.0;
        grows |= attrs.scale[d] > 1.0;
    }
    if (legacy && attrs.mode == TS_RESIZE_NEAREST) {
        if (shrinks && grows)
            return rly_lower_fail(l, "nearest resizing that shrinks one dimension and enlarges "
                                     "another is not supported at this opset");
        attrs.nearest = shrinks ? TS_RESIZE_CEIL : TS_RESIZE_FLOOR;
    }
    return rly_lower_output(l, 0, ts_op_resize(l->arena, x, &attrs));
}
