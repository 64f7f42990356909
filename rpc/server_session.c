/* One session of the device server, in its own process (forked by server.c): the
 * handshake, then requests served in order until Shutdown, the peer closing, the idle
 * timeout or a message that cannot be read (malformed, truncated, oversized), each of
 * which ends this session only, with the reason logged. The session keeps its uploaded
 * files in its own directory (names are plain file names, so nothing leaves it), its
 * loaded modules (until the client unloads them), and its arrays in anonymous shared
 * memory (so that the forked child that runs a kernel writes where the session reads).
 * Sizes a peer announces are checked against the session's limits before anything is
 * allocated or written. */
#define _GNU_SOURCE /* MAP_ANONYMOUS */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rpc/server_internal.h"

/* ---- files ---- */

static void abandon_upload(RpcServerSession *s)
{
    if (s->upload.fd < 0)
        return;
    close(s->upload.fd);
    unlinkat(s->dir_fd, s->upload.name, 0);
    s->upload.fd = -1;
}

/* The first chunk of a file: checks the name and the announced size, then creates it. */
static TsStatus upload_begin(RpcServerSession *s, const Tessera__Rpc__Upload *up, TsError *err)
{
    abandon_upload(s);
    if (up->total_size > s->options->max_upload)
        return ts_fail(err, TS_EINVAL,
                       "upload of '%s': %llu bytes is over the server's limit of %llu bytes",
                       up->name, (unsigned long long)up->total_size,
                       (unsigned long long)s->options->max_upload);
    int fd = openat(s->dir_fd, up->name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                    0644);
    if (fd < 0)
        return ts_fail(err, TS_EIO, "upload of '%s': cannot create the file: %s", up->name,
                       strerror(errno));
    s->upload.fd = fd;
    snprintf(s->upload.name, sizeof s->upload.name, "%s", up->name);
    s->upload.total_size = up->total_size;
    s->upload.next_offset = 0;
    return TS_OK;
}

static TsStatus write_chunk(RpcServerSession *s, const Tessera__Rpc__Upload *up, TsError *err)
{
    const uint8_t *p = up->data.data;
    size_t left = up->data.len;
    while (left > 0) {
        ssize_t w = write(s->upload.fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            TsStatus st = ts_fail(err, TS_EIO, "upload of '%s': writing failed: %s", up->name,
                                  strerror(errno));
            abandon_upload(s);
            return st;
        }
        p += w;
        left -= (size_t)w;
    }
    s->upload.next_offset += up->data.len;
    if (s->upload.next_offset == s->upload.total_size) {
        close(s->upload.fd);
        s->upload.fd = -1;
    }
    return TS_OK;
}

static TsStatus do_upload(RpcServerSession *s, const Tessera__Rpc__Upload *up, TsError *err)
{
    TsStatus st = rpc_check_file_name(up->name, err);
    if (st != TS_OK)
        return st;
    if (up->offset == 0) {
        st = upload_begin(s, up, err);
        if (st != TS_OK)
            return st;
    } else if (s->upload.fd < 0 || strcmp(s->upload.name, up->name) != 0 ||
               up->offset != s->upload.next_offset || up->total_size != s->upload.total_size) {
        st = ts_fail(err, TS_EINVAL,
                     "upload of '%s': a chunk at offset %llu, but %s", up->name,
                     (unsigned long long)up->offset,
                     s->upload.fd < 0 || strcmp(s->upload.name, up->name) != 0
                         ? "that file's upload has not begun (chunks must arrive in order)"
                         : "chunks must arrive in order with the same total size");
        abandon_upload(s);
        return st;
    }
    if (up->data.len > s->upload.total_size - s->upload.next_offset) {
        st = ts_fail(err, TS_EINVAL, "upload of '%s': the chunk at offset %llu runs past the "
                     "announced %llu bytes", up->name, (unsigned long long)up->offset,
                     (unsigned long long)s->upload.total_size);
        abandon_upload(s);
        return st;
    }
    return write_chunk(s, up, err);
}

static TsStatus do_remove(RpcServerSession *s, const char *name, TsError *err)
{
    TsStatus st = rpc_check_file_name(name, err);
    if (st != TS_OK)
        return st;
    if (s->upload.fd >= 0 && strcmp(s->upload.name, name) == 0)
        abandon_upload(s);
    else if (unlinkat(s->dir_fd, name, 0) != 0)
        return ts_fail(err, errno == ENOENT ? TS_EINVAL : TS_EIO, "remove '%s': %s", name,
                       errno == ENOENT ? "no such file in the session" : strerror(errno));
    return TS_OK;
}

/* ---- modules ---- */

static TsStatus grow(void **items, size_t *cap, size_t item_size, TsError *err)
{
    size_t new_cap = *cap ? *cap * 2 : 8;
    void *grown = realloc(*items, new_cap * item_size);
    if (!grown)
        return ts_fail(err, TS_ENOMEM, "out of memory for the session's tables");
    memset((char *)grown + *cap * item_size, 0, (new_cap - *cap) * item_size);
    *items = grown;
    *cap = new_cap;
    return TS_OK;
}

static TsStatus fill_funcs(const TsModule *module, Tessera__Rpc__FuncInfo ***out, size_t *n,
                           TsError *err)
{
    int count = ts_module_num_funcs(module);
    *n = 0;
    *out = calloc((size_t)count + 1, sizeof **out + sizeof(Tessera__Rpc__FuncInfo));
    if (!*out)
        return ts_fail(err, TS_ENOMEM, "out of memory listing %d functions", count);
    Tessera__Rpc__FuncInfo *infos = (Tessera__Rpc__FuncInfo *)(*out + count + 1);
    for (int i = 0; i < count; i++) {
        const TsFuncEntry *entry = ts_module_func(module, i);
        tessera__rpc__func_info__init(&infos[i]);
        infos[i].name = (char *)entry->name;
        infos[i].num_args = entry->num_args;
        infos[i].signature = (char *)(entry->signature ? entry->signature : "");
        (*out)[i] = &infos[i];
    }
    *n = (size_t)count;
    return TS_OK;
}

static TsStatus do_load_module(RpcServerSession *s, const char *name, uint64_t *handle,
                               TsError *err)
{
    TsStatus st = rpc_check_file_name(name, err);
    if (st != TS_OK)
        return st;
    struct stat sb;
    if (fstatat(s->dir_fd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode))
        return ts_fail(err, TS_EINVAL, "load '%s': no such file in the session (upload it first)",
                       name);
    if (s->upload.fd >= 0 && strcmp(s->upload.name, name) == 0)
        return ts_fail(err, TS_EINVAL, "load '%s': its upload is not complete", name);
    char path[sizeof s->dir + RPC_MAX_FILE_NAME + 2];
    snprintf(path, sizeof path, "%s/%s", s->dir, name);
    st = rpc_exec_probe_load(s, path, name, err);
    if (st != TS_OK)
        return st;
    size_t slot = 0;
    while (slot < s->num_modules && s->modules[slot].module)
        slot++;
    if (slot == s->cap_modules) {
        st = grow((void **)&s->modules, &s->cap_modules, sizeof *s->modules, err);
        if (st != TS_OK)
            return st;
    }
    st = ts_module_load(path, &s->modules[slot].module, err);
    if (st != TS_OK)
        return st;
    snprintf(s->modules[slot].name, sizeof s->modules[slot].name, "%s", name);
    if (slot == s->num_modules)
        s->num_modules++;
    *handle = slot + 1;
    return TS_OK;
}

TsModule *rpc_find_module(RpcServerSession *s, uint64_t handle)
{
    if (handle == 0 || handle > s->num_modules)
        return NULL;
    return s->modules[handle - 1].module;
}

/* Closes the module behind handle; its slot is reused by a later load. */
static TsStatus do_unload_module(RpcServerSession *s, uint64_t handle, TsError *err)
{
    TsModule *module = rpc_find_module(s, handle);
    if (!module)
        return ts_fail(err, TS_EINVAL, "unload_module: no module %llu in this session",
                       (unsigned long long)handle);
    ts_module_release(module);
    s->modules[handle - 1].module = NULL;
    s->modules[handle - 1].name[0] = '\0';
    return TS_OK;
}

/* ---- arrays ---- */

static TsStatus do_alloc(RpcServerSession *s, const Tessera__Rpc__AllocArray *req,
                         uint64_t *handle, TsError *err)
{
    TsDType dtype;
    uint64_t nbytes = 0;
    TsStatus st = rpc_check_array_shape(req, &dtype, &nbytes, err);
    if (st != TS_OK)
        return st;
    if (nbytes > s->options->max_memory - s->memory_used || nbytes > SIZE_MAX / 2)
        return ts_fail(err, TS_ENOMEM, "alloc: %llu bytes would pass the session's limit of "
                       "%llu bytes (%llu in use)", (unsigned long long)nbytes,
                       (unsigned long long)s->options->max_memory,
                       (unsigned long long)s->memory_used);
    size_t slot = 0;
    while (slot < s->num_arrays && s->arrays[slot].live)
        slot++;
    if (slot == s->cap_arrays) {
        st = grow((void **)&s->arrays, &s->cap_arrays, sizeof *s->arrays, err);
        if (st != TS_OK)
            return st;
    }
    size_t mapped = nbytes ? (size_t)nbytes : 1;
    void *data = mmap(NULL, mapped, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (data == MAP_FAILED)
        return ts_fail(err, TS_ENOMEM, "alloc: cannot map %llu bytes: %s",
                       (unsigned long long)nbytes, strerror(errno));
    RpcArray *a = &s->arrays[slot];
    *a = (RpcArray){ .live = true, .data = data, .nbytes = (size_t)nbytes, .mapped = mapped,
                     .ndim = (int32_t)req->n_shape, .dtype = dtype };
    if (req->n_shape)
        memcpy(a->shape, req->shape, req->n_shape * sizeof a->shape[0]);
    s->memory_used += nbytes;
    if (slot == s->num_arrays)
        s->num_arrays++;
    *handle = slot + 1;
    return TS_OK;
}

static RpcArray *find_array(RpcServerSession *s, uint64_t handle, const char *what,
                            TsError *err)
{
    if (handle == 0 || handle > s->num_arrays || !s->arrays[handle - 1].live) {
        ts_fail(err, TS_EINVAL, "%s: no array %llu in this session", what,
                (unsigned long long)handle);
        return NULL;
    }
    return &s->arrays[handle - 1];
}

static void release_array(RpcServerSession *s, RpcArray *a)
{
    munmap(a->data, a->mapped);
    s->memory_used -= a->nbytes;
    a->live = false;
}

static TsStatus do_copy_to(RpcServerSession *s, const Tessera__Rpc__CopyTo *req, TsError *err)
{
    RpcArray *a = find_array(s, req->array, "copy_to", err);
    if (!a)
        return err->status;
    if (req->data.len != a->nbytes)
        return ts_fail(err, TS_EINVAL, "copy_to array %llu: %zu bytes given, the array has %zu",
                       (unsigned long long)req->array, req->data.len, a->nbytes);
    if (a->nbytes)
        memcpy(a->data, req->data.data, a->nbytes);
    return TS_OK;
}

/* ---- the request loop ---- */

/* The bodies a reply may point to, freed after it is sent. */
typedef struct ReplyParts {
    Tessera__Rpc__LoadModuleReply load_module;
    Tessera__Rpc__ListFuncsReply list_funcs;
    Tessera__Rpc__AllocArrayReply alloc_array;
    Tessera__Rpc__CopyFromReply copy_from;
    Tessera__Rpc__TimeFuncReply time_func;
    Tessera__Rpc__DeviceInfoReply device_info;
    Tessera__Rpc__FuncInfo **funcs;
    double *costs;
    bool has_device_info;
    RpcGraphReply graph;
} ReplyParts;

static void free_parts(ReplyParts *parts)
{
    rpc_graph_reply_free(&parts->graph);
    free(parts->funcs);
    free(parts->costs);
    if (parts->has_device_info)
        rpc_device_info_free(&parts->device_info);
}

static TsStatus reply_load(RpcServerSession *s, const char *name, Tessera__Rpc__Reply *reply,
                           ReplyParts *parts, TsError *err)
{
    uint64_t handle = 0;
    TsStatus st = do_load_module(s, name, &handle, err);
    if (st != TS_OK)
        return st;
    tessera__rpc__load_module_reply__init(&parts->load_module);
    parts->load_module.module = handle;
    st = fill_funcs(rpc_find_module(s, handle), &parts->funcs, &parts->load_module.n_funcs, err);
    parts->load_module.funcs = parts->funcs;
    reply->body_case = TESSERA__RPC__REPLY__BODY_LOAD_MODULE;
    reply->load_module = &parts->load_module;
    return st;
}

static TsStatus reply_list(RpcServerSession *s, uint64_t handle, Tessera__Rpc__Reply *reply,
                           ReplyParts *parts, TsError *err)
{
    TsModule *module = rpc_find_module(s, handle);
    if (!module)
        return ts_fail(err, TS_EINVAL, "list_funcs: no module %llu in this session",
                       (unsigned long long)handle);
    tessera__rpc__list_funcs_reply__init(&parts->list_funcs);
    TsStatus st = fill_funcs(module, &parts->funcs, &parts->list_funcs.n_funcs, err);
    parts->list_funcs.funcs = parts->funcs;
    reply->body_case = TESSERA__RPC__REPLY__BODY_LIST_FUNCS;
    reply->list_funcs = &parts->list_funcs;
    return st;
}

static TsStatus reply_alloc(RpcServerSession *s, const Tessera__Rpc__AllocArray *req,
                            Tessera__Rpc__Reply *reply, ReplyParts *parts, TsError *err)
{
    tessera__rpc__alloc_array_reply__init(&parts->alloc_array);
    TsStatus st = do_alloc(s, req, &parts->alloc_array.array, err);
    reply->body_case = TESSERA__RPC__REPLY__BODY_ALLOC_ARRAY;
    reply->alloc_array = &parts->alloc_array;
    return st;
}

static TsStatus reply_copy_from(RpcServerSession *s, uint64_t handle, Tessera__Rpc__Reply *reply,
                                ReplyParts *parts, TsError *err)
{
    RpcArray *a = find_array(s, handle, "copy_from", err);
    if (!a)
        return err->status;
    tessera__rpc__copy_from_reply__init(&parts->copy_from);
    parts->copy_from.data.data = a->data;
    parts->copy_from.data.len = a->nbytes;
    reply->body_case = TESSERA__RPC__REPLY__BODY_COPY_FROM;
    reply->copy_from = &parts->copy_from;
    return TS_OK;
}

static TsStatus reply_time(RpcServerSession *s, const Tessera__Rpc__TimeFunc *req,
                           Tessera__Rpc__Reply *reply, ReplyParts *parts, TsError *err)
{
    if (!req->call)
        return ts_fail(err, TS_EINVAL, "time: the request names no call");
    if (req->repeat < 1 || req->repeat > RPC_MAX_REPEAT)
        return ts_fail(err, TS_EINVAL, "time %s: repeat %d is not in [1, %d]", req->call->func,
                       (int)req->repeat, RPC_MAX_REPEAT);
    parts->costs = calloc((size_t)req->repeat, sizeof *parts->costs);
    if (!parts->costs)
        return ts_fail(err, TS_ENOMEM, "time %s: no memory for %d costs", req->call->func,
                       (int)req->repeat);
    TsStatus st = rpc_exec_call(s, req->call, req, parts->costs, err);
    if (st != TS_OK)
        return st;
    tessera__rpc__time_func_reply__init(&parts->time_func);
    parts->time_func.costs = parts->costs;
    parts->time_func.n_costs = (size_t)req->repeat;
    reply->body_case = TESSERA__RPC__REPLY__BODY_TIME_FUNC;
    reply->time_func = &parts->time_func;
    return TS_OK;
}

static TsStatus reply_device_info(RpcServerSession *s, Tessera__Rpc__Reply *reply,
                                  ReplyParts *parts, TsError *err)
{
    TsStatus st = rpc_device_info(s->options->key, &parts->device_info, err);
    if (st != TS_OK)
        return st;
    parts->has_device_info = true;
    reply->body_case = TESSERA__RPC__REPLY__BODY_DEVICE_INFO;
    reply->device_info = &parts->device_info;
    return TS_OK;
}

static TsStatus reply_graph(RpcServerSession *s, const Tessera__Rpc__RunGraph *req,
                            Tessera__Rpc__Reply *reply, ReplyParts *parts, TsError *err)
{
    TsStatus st = rpc_exec_graph(s, req, &parts->graph, err);
    if (st != TS_OK)
        return st;
    reply->body_case = TESSERA__RPC__REPLY__BODY_RUN_GRAPH;
    reply->run_graph = &parts->graph.reply;
    return TS_OK;
}

static TsStatus dispatch_more(RpcServerSession *s, const Tessera__Rpc__Request *req,
                              Tessera__Rpc__Reply *reply, ReplyParts *parts, TsError *err)
{
    switch (req->body_case) {
    case TESSERA__RPC__REQUEST__BODY_COPY_FROM:
        return reply_copy_from(s, req->copy_from->array, reply, parts, err);
    case TESSERA__RPC__REQUEST__BODY_CALL:
        return rpc_exec_call(s, req->call, NULL, NULL, err);
    case TESSERA__RPC__REQUEST__BODY_TIME_FUNC:
        return reply_time(s, req->time_func, reply, parts, err);
    case TESSERA__RPC__REQUEST__BODY_DEVICE_INFO:
        return reply_device_info(s, reply, parts, err);
    case TESSERA__RPC__REQUEST__BODY_RUN_GRAPH:
        return reply_graph(s, req->run_graph, reply, parts, err);
    case TESSERA__RPC__REQUEST__BODY_UNLOAD_MODULE:
        return do_unload_module(s, req->unload_module->module, err);
    case TESSERA__RPC__REQUEST__BODY_SHUTDOWN:
        return TS_OK;
    case TESSERA__RPC__REQUEST__BODY_HELLO:
        return ts_fail(err, TS_EINVAL, "hello: the session has already shaken hands");
    case TESSERA__RPC__REQUEST__BODY_REGISTER:
    case TESSERA__RPC__REQUEST__BODY_HEARTBEAT:
    case TESSERA__RPC__REQUEST__BODY_REQUEST_DEVICE:
    case TESSERA__RPC__REQUEST__BODY_RELEASE_DEVICE:
    case TESSERA__RPC__REQUEST__BODY_TRACKER_STATUS:
        return ts_fail(err, TS_EINVAL, "request kind %d is for a tracker, and this is a device "
                       "server", (int)req->body_case);
    default:
        return ts_fail(err, TS_EINVAL, "unknown request kind %d", (int)req->body_case);
    }
}

/* Serves one request; the reply's body (if any) points into parts. */
static TsStatus dispatch(RpcServerSession *s, const Tessera__Rpc__Request *req,
                         Tessera__Rpc__Reply *reply, ReplyParts *parts, TsError *err)
{
    switch (req->body_case) {
    case TESSERA__RPC__REQUEST__BODY_UPLOAD:
        return do_upload(s, req->upload, err);
    case TESSERA__RPC__REQUEST__BODY_REMOVE:
        return do_remove(s, req->remove->name, err);
    case TESSERA__RPC__REQUEST__BODY_LOAD_MODULE:
        return reply_load(s, req->load_module->name, reply, parts, err);
    case TESSERA__RPC__REQUEST__BODY_LIST_FUNCS:
        return reply_list(s, req->list_funcs->module, reply, parts, err);
    case TESSERA__RPC__REQUEST__BODY_ALLOC_ARRAY:
        return reply_alloc(s, req->alloc_array, reply, parts, err);
    case TESSERA__RPC__REQUEST__BODY_FREE_ARRAY: {
        RpcArray *a = find_array(s, req->free_array->array, "free", err);
        if (a)
            release_array(s, a);
        return a ? TS_OK : err->status;
    }
    case TESSERA__RPC__REQUEST__BODY_COPY_TO:
        return do_copy_to(s, req->copy_to, err);
    default:
        return dispatch_more(s, req, reply, parts, err);
    }
}

/* Serves one request and sends its reply. Returns false when the session must end
 * (shutdown, or the reply could not be sent). */
static bool serve_request(RpcServerSession *s, const Tessera__Rpc__Request *req)
{
    Tessera__Rpc__Reply reply = TESSERA__RPC__REPLY__INIT;
    ReplyParts parts = { 0 };
    TsError err;
    ts_error_clear(&err);
    TsStatus st = dispatch(s, req, &reply, &parts, &err);
    reply.id = req->id;
    reply.status = (int32_t)st;
    if (st != TS_OK) {
        reply.message = err.message;
        reply.body_case = TESSERA__RPC__REPLY__BODY__NOT_SET;
    }
    TsError send_err;
    TsStatus sent = rpc_send(&s->conn, &reply.base, &send_err);
    free_parts(&parts);
    if (sent != TS_OK) {
        rpc_server_log(s->options, "session %d ended: %s", s->number, send_err.message);
        return false;
    }
    return req->body_case != TESSERA__RPC__REQUEST__BODY_SHUTDOWN;
}

/* Waits for the next request (the idle timeout applies) and reads it. Returns false when
 * the session ends, with the reason logged and *failed set when it was not a clean end. */
static bool next_request(RpcServerSession *s, Tessera__Rpc__Request **req, bool *failed)
{
    double idle = s->options->session_timeout_s > 0 ? s->options->session_timeout_s : -1.0;
    int ready = rpc_wait_readable(s->conn.fd, idle);
    if (ready == 0) {
        rpc_server_log(s->options, "session %d ended: idle for %g s", s->number, idle);
        return false;
    }
    ProtobufCMessage *msg;
    TsError err;
    TsStatus st = rpc_recv(&s->conn, &tessera__rpc__request__descriptor, "a request", &msg, &err);
    if (st != TS_OK) {
        bool clean = st == TS_EIO && strstr(err.message, "closed by the peer") &&
                     !strstr(err.message, "cut short");
        if (!clean)
            *failed = true;
        rpc_server_log(s->options, "session %d ended: %s", s->number,
                       clean ? "the client closed the connection" : err.message);
        return false;
    }
    *req = (Tessera__Rpc__Request *)msg;
    return true;
}

static void session_free(RpcServerSession *s)
{
    abandon_upload(s);
    for (size_t i = 0; i < s->num_arrays; i++)
        if (s->arrays[i].live)
            release_array(s, &s->arrays[i]);
    free(s->arrays);
    for (size_t i = 0; i < s->num_modules; i++)
        ts_module_release(s->modules[i].module);
    free(s->modules);
    if (s->dir_fd >= 0)
        close(s->dir_fd);
    rpc_conn_close(&s->conn);
}

static int handshake(RpcServerSession *s)
{
    Tessera__Rpc__Request *hello;
    TsError err;
    TsStatus st = rpc_handshake_accept(&s->conn, "tessera-rpc-server", s->options->key,
                                       s->options->token, &hello, &err);
    if (st != TS_OK) {
        rpc_server_log(s->options, "session %d refused: %s", s->number, err.message);
        return 1;
    }
    rpc_server_log(s->options, "session %d: hello from %s", s->number,
                   *hello->hello->client_name ? hello->hello->client_name : "a client");
    protobuf_c_message_free_unpacked(&hello->base, NULL);
    return 0;
}

int rpc_serve_session(const TsRpcServerOptions *options, int number, int fd, const char *peer,
                      const char *dir)
{
    pid_t server_pid = getppid();
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != server_pid)
        _exit(1); /* the server died before the line above */
    RpcServerSession s = { .options = options, .number = number, .upload.fd = -1 };
    char conn_peer[128];
    snprintf(conn_peer, sizeof conn_peer, "client %s", peer);
    rpc_conn_init(&s.conn, fd, conn_peer, RPC_IO_TIMEOUT_S, options->max_message);
    snprintf(s.dir, sizeof s.dir, "%s", dir);
    s.dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int code = 1;
    if (s.dir_fd < 0) {
        rpc_server_log(options, "session %d (%s) ended: cannot open %s: %s", number, peer, dir,
                       strerror(errno));
        goto out_free;
    }
    code = handshake(&s);
    bool failed = false;
    Tessera__Rpc__Request *req;
    while (code == 0 && next_request(&s, &req, &failed)) {
        bool more = serve_request(&s, req);
        protobuf_c_message_free_unpacked(&req->base, NULL);
        if (!more)
            break;
    }
    if (failed)
        code = 1;

out_free:
    session_free(&s);
    return code;
}
