/* The client's RunGraph (ts_rpc_run_graph): a whole model's module, loaded on the device,
 * described or run there by the device's graph executor (rpc/server_graph.c). The reply
 * is checked before it is trusted: counts, dtypes, shapes, and each output's size
 * against its shape, so that a broken or hostile server is TS_EPROTO naming it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/rpc_internal.h"

/* A tensor of the reply as the public struct. */
static TsStatus read_tensor(const TsRpcSession *s, const Tessera__Rpc__GraphTensor *t,
                            TsRpcGraphTensor *out, TsError *err)
{
    memset(out, 0, sizeof *out);
    if (!t || !t->name || !t->dtype || t->n_shape > TS_RPC_GRAPH_MAX_DIMS)
        return ts_fail(err, TS_EPROTO, "%s: run_graph: a malformed tensor description", s->peer);
    snprintf(out->name, sizeof out->name, "%s", t->name);
    out->dtype = ts_dtype((TsTypeCode)t->dtype->code, (int)t->dtype->bits, (int)t->dtype->lanes);
    if (!ts_dtype_is_valid(out->dtype) || t->dtype->code > 255 || t->dtype->bits > 255 ||
        t->dtype->lanes != 1)
        return ts_fail(err, TS_EPROTO, "%s: run_graph: tensor %s has a bad dtype", s->peer,
                       out->name);
    out->ndim = (int)t->n_shape;
    size_t elements = 1;
    for (int d = 0; d < out->ndim; d++) {
        if (t->shape[d] < 0 || t->shape[d] > ((int64_t)1 << 40))
            return ts_fail(err, TS_EPROTO, "%s: run_graph: tensor %s has a bad shape", s->peer,
                           out->name);
        out->shape[d] = t->shape[d];
        elements *= (size_t)t->shape[d];
    }
    out->nbytes = elements * ts_dtype_bytes(out->dtype);
    return TS_OK;
}

static TsStatus read_reply(const TsRpcSession *s, const Tessera__Rpc__RunGraphReply *r,
                           bool ran, int repeat, TsRpcGraphResult *out, TsError *err)
{
    out->num_inputs = (int)r->n_inputs;
    out->num_outputs = (int)r->n_outputs;
    if (r->n_inputs > TS_RPC_GRAPH_MAX_TENSORS || r->n_outputs > TS_RPC_GRAPH_MAX_TENSORS ||
        (ran && (r->n_output_data != r->n_outputs || r->n_costs != (size_t)repeat)))
        return ts_fail(err, TS_EPROTO, "%s: run_graph: a reply of %zu inputs, %zu outputs, %zu "
                       "output data and %zu costs", s->peer, r->n_inputs, r->n_outputs,
                       r->n_output_data, r->n_costs);
    TsStatus st = TS_OK;
    for (size_t i = 0; st == TS_OK && i < r->n_inputs; i++)
        st = read_tensor(s, r->inputs[i], &out->inputs[i], err);
    for (size_t o = 0; st == TS_OK && o < r->n_outputs; o++) {
        st = read_tensor(s, r->outputs[o], &out->outputs[o], err);
        if (st != TS_OK || !ran)
            continue;
        if (r->output_data[o].len != out->outputs[o].nbytes)
            return ts_fail(err, TS_EPROTO, "%s: run_graph: output %s came with %zu bytes, not "
                           "%zu", s->peer, out->outputs[o].name, r->output_data[o].len,
                           out->outputs[o].nbytes);
        out->outputs[o].data = malloc(out->outputs[o].nbytes ? out->outputs[o].nbytes : 1);
        if (!out->outputs[o].data)
            return ts_fail(err, TS_ENOMEM, "run_graph: out of memory");
        memcpy(out->outputs[o].data, r->output_data[o].data, out->outputs[o].nbytes);
    }
    out->num_costs = ran ? repeat : 0;
    for (int k = 0; st == TS_OK && k < out->num_costs; k++)
        out->costs[k] = r->costs[k];
    return st;
}

TsStatus ts_rpc_run_graph(TsRpcSession *session, TsRpcModule module, int num_inputs,
                          const void *const *inputs, const size_t *sizes,
                          const TsTimeOptions *time, TsRpcGraphResult *out, TsError *err)
{
    if (!session || !out || num_inputs < 0 || num_inputs > TS_RPC_GRAPH_MAX_TENSORS ||
        (num_inputs && (!inputs || !sizes)) ||
        (time && (time->repeat < 0 || time->repeat > TS_RPC_GRAPH_MAX_COSTS)))
        return ts_fail(err, TS_EINVAL, "rpc run_graph: bad arguments");
    memset(out, 0, sizeof *out);
    ProtobufCBinaryData data[TS_RPC_GRAPH_MAX_TENSORS];
    for (int i = 0; i < num_inputs; i++)
        data[i] = (ProtobufCBinaryData){ sizes[i], (uint8_t *)inputs[i] };
    Tessera__Rpc__RunGraph run = TESSERA__RPC__RUN_GRAPH__INIT;
    run.module = module;
    run.n_inputs = (size_t)num_inputs;
    run.inputs = data;
    int repeat = num_inputs && time ? time->repeat : 0;
    if (time) {
        run.number = time->number;
        run.repeat = repeat;
        run.min_repeat_ms = time->min_repeat_ms;
    }
    Tessera__Rpc__Request req = TESSERA__RPC__REQUEST__INIT;
    req.body_case = TESSERA__RPC__REQUEST__BODY_RUN_GRAPH;
    req.run_graph = &run;
    Tessera__Rpc__Reply *reply = NULL;
    TsStatus st = rpc_session_request(session, &req, "run_graph", 0, &reply, err);
    if (st == TS_OK && reply->body_case != TESSERA__RPC__REPLY__BODY_RUN_GRAPH)
        st = ts_fail(err, TS_EPROTO, "%s: run_graph: the reply lacks its body", session->peer);
    if (st == TS_OK)
        st = read_reply(session, reply->run_graph, num_inputs > 0, repeat, out, err);
    if (reply)
        protobuf_c_message_free_unpacked(&reply->base, NULL);
    if (st != TS_OK)
        ts_rpc_graph_result_free(out);
    return st;
}

void ts_rpc_graph_result_free(TsRpcGraphResult *result)
{
    if (!result)
        return;
    for (int o = 0; o < result->num_outputs && o < TS_RPC_GRAPH_MAX_TENSORS; o++)
        free(result->outputs[o].data);
    memset(result, 0, sizeof *result);
}
