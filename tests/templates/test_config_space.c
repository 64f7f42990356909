/* Config spaces, the template registry and template arguments: enumeration (exact
 * factor lists), flat indexing (every point of a small space round-trips), entity text,
 * and every error path with its status and a piece of its message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tessera/template.h"

static void expect_error(TsStatus status, const TsError *err, TsStatus want, const char *part)
{
    if (status != want || !strstr(err->message, part))
        fprintf(stderr, "got %s '%s', want %s with '%s'\n", ts_status_name(status), err->message,
                ts_status_name(want), part);
    assert_int_equal(status, want);
    assert_non_null(strstr(err->message, part));
}

static void ok(TsStatus status, const TsError *err)
{
    if (status != TS_OK)
        fprintf(stderr, "unexpected: %s\n", err->message);
    assert_int_equal(status, TS_OK);
}

/* The factor rows of a one-knob space, flattened. */
static int split_rows(TsConfigSpace *space, const char *name, int64_t *rows, int width)
{
    TsError err;
    int n = (int)ts_space_size(space);
    for (int i = 0; i < n; i++) {
        TsConfig c;
        int got;
        ok(ts_space_get(space, i, &c, &err), &err);
        ok(ts_config_split(&c, name, rows + i * width, width, &got, &err), &err);
        assert_int_equal(got, width);
    }
    return n;
}

static void test_factors_of_12(void **state)
{
    (void)state;
    TsError err;
    TsConfigSpace *space = ts_config_space_create();
    TsSplitOptions two = { .policy = TS_SPLIT_FACTORS, .num_outputs = 2 };
    ok(ts_space_define_split(space, "x", 12, &two, &err), &err);
    int64_t rows[64];
    static const int64_t want2[] = { 12, 1, 6, 2, 4, 3, 3, 4, 2, 6, 1, 12 };
    assert_int_equal(split_rows(space, "x", rows, 2), 6);
    assert_memory_equal(rows, want2, sizeof want2);
    ts_config_space_free(space);

    space = ts_config_space_create();
    TsSplitOptions three = { .policy = TS_SPLIT_FACTORS, .num_outputs = 3 };
    ok(ts_space_define_split(space, "y", 12, &three, &err), &err);
    /* clang-format off */
    static const int64_t want3[] = {
        12, 1, 1,  6, 1, 2,  4, 1, 3,  3, 1, 4,  2, 1, 6,  1, 1, 12,
        6, 2, 1,   3, 2, 2,  2, 2, 3,  1, 2, 6,
        4, 3, 1,   2, 3, 2,  1, 3, 4,
        3, 4, 1,   1, 4, 3,
        2, 6, 1,   1, 6, 2,
        1, 12, 1,
    };
    /* clang-format on */
    assert_int_equal(split_rows(space, "y", rows, 3), 18);
    assert_memory_equal(rows, want3, sizeof want3);
    ts_config_space_free(space);
}

static void test_max_factor_and_power2(void **state)
{
    (void)state;
    TsError err;
    int64_t rows[64];
    TsConfigSpace *space = ts_config_space_create();
    TsSplitOptions limited = { .policy = TS_SPLIT_FACTORS, .num_outputs = 2, .max_factor = 4 };
    ok(ts_space_define_split(space, "x", 12, &limited, &err), &err);
    static const int64_t want[] = { 12, 1, 6, 2, 4, 3, 3, 4 };
    assert_int_equal(split_rows(space, "x", rows, 2), 4);
    assert_memory_equal(rows, want, sizeof want);
    ts_config_space_free(space);

    /* 10 is not a power of two: the outer factor rounds up, the tail is the schedule's. */
    space = ts_config_space_create();
    TsSplitOptions p2 = { .policy = TS_SPLIT_POWER2, .num_outputs = 2 };
    ok(ts_space_define_split(space, "x", 10, &p2, &err), &err);
    static const int64_t want_p2[] = { 10, 1, 5, 2, 3, 4, 2, 8 };
    assert_int_equal(split_rows(space, "x", rows, 2), 4);
    assert_memory_equal(rows, want_p2, sizeof want_p2);
    ts_config_space_free(space);

    /* Three outputs of 6: inner products stay within the extent. */
    space = ts_config_space_create();
    TsSplitOptions p3 = { .policy = TS_SPLIT_POWER2, .num_outputs = 3, .max_factor = 2 };
    ok(ts_space_define_split(space, "x", 6, &p3, &err), &err);
    static const int64_t want_p3[] = { 6, 1, 1, 3, 1, 2, 3, 2, 1, 2, 2, 2 };
    assert_int_equal(split_rows(space, "x", rows, 3), 4);
    assert_memory_equal(rows, want_p3, sizeof want_p3);
    ts_config_space_free(space);
}

static bool inner_even(const int64_t *factors, int num_outputs, void *user)
{
    int *calls = user;
    (*calls)++;
    return factors[num_outputs - 1] % 2 == 0;
}

static void test_filter_and_candidates(void **state)
{
    (void)state;
    TsError err;
    int64_t rows[64];
    int calls = 0;
    TsConfigSpace *space = ts_config_space_create();
    TsSplitOptions even = {
        .policy = TS_SPLIT_FACTORS, .num_outputs = 2, .filter = inner_even, .filter_user = &calls
    };
    ok(ts_space_define_split(space, "x", 12, &even, &err), &err);
    static const int64_t want[] = { 6, 2, 3, 4, 2, 6, 1, 12 };
    assert_int_equal(split_rows(space, "x", rows, 2), 4);
    assert_memory_equal(rows, want, sizeof want);
    assert_int_equal(calls, 6);
    ts_config_space_free(space);

    space = ts_config_space_create();
    static const int64_t candidates[] = { -1, 3, 99, 5, -1, 16 };
    TsSplitOptions given = { .policy = TS_SPLIT_CANDIDATES,
                             .num_outputs = 2,
                             .candidates = candidates,
                             .num_candidates = 3,
                             .max_factor = 8 };
    ok(ts_space_define_split(space, "x", 10, &given, &err), &err);
    static const int64_t want_c[] = { 4, 3, 2, 5 };
    assert_int_equal(split_rows(space, "x", rows, 2), 2);
    assert_memory_equal(rows, want_c, sizeof want_c);
    ts_config_space_free(space);
}

/* A space of four kinds of knobs: 18 * 2 * 3 * 4 points. */
static TsConfigSpace *mixed_space(void)
{
    TsError err;
    TsConfigSpace *space = ts_config_space_create();
    TsSplitOptions three = { .policy = TS_SPLIT_FACTORS, .num_outputs = 3 };
    ok(ts_space_define_split(space, "tile", 12, &three, &err), &err);
    static const int orders[] = { 0, 1, 2, 2, 0, 1 };
    ok(ts_space_define_reorder(space, "order", 3, 2, orders, &err), &err);
    static const char *const words[] = { "none", "unroll", "vec" };
    ok(ts_space_define_annotate(space, "ann", 3, words, &err), &err);
    static const int64_t values[] = { 0, 4, 8, 16 };
    ok(ts_space_define_knob(space, "ku", 4, values, &err), &err);
    return space;
}

static void test_index_round_trip(void **state)
{
    (void)state;
    TsError err;
    TsConfigSpace *space = mixed_space();
    assert_int_equal(ts_space_size(space), 18 * 2 * 3 * 4);
    assert_int_equal(ts_space_num_knobs(space), 4);
    assert_string_equal(ts_space_knob_name(space, 1), "order");
    assert_int_equal(ts_space_knob_kind(space, 0), TS_KNOB_SPLIT);
    assert_int_equal(ts_space_knob_kind(space, 1), TS_KNOB_REORDER);
    assert_int_equal(ts_space_knob_kind(space, 2), TS_KNOB_ANNOTATE);
    assert_int_equal(ts_space_knob_kind(space, 3), TS_KNOB_OTHER);
    assert_int_equal(ts_space_knob_size(space, 2), 3);
    assert_null(ts_space_knob_name(space, 4));
    assert_int_equal(ts_space_knob_size(space, -1), 0);
    for (int64_t i = 0; i < ts_space_size(space); i++) {
        TsConfig c, back;
        ok(ts_space_get(space, i, &c, &err), &err);
        /* Mixed radix, the first knob fastest. */
        assert_int_equal(c.choice[0], i % 18);
        assert_int_equal(c.choice[1], (i / 18) % 2);
        assert_int_equal(c.choice[2], (i / 36) % 3);
        assert_int_equal(c.choice[3], i / 108);
        ok(ts_space_from_choices(space, c.choice, &back, &err), &err);
        assert_int_equal(back.index, i);
        assert_memory_equal(back.choice, c.choice, sizeof c.choice);
    }
    ts_config_space_free(space);
}

/* The choices may be read from the output itself (a config rebuilt in place): every
 * point still comes back with its own choices and the index that agrees with them. */
static void test_from_choices_in_place(void **state)
{
    (void)state;
    TsError err;
    TsConfigSpace *space = mixed_space();
    for (int64_t i = 0; i < ts_space_size(space); i++) {
        TsConfig c, want;
        ok(ts_space_get(space, i, &c, &err), &err);
        want = c;
        c.index = -1;
        ok(ts_space_from_choices(space, c.choice, &c, &err), &err);
        assert_int_equal(c.index, i);
        assert_memory_equal(c.choice, want.choice, sizeof c.choice);
    }
    /* A refused request leaves the output as it was. */
    TsConfig c;
    ok(ts_space_get(space, 5, &c, &err), &err);
    TsConfig before = c;
    c.choice[1] = 2;
    before.choice[1] = 2;
    expect_error(ts_space_from_choices(space, c.choice, &c, &err), &err, TS_EINVAL,
                 "knob order: choice 2 is outside [0, 2)");
    assert_memory_equal(&c, &before, sizeof c);
    ts_config_space_free(space);
}

static void test_entity_and_getters(void **state)
{
    (void)state;
    TsError err;
    TsConfigSpace *space = mixed_space();
    int64_t choice[4] = { 7, 1, 1, 2 };
    TsConfig c;
    ok(ts_space_from_choices(space, choice, &c, &err), &err);
    assert_int_equal(c.index, 7 + 18 * (1 + 2 * (1 + 3 * 2)));
    char text[512];
    ok(ts_config_entity(&c, text, sizeof text, &err), &err);
    assert_string_equal(text, "[[\"tile\",\"sp\",[-1,2,2]],[\"order\",\"re\",[2,0,1]],"
                              "[\"ann\",\"an\",\"unroll\"],[\"ku\",\"ot\",8]]");
    int64_t f[4];
    int n;
    ok(ts_config_split(&c, "tile", f, 4, &n, &err), &err);
    assert_int_equal(n, 3);
    assert_int_equal(f[0], 3);
    int order[3];
    ok(ts_config_reorder(&c, "order", order, 3, &n, &err), &err);
    assert_int_equal(order[0], 2);
    assert_int_equal(order[2], 1);
    const char *word;
    ok(ts_config_annotate(&c, "ann", &word, &err), &err);
    assert_string_equal(word, "unroll");
    int64_t v;
    ok(ts_config_knob(&c, "ku", &v, &err), &err);
    assert_int_equal(v, 8);

    expect_error(ts_config_entity(&c, text, 20, &err), &err, TS_EINVAL, "does not fit");
    expect_error(ts_config_knob(&c, "tile", &v, &err), &err, TS_EINVAL,
                 "knob tile is a split knob, not a plain knob");
    expect_error(ts_config_split(&c, "ku", f, 4, &n, &err), &err, TS_EINVAL, "knob ku is a plain");
    expect_error(ts_config_annotate(&c, "order", &word, &err), &err, TS_EINVAL, "order");
    expect_error(ts_config_reorder(&c, "ann", order, 3, &n, &err), &err, TS_EINVAL, "ann");
    expect_error(ts_config_knob(&c, "nope", &v, &err), &err, TS_EINVAL, "has no knob nope");
    expect_error(ts_config_split(&c, "tile", f, 2, &n, &err), &err, TS_EINVAL, "room for 2");
    expect_error(ts_config_reorder(&c, "order", order, 2, &n, &err), &err, TS_EINVAL, "room for 2");
    ts_config_space_free(space);
}

static void test_space_errors(void **state)
{
    (void)state;
    TsError err;
    TsConfigSpace *space = mixed_space();
    TsSplitOptions two = { .policy = TS_SPLIT_FACTORS, .num_outputs = 2 };
    expect_error(ts_space_define_split(space, "tile", 8, &two, &err), &err, TS_EINVAL,
                 "knob tile is defined twice");
    expect_error(ts_space_define_split(space, "bad\"name", 8, &two, &err), &err, TS_EINVAL,
                 "bad\"name");
    expect_error(ts_space_define_split(space, "z", 0, &two, &err), &err, TS_EINVAL,
                 "split knob z: extent 0");
    TsSplitOptions one = { .policy = TS_SPLIT_FACTORS, .num_outputs = 1 };
    expect_error(ts_space_define_split(space, "z", 8, &one, &err), &err, TS_EINVAL,
                 "num_outputs 1");
    TsSplitOptions tiny = { .policy = TS_SPLIT_POWER2,
                            .num_outputs = 2,
                            .filter = inner_even,
                            .filter_user = &(int){ 0 } };
    expect_error(ts_space_define_split(space, "z", 1, &tiny, &err), &err, TS_EINVAL,
                 "knob z has no choices");
    static const int64_t zero_row[] = { -1, 0 };
    TsSplitOptions bad_row = {
        .policy = TS_SPLIT_CANDIDATES, .num_outputs = 2, .candidates = zero_row, .num_candidates = 1
    };
    expect_error(ts_space_define_split(space, "z", 8, &bad_row, &err), &err, TS_EINVAL,
                 "candidate 0 has factor 0");
    static const int not_perm[] = { 0, 0, 1 };
    expect_error(ts_space_define_reorder(space, "r", 3, 1, not_perm, &err), &err, TS_EINVAL,
                 "reorder knob r: order 0 is not a permutation");
    static const char *const empty_word[] = { "" };
    expect_error(ts_space_define_annotate(space, "a", 1, empty_word, &err), &err, TS_EINVAL,
                 "annotate knob a: word 0");
    expect_error(ts_space_define_knob(space, "k", 0, NULL, &err), &err, TS_EINVAL,
                 "knob k has no choices");
    /* The failed definitions left the space as it was. */
    assert_int_equal(ts_space_num_knobs(space), 4);
    assert_int_equal(ts_space_size(space), 432);

    TsConfig c;
    expect_error(ts_space_get(space, 432, &c, &err), &err, TS_EINVAL,
                 "index 432 is outside [0, 432)");
    expect_error(ts_space_get(space, -1, &c, &err), &err, TS_EINVAL, "index -1");
    int64_t choice[4] = { 0, 2, 0, 0 };
    expect_error(ts_space_from_choices(space, choice, &c, &err), &err, TS_EINVAL,
                 "knob order: choice 2 is outside [0, 2)");
    ts_config_space_free(space);
}

static void test_space_overflow(void **state)
{
    (void)state;
    TsError err;
    TsConfigSpace *space = ts_config_space_create();
    int64_t values[1000];
    for (int i = 0; i < 1000; i++)
        values[i] = i;
    char name[16];
    /* 1000^6 = 1e18 fits in int64; one more factor of 1000 does not. */
    for (int k = 0; k < 6; k++) {
        snprintf(name, sizeof name, "k%d", k);
        ok(ts_space_define_knob(space, name, 1000, values, &err), &err);
    }
    expect_error(ts_space_define_knob(space, "k6", 1000, values, &err), &err, TS_EINVAL,
                 "knob k6 (1000 choices) makes the space larger than int64");
    assert_int_equal(ts_space_size(space), (int64_t)1000000000000000000);
    ts_config_space_free(space);

    space = ts_config_space_create();
    for (int k = 0; k < TS_CONFIG_MAX_KNOBS; k++) {
        snprintf(name, sizeof name, "k%d", k);
        ok(ts_space_define_knob(space, name, 1, values, &err), &err);
    }
    expect_error(ts_space_define_knob(space, "extra", 1, values, &err), &err, TS_EINVAL,
                 "knob extra is one more than the 32 allowed");
    ts_config_space_free(space);
}

/* ---- the registry and template arguments ---- */

static TsStatus fake_space(const TsTemplateArgs *args, const TsTemplateTarget *target,
                           TsConfigSpace *space, TsError *err)
{
    (void)args;
    (void)target;
    static const int64_t one[] = { 1 };
    return ts_space_define_knob(space, "only", 1, one, err);
}

static TsStatus fake_default(const TsTemplateArgs *args, const TsTemplateTarget *target,
                             const TsConfigSpace *space, TsConfig *out, TsError *err)
{
    (void)args;
    (void)target;
    return ts_space_get(space, 0, out, err);
}

static TsStatus fake_instantiate(const TsTemplateArgs *args, const TsTemplateTarget *target,
                                 const TsConfig *config, TsArena *arena, TsTemplateInstance *out,
                                 TsError *err)
{
    (void)args, (void)target, (void)config, (void)arena, (void)out;
    return ts_fail(err, TS_ESCHEDULE, "fake template");
}

static double fake_flop(const TsTemplateArgs *args)
{
    (void)args;
    return 1;
}

static TsTemplateTarget make_target(const char *arch, const char *features)
{
    TsTemplateTarget t;
    TsError err;
    ok(ts_template_target_init(&t, arch, features, features, 1, &err), &err);
    return t;
}

static void test_template_target(void **state)
{
    (void)state;
    TsTemplateTarget t = make_target("x86_64", ",avx,avx2,avx512f,avx512vnni,fma,");
    assert_int_equal(t.vector_bits, 512);
    assert_true(ts_template_target_has(&t, "avx512vnni"));
    assert_true(ts_template_target_has(&t, "avx2"));
    assert_false(ts_template_target_has(&t, "avx512"));
    assert_false(ts_template_target_has(&t, "avx512vnni,fma"));
    assert_false(ts_template_target_has(&t, ""));
    assert_int_equal(make_target("x86_64", ",avx,avx2,fma,").vector_bits, 256);
    assert_int_equal(make_target("aarch64", ",neon,dotprod,").vector_bits, 128);
    TsError err;
    expect_error(ts_template_target_init(&t, "riscv64", ",", "llvm -mtriple=riscv64", 1, &err),
                 &err, TS_EINVAL, "architecture riscv64 is not x86_64 or aarch64");
    expect_error(ts_template_target_init(&t, "x86_64", ",", "x", 0, &err), &err, TS_EINVAL,
                 "num_cores 0 must be >= 1");
}

static const char *const fake_int8[] = { "int8", NULL };
static const char *const fake_both[] = { "float32", "int8", NULL };
static const char *const needs_vnni[] = { "avx512vnni", NULL };
static const char *const needs_neon[] = { "neon", NULL };
static const char *const no_args[] = { NULL };

#define FAKE_TEMPLATE(tname, tdtypes, tfeatures, tpriority)                                      \
    { .name = tname, .op = "fake", .summary = "test", .dtypes = tdtypes,                        \
      .features = tfeatures, .priority = tpriority, .arg_names = no_args,                       \
      .define_space = fake_space, .default_config = fake_default,                               \
      .instantiate = fake_instantiate, .flop = fake_flop }

static const TsTemplate fake_neon = FAKE_TEMPLATE("fake.neon", NULL, needs_neon, 0);
static const TsTemplate fake_any = FAKE_TEMPLATE("fake.any", fake_both, NULL, 1);
static const TsTemplate fake_vnni = FAKE_TEMPLATE("fake.vnni", fake_int8, needs_vnni, 10);
static const TsTemplate fake_low = FAKE_TEMPLATE("fake.low", fake_int8, NULL, -5);

static const TsTemplate *pick(const char *op, TsDType dtype, const TsTemplateTarget *target)
{
    const TsTemplate *t = NULL;
    TsError err;
    ok(ts_template_for_op(op, dtype, target, &t, &err), &err);
    return t;
}

static void test_registry(void **state)
{
    (void)state;
    TsError err;
    int builtins = ts_template_count();
    assert_true(builtins >= 4);
    TsTemplateTarget avx512 = make_target("x86_64", ",avx,avx2,avx512f,avx512vnni,fma,");
    TsTemplateTarget avx2 = make_target("x86_64", ",avx,avx2,fma,");
    TsTemplateTarget neon = make_target("aarch64", ",neon,");
    const TsTemplateTarget *targets[] = { &avx512, &avx2, &neon };
    static const char *const ops[] = { "dense", "conv2d", "depthwise_conv2d", "pool2d" };
    for (int i = 0; i < 4; i++) {
        for (int k = 0; k < 3; k++) {
            const TsTemplate *t = pick(ops[i], TS_FLOAT32, targets[k]);
            assert_string_equal(t->op, ops[i]);
            assert_ptr_equal(ts_template_find(t->name), t);
        }
    }
    const TsTemplate *t = NULL;
    expect_error(ts_template_for_op("softmax", TS_FLOAT32, &avx512, &t, &err), &err, TS_EINVAL,
                 "no template for op softmax with dtype float32 on target "
                 ",avx,avx2,avx512f,avx512vnni,fma, (x86_64; templates of softmax: none)");
    /* int8 has dense templates now (VNNI, AMX); no dense template serves int16. */
    expect_error(ts_template_for_op("dense", TS_INT16, &avx512, &t, &err), &err, TS_EINVAL,
                 "no template for op dense with dtype int16 on target");
    assert_non_null(strstr(err.message, "dense_int8_vnni (int8; needs avx512vnni)"));
    assert_non_null(strstr(err.message, "dense_pack (float32)"));
    assert_null(ts_template_find("no_such_template"));
    assert_null(ts_template_at(-1));
    assert_null(ts_template_at(builtins));

    /* Strategies: op x dtypes x features, the highest priority wins. */
    ok(ts_template_register(&fake_neon, &err), &err);
    ok(ts_template_register(&fake_any, &err), &err);
    ok(ts_template_register(&fake_vnni, &err), &err);
    ok(ts_template_register(&fake_low, &err), &err);
    assert_int_equal(ts_template_count(), builtins + 4);
    assert_ptr_equal(ts_template_at(builtins), &fake_neon);
    assert_ptr_equal(pick("fake", TS_FLOAT32, &neon), &fake_any);   /* 1 beats 0 */
    assert_ptr_equal(pick("fake", TS_FLOAT32, &avx512), &fake_any); /* int8-only ones skip */
    assert_ptr_equal(pick("fake", TS_INT8, &avx512), &fake_vnni);   /* 10 where VNNI is */
    assert_ptr_equal(pick("fake", TS_INT8, &avx2), &fake_any);      /* 1 beats -5 */
    assert_true(ts_template_applies(&fake_low, TS_INT8, &avx2));
    assert_false(ts_template_applies(&fake_vnni, TS_INT8, &avx2));
    assert_false(ts_template_applies(&fake_neon, TS_FLOAT32, &avx512));
    assert_false(ts_template_applies(&fake_neon, TS_INT8, &neon));
    expect_error(ts_template_for_op("fake", TS_UINT8, &neon, &t, &err), &err, TS_EINVAL,
                 "no template for op fake with dtype uint8 on target ,neon, (aarch64; templates "
                 "of fake: fake.neon (float32; needs neon), fake.any (float32 int8), fake.vnni "
                 "(int8; needs avx512vnni), fake.low (int8))");

    expect_error(ts_template_register(&fake_neon, &err), &err, TS_EINVAL,
                 "a template called fake.neon exists already");
    static const TsTemplate incomplete = { .name = "incomplete", .op = "fake" };
    expect_error(ts_template_register(&incomplete, &err), &err, TS_EINVAL,
                 "template incomplete lacks");
    static const char *const bad_dtypes[] = { "float33", NULL };
    static const TsTemplate bad = FAKE_TEMPLATE("fake.bad", bad_dtypes, NULL, 0);
    expect_error(ts_template_register(&bad, &err), &err, TS_EINVAL,
                 "template fake.bad serves dtype \"float33\", which is not a dtype");
}

static void test_template_args(void **state)
{
    (void)state;
    TsError err;
    TsTemplateArgs args = { 0 };
    ok(ts_template_args_set(&args, "M", 1024, &err), &err);
    ok(ts_template_args_set(&args, "N", 512, &err), &err);
    ok(ts_template_args_set(&args, "M", 64, &err), &err);
    int64_t v = 0;
    ok(ts_template_args_get(&args, "M", &v, &err), &err);
    assert_int_equal(v, 64);
    char text[64];
    ts_template_args_str(&args, text, sizeof text);
    assert_string_equal(text, "M=64 N=512");
    ts_template_args_str(&args, text, 4);
    assert_string_equal(text, "M=6");
    expect_error(ts_template_args_get(&args, "K", &v, &err), &err, TS_EINVAL, "missing argument K");
    expect_error(ts_template_args_set(&args, "a_very_long_argument_name", 1, &err), &err, TS_EINVAL,
                 "a_very_long_argument_name is longer than 15");
    char name[16];
    for (int i = 2; i < TS_TEMPLATE_MAX_ARGS; i++) {
        snprintf(name, sizeof name, "a%d", i);
        ok(ts_template_args_set(&args, name, i, &err), &err);
    }
    expect_error(ts_template_args_set(&args, "extra", 1, &err), &err, TS_EINVAL,
                 "no room for extra");

    /* dtype arguments: parsed from text, printed, compared (absent = float32). */
    TsTemplateArgs a = { 0 }, b = { 0 };
    ok(ts_template_args_parse(&a, "M=16", &err), &err);
    ok(ts_template_args_parse(&a, "dtype=float32", &err), &err);
    ok(ts_template_args_parse(&a, "acc=int32", &err), &err);
    ts_template_args_str(&a, text, sizeof text);
    assert_string_equal(text, "M=16 dtype=float32 acc=int32");
    TsDType dtype;
    ok(ts_template_args_get_dtype(&a, "acc", &dtype, &err), &err);
    assert_true(ts_dtype_eq(dtype, TS_INT32));
    expect_error(ts_template_args_get(&a, "dtype", &v, &err), &err, TS_EINVAL,
                 "argument dtype is a dtype, not an integer");
    expect_error(ts_template_args_get_dtype(&a, "M", &dtype, &err), &err, TS_EINVAL,
                 "argument M=16 is an integer, not a dtype");
    expect_error(ts_template_args_parse(&a, "dtype=float33", &err), &err, TS_EINVAL,
                 "'dtype=float33': the value of dtype is neither an integer nor a dtype");
    expect_error(ts_template_args_parse(&a, "dtype=float32x4", &err), &err, TS_EINVAL,
                 "the value of dtype is neither");
    expect_error(ts_template_args_parse(&a, "M=12abc", &err), &err, TS_EINVAL,
                 "the value of M is neither");
    expect_error(ts_template_args_parse(&a, "=3", &err), &err, TS_EINVAL, "'=3' is not NAME=VALUE");
    expect_error(ts_template_args_parse(&a, "dtype=", &err), &err, TS_EINVAL, "neither");
    ok(ts_template_args_parse(&b, "acc=int32", &err), &err);
    ok(ts_template_args_parse(&b, "M=16", &err), &err);
    assert_true(ts_template_args_equal(&a, &b)); /* b's missing dtype is float32 */
    ok(ts_template_args_parse(&b, "dtype=int8", &err), &err);
    assert_false(ts_template_args_equal(&a, &b));
    ok(ts_template_args_parse(&b, "dtype=float32", &err), &err);
    assert_true(ts_template_args_equal(&a, &b));
    ok(ts_template_args_parse(&b, "acc=16", &err), &err); /* an integer is not a dtype */
    assert_false(ts_template_args_equal(&a, &b));
    assert_false(ts_template_args_equal(&a, NULL));

    /* A template names the argument it misses or refuses. */
    TsTemplateTarget target = make_target("x86_64", ",avx,avx2,avx512f,fma,");
    const TsTemplate *dense = pick("dense", TS_FLOAT32, &target);
    TsTemplateArgs partial = { 0 };
    ts_template_args_set(&partial, "M", 4, &err);
    ts_template_args_set(&partial, "K", 4, &err);
    TsConfigSpace *space = ts_config_space_create();
    expect_error(dense->define_space(&partial, &target, space, &err), &err, TS_EINVAL,
                 "dense: missing argument N");
    ts_template_args_set(&partial, "N", 0, &err);
    expect_error(dense->define_space(&partial, &target, space, &err), &err, TS_EINVAL,
                 "argument N=0 must be in [1,");
    ts_template_args_set(&partial, "N", 4, &err);
    TsTemplateTarget wrong = target;
    wrong.vector_bits = 256;
    expect_error(dense->define_space(&partial, &wrong, space, &err), &err, TS_EINVAL,
                 "vector_bits 256, expected 512 for its features");
    ok(ts_template_args_set_dtype(&partial, "dtype", TS_INT8, &err), &err);
    expect_error(dense->define_space(&partial, &target, space, &err), &err, TS_EINVAL,
                 "dense: dtype int8 is not served (float32 only)");
    ok(ts_template_args_set(&partial, "dtype", 7, &err), &err);
    expect_error(dense->define_space(&partial, &target, space, &err), &err, TS_EINVAL,
                 "dense: argument dtype=7 is not a dtype");
    ok(ts_template_args_set_dtype(&partial, "dtype", TS_FLOAT32, &err), &err);
    ok(dense->define_space(&partial, &target, space, &err), &err);
    ts_config_space_free(space);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_factors_of_12),         cmocka_unit_test(test_max_factor_and_power2),
        cmocka_unit_test(test_filter_and_candidates), cmocka_unit_test(test_index_round_trip),
        cmocka_unit_test(test_entity_and_getters),    cmocka_unit_test(test_space_errors),
        cmocka_unit_test(test_space_overflow),        cmocka_unit_test(test_template_target),
        cmocka_unit_test(test_registry),              cmocka_unit_test(test_template_args),
        cmocka_unit_test(test_from_choices_in_place),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
