/* The connection handshake and its challenge-response: the accepting side sends a fresh
 * random challenge; a client proves it knows the shared token by returning
 * HMAC-SHA256(token, challenge), so the token never crosses the wire. The protocol
 * version is checked here, on every connection, for the server and the tracker alike. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <errno.h>

#include "rpc/rpc_internal.h"

TsStatus rpc_random_bytes(void *buf, size_t n, TsError *err)
{
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return ts_fail(err, TS_EIO, "rpc: cannot get random bytes: %s", strerror(errno));
        }
        p += got;
        n -= (size_t)got;
    }
    return TS_OK;
}

void rpc_proof(const char *token, const uint8_t *challenge, size_t challenge_len,
               uint8_t proof[RPC_PROOF_BYTES])
{
    unsigned int len = RPC_PROOF_BYTES;
    HMAC(EVP_sha256(), token, (int)strlen(token), challenge, challenge_len, proof, &len);
}

bool rpc_proof_ok(const char *token, const uint8_t *challenge, size_t challenge_len,
                  const uint8_t *proof, size_t proof_len)
{
    if (proof_len != RPC_PROOF_BYTES)
        return false;
    uint8_t expected[RPC_PROOF_BYTES];
    rpc_proof(token, challenge, challenge_len, expected);
    return CRYPTO_memcmp(expected, proof, RPC_PROOF_BYTES) == 0;
}

TsStatus rpc_send_status(RpcConn *conn, uint64_t id, TsStatus status, const char *message,
                         TsError *err)
{
    Tessera__Rpc__Reply reply = TESSERA__RPC__REPLY__INIT;
    reply.id = id;
    reply.status = (int32_t)status;
    reply.message = (char *)(message ? message : "");
    return rpc_send(conn, &reply.base, err);
}

TsStatus rpc_handshake_welcome(RpcConn *conn, const char *server_name, const char *device_key,
                               const char *token, uint8_t challenge[RPC_CHALLENGE_BYTES],
                               TsError *err)
{
    TsStatus st = rpc_random_bytes(challenge, RPC_CHALLENGE_BYTES, err);
    if (st != TS_OK)
        return st;
    Tessera__Rpc__Welcome welcome = TESSERA__RPC__WELCOME__INIT;
    welcome.protocol_version = TS_RPC_PROTOCOL_VERSION;
    welcome.server_name = (char *)server_name;
    welcome.device_key = (char *)(device_key ? device_key : "");
    welcome.challenge.data = challenge;
    welcome.challenge.len = RPC_CHALLENGE_BYTES;
    welcome.auth_required = token != NULL;
    return rpc_send(conn, &welcome.base, err);
}

TsStatus rpc_handshake_check_hello(RpcConn *conn, const char *server_name, const char *token,
                                   const uint8_t challenge[RPC_CHALLENGE_BYTES],
                                   const Tessera__Rpc__Request *req, TsError *err)
{
    TsError ignored;
    TsStatus st;
    if (req->body_case != TESSERA__RPC__REQUEST__BODY_HELLO) {
        st = ts_fail(err, TS_EPROTO, "%s: the first request was not a hello", conn->peer);
        rpc_send_status(conn, req->id, st, "the first request must be a hello", &ignored);
        return st;
    }
    const Tessera__Rpc__Hello *hello = req->hello;
    if (hello->protocol_version != TS_RPC_PROTOCOL_VERSION) {
        char text[160];
        snprintf(text, sizeof text, "protocol version mismatch (%s %u, client %u)", server_name,
                 TS_RPC_PROTOCOL_VERSION, hello->protocol_version);
        st = ts_fail(err, TS_EPROTO, "%s: %s", conn->peer, text);
        rpc_send_status(conn, req->id, st, text, &ignored);
        return st;
    }
    if (token && !rpc_proof_ok(token, challenge, RPC_CHALLENGE_BYTES, hello->proof.data,
                               hello->proof.len)) {
        const char *text = hello->proof.len ? "bad token" : "a token is required and none was given";
        st = ts_fail(err, TS_EINVAL, "%s: %s", conn->peer, text);
        rpc_send_status(conn, req->id, st, text, &ignored);
        return st;
    }
    return rpc_send_status(conn, req->id, TS_OK, NULL, err);
}

TsStatus rpc_handshake_accept(RpcConn *conn, const char *server_name, const char *device_key,
                              const char *token, Tessera__Rpc__Request **hello_out,
                              TsError *err)
{
    *hello_out = NULL;
    uint8_t challenge[RPC_CHALLENGE_BYTES];
    TsStatus st = rpc_handshake_welcome(conn, server_name, device_key, token, challenge, err);
    if (st != TS_OK)
        return st;
    ProtobufCMessage *msg;
    st = rpc_recv(conn, &tessera__rpc__request__descriptor, "the hello", &msg, err);
    if (st != TS_OK)
        return st;
    Tessera__Rpc__Request *req = (Tessera__Rpc__Request *)msg;
    st = rpc_handshake_check_hello(conn, server_name, token, challenge, req, err);
    if (st != TS_OK) {
        protobuf_c_message_free_unpacked(&req->base, NULL);
        return st;
    }
    *hello_out = req;
    return TS_OK;
}

TsStatus rpc_handshake_connect(RpcConn *conn, const char *token, const char *client_name,
                               const char *lease_id, Tessera__Rpc__Welcome **welcome_out,
                               TsError *err)
{
    if (welcome_out)
        *welcome_out = NULL;
    ProtobufCMessage *msg;
    TsStatus st = rpc_recv(conn, &tessera__rpc__welcome__descriptor, "the welcome", &msg, err);
    if (st != TS_OK)
        return st;
    Tessera__Rpc__Welcome *welcome = (Tessera__Rpc__Welcome *)msg;
    if (welcome->protocol_version != TS_RPC_PROTOCOL_VERSION) {
        st = ts_fail(err, TS_EPROTO, "%s: protocol version mismatch (%s %u, client %u)",
                     conn->peer, welcome->server_name, welcome->protocol_version,
                     TS_RPC_PROTOCOL_VERSION);
        goto out_free;
    }
    if (welcome->auth_required && !token) {
        st = ts_fail(err, TS_EINVAL, "%s: the server requires a token and none was given "
                     "(--token-file)", conn->peer);
        goto out_free;
    }

    uint8_t proof[RPC_PROOF_BYTES];
    Tessera__Rpc__Hello hello = TESSERA__RPC__HELLO__INIT;
    hello.protocol_version = TS_RPC_PROTOCOL_VERSION;
    hello.client_name = (char *)(client_name ? client_name : "tessera-client");
    hello.lease_id = (char *)(lease_id ? lease_id : "");
    if (token && welcome->auth_required) {
        rpc_proof(token, welcome->challenge.data, welcome->challenge.len, proof);
        hello.proof.data = proof;
        hello.proof.len = sizeof proof;
    }
    Tessera__Rpc__Request req = TESSERA__RPC__REQUEST__INIT;
    req.id = 1;
    req.body_case = TESSERA__RPC__REQUEST__BODY_HELLO;
    req.hello = &hello;
    st = rpc_send(conn, &req.base, err);
    if (st != TS_OK)
        goto out_free;

    ProtobufCMessage *reply_msg;
    st = rpc_recv(conn, &tessera__rpc__reply__descriptor, "the reply to hello", &reply_msg, err);
    if (st != TS_OK)
        goto out_free;
    Tessera__Rpc__Reply *reply = (Tessera__Rpc__Reply *)reply_msg;
    if (reply->status != TS_OK) {
        TsStatus status = reply->status > 0 && reply->status <= TS_EDEVICE ? (TsStatus)reply->status
                                                                           : TS_EPROTO;
        st = ts_fail(err, status, "%s: refused: %s", conn->peer, reply->message);
    }
    protobuf_c_message_free_unpacked(reply_msg, NULL);
    if (st != TS_OK)
        goto out_free;
    if (welcome_out)
        *welcome_out = welcome;
    else
        protobuf_c_message_free_unpacked(&welcome->base, NULL);
    return TS_OK;

out_free:
    protobuf_c_message_free_unpacked(&welcome->base, NULL);
    return st;
}
