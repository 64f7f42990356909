/* The graph printer: one line a value or node, in topological order, with each tensor's
 * dtype and shape (`?` for an extent not known yet, `[..]` for an unknown rank). What
 * `tessera graph` prints, and what golden tests of the passes will compare.
 *
 *   graph "main" (opset 13, from model.onnx)
 *     input  %x : float32[1, 3, 8, 8]
 *     const  %w : float32[4, 3, 3, 3]
 *     %y : float32[1, 4, 8, 8] = Conv "conv1" (%x, %w) {pads=[1, 1, 1, 1]}
 *     output %y
 *     group 0 anchored "conv1": conv1 (%x, %w -> %y)          (after pass fuse)
 *     memory plan: arena 0 bytes, naive 0 bytes, 0 buffers    (after pass memory_plan)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "relay_lite/rly_internal.h"

static void print_type(FILE *out, const RlyValue *value)
{
    char buf[TS_DTYPE_STR_MAX];
    fputs(value->has_dtype ? ts_dtype_str(value->dtype, buf) : "?", out);
    if (value->ndim < 0) {
        fputs("[..]", out);
        return;
    }
    fputc('[', out);
    for (int d = 0; d < value->ndim; d++) {
        if (d)
            fputs(", ", out);
        if (value->dims[d] < 0)
            fputc('?', out);
        else
            fprintf(out, "%" PRId64, value->dims[d]);
    }
    fputc(']', out);
}

static void print_const_type(FILE *out, const RlyConst *c)
{
    char buf[TS_DTYPE_STR_MAX];
    fprintf(out, "<%s[", ts_dtype_str(c->dtype, buf));
    for (int d = 0; d < c->ndim; d++)
        fprintf(out, "%s%" PRId64, d ? ", " : "", c->shape[d]);
    fputs("]>", out);
}

static void print_attr(FILE *out, const RlyAttr *attr)
{
    fprintf(out, "%s=", attr->name);
    switch (attr->kind) {
    case RLY_ATTR_INT: fprintf(out, "%" PRId64, attr->i); break;
    case RLY_ATTR_FLOAT: fprintf(out, "%g", attr->f); break;
    case RLY_ATTR_STRING: fprintf(out, "\"%s\"", attr->s); break;
    case RLY_ATTR_INTS:
        fputc('[', out);
        for (int k = 0; k < attr->num_values; k++)
            fprintf(out, "%s%" PRId64, k ? ", " : "", attr->ints[k]);
        fputc(']', out);
        break;
    case RLY_ATTR_FLOATS:
        fputc('[', out);
        for (int k = 0; k < attr->num_values; k++)
            fprintf(out, "%s%g", k ? ", " : "", attr->floats[k]);
        fputc(']', out);
        break;
    case RLY_ATTR_TENSOR: print_const_type(out, attr->tensor); break;
    }
}

static void print_node(FILE *out, const RlyNode *node)
{
    fputs("  ", out);
    int printed = 0;
    for (int k = 0; k < node->num_outputs; k++) {
        if (!node->outputs[k])
            continue;
        fprintf(out, "%s%%%s : ", printed++ ? ", " : "", node->outputs[k]->name);
        print_type(out, node->outputs[k]);
    }
    fprintf(out, " = %s", node->op_type);
    if (node->name[0])
        fprintf(out, " \"%s\"", node->name);
    fputs(" (", out);
    for (int k = 0; k < node->num_inputs; k++)
        fprintf(out, "%s%s%s", k ? ", " : "", node->inputs[k] ? "%" : "",
                node->inputs[k] ? node->inputs[k]->name : "_");
    fputc(')', out);
    for (int k = 0; k < node->num_attrs; k++) {
        fputs(k ? ", " : " {", out);
        print_attr(out, &node->attrs[k]);
    }
    fputs(node->num_attrs ? "}\n" : "\n", out);
}

static const char *group_kind_name(RlyGroupKind kind)
{
    switch (kind) {
    case RLY_GROUP_ANCHORED: return "anchored";
    case RLY_GROUP_INJECTIVE: return "injective";
    case RLY_GROUP_OPAQUE: return "opaque";
    }
    return "?";
}

static void print_values(FILE *out, RlyValue *const *values, int count)
{
    for (int k = 0; k < count; k++)
        fprintf(out, "%s%%%s", k ? ", " : "", values[k]->name);
}

/* `group 0 anchored "conv1": conv1, relu1 (%x, %w -> %r)`, after fusion. */
static void print_group(FILE *out, const RlyGroup *group)
{
    fprintf(out, "  group %d %s", group->id, group_kind_name(group->kind));
    if (group->anchor)
        fprintf(out, " \"%s\"", group->anchor->label);
    fputs(":", out);
    for (int k = 0; k < group->num_nodes; k++)
        fprintf(out, "%s%s", k ? ", " : " ", group->nodes[k]->label);
    fputs(" (", out);
    print_values(out, group->inputs, group->num_inputs);
    fputs(" -> ", out);
    print_values(out, group->outputs, group->num_outputs);
    fputs(")\n", out);
}

/* The arena's size, the naive size and each buffer, after memory planning. */
static void print_plan(FILE *out, const RlyMemPlan *plan)
{
    fprintf(out, "  memory plan: arena %" PRId64 " bytes, naive %" PRId64 " bytes, %d buffers\n",
            plan->arena_bytes, plan->naive_bytes, plan->num_buffers);
    for (int k = 0; k < plan->num_buffers; k++) {
        const RlyBufferPlan *b = &plan->buffers[k];
        fprintf(out, "    %%%s : %" PRId64 " bytes at offset %" PRId64 " (groups %d..%d)\n",
                b->value->name, b->bytes, b->offset, b->first_group, b->last_group);
    }
}

const char *ts_graph_str(TsArena *arena, const TsGraph *graph)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    if (!out) {
        ts_arena_fail(arena, TS_ENOMEM, "printing graph \"%s\": out of memory", graph->name);
        return NULL;
    }
    fprintf(out, "graph \"%s\" (opset %" PRId64 ", from %s)\n", graph->name, graph->opset,
            graph->source);
    for (int k = 0; k < graph->num_notes; k++)
        fprintf(out, "  note: %s\n", graph->notes[k]);
    for (int k = 0; k < graph->num_inputs; k++) {
        fprintf(out, "  input  %%%s : ", graph->inputs[k]->name);
        print_type(out, graph->inputs[k]);
        fputc('\n', out);
    }
    for (int k = 0; k < graph->num_initializers; k++) {
        fprintf(out, "  const  %%%s : ", graph->initializers[k]->name);
        print_type(out, graph->initializers[k]);
        fputc('\n', out);
    }
    for (int k = 0; k < graph->num_nodes; k++)
        print_node(out, graph->nodes[k]);
    for (int k = 0; k < graph->num_outputs; k++)
        fprintf(out, "  output %%%s\n", graph->outputs[k]->name);
    for (int k = 0; k < graph->num_groups; k++)
        print_group(out, graph->groups[k]);
    if (graph->plan)
        print_plan(out, graph->plan);
    bool failed = ferror(out) != 0;
    fclose(out);
    const char *copy = failed ? NULL : ts_arena_strdup(arena, text);
    free(text);
    if (!copy)
        ts_arena_fail(arena, TS_ENOMEM, "printing graph \"%s\": out of memory", graph->name);
    return copy;
}
