/* Helpers of the autotune tests: see tune_testing.h. */
/* nftw() is X/Open. */
#define _XOPEN_SOURCE 700

#include "tune_testing.h"

#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

/* ---- test_matmul ---- */

static const char *const matmul_args[] = { "M", "N", "K", NULL };

static void read_mnk(const TsTemplateArgs *args, int64_t *m, int64_t *n, int64_t *k)
{
    *m = *n = *k = 0;
    ts_template_args_get(args, "M", m, NULL);
    ts_template_args_get(args, "N", n, NULL);
    ts_template_args_get(args, "K", k, NULL);
}

static TsStatus matmul_space(const TsTemplateArgs *args, const TsTemplateTarget *target,
                             TsConfigSpace *space, TsError *err)
{
    (void)target;
    int64_t m, n, k;
    read_mnk(args, &m, &n, &k);
    if (m < 1 || n < 1 || k < 1)
        return ts_fail(err, TS_EINVAL, "test_matmul: M, N and K must be >= 1");
    TsSplitOptions factors = { .policy = TS_SPLIT_FACTORS, .num_outputs = 2, .max_factor = 16 };
    static const char *const words[] = { "none", "unroll", "vec" };
    TsStatus st = ts_space_define_split(space, "tile_i", m, &factors, err);
    if (st == TS_OK)
        st = ts_space_define_split(space, "tile_j", n, &factors, err);
    if (st == TS_OK)
        st = ts_space_define_annotate(space, "inner", 3, words, err);
    return st;
}

static TsStatus first_config(const TsTemplateArgs *args, const TsTemplateTarget *target,
                             const TsConfigSpace *space, TsConfig *out, TsError *err)
{
    (void)args;
    (void)target;
    return ts_space_get(space, 0, out, err);
}

static TsStatus matmul_instantiate(const TsTemplateArgs *args, const TsTemplateTarget *target,
                                   const TsConfig *config, TsArena *A, TsTemplateInstance *out,
                                   TsError *err)
{
    (void)target;
    int64_t m, n, k, fi[4], fj[4];
    int num;
    const char *inner;
    read_mnk(args, &m, &n, &k);
    TsStatus st = ts_config_split(config, "tile_i", fi, 4, &num, err);
    if (st == TS_OK)
        st = ts_config_split(config, "tile_j", fj, 4, &num, err);
    if (st == TS_OK)
        st = ts_config_annotate(config, "inner", &inner, err);
    if (st != TS_OK)
        return st;
    TsTensor *a = ts_placeholder(A, "A", 2, (int64_t[]){ m, k }, TS_FLOAT32);
    TsTensor *b = ts_placeholder(A, "B", 2, (int64_t[]){ k, n }, TS_FLOAT32);
    TsAxis *i = ts_axis(A, "i", m), *j = ts_axis(A, "j", n), *r = ts_reduce_axis(A, "k", k);
    TsExpr *prod = ts_mul(A, ts_at(A, a, ts_var(i), ts_var(r)), ts_at(A, b, ts_var(r), ts_var(j)));
    TsTensor *c =
        ts_compute(A, "C", 2, (TsAxis *[]){ i, j }, ts_sum(A, prod, 1, (TsAxis *[]){ r }, NULL));
    TsSchedule *sch = c ? ts_schedule_create(A, 1, &c) : NULL;
    if (!sch)
        return ts_arena_check(A, err);
    TsStage *stage = ts_stage(sch, c);
    TsAxis *io, *ii, *jo, *ji;
    st = ts_split(stage, ts_stage_root_axis(stage, 0), fi[1], &io, &ii, err);
    if (st == TS_OK)
        st = ts_split(stage, ts_stage_root_axis(stage, 1), fj[1], &jo, &ji, err);
    if (st == TS_OK)
        st =
            ts_reorder(stage, 5, (TsAxis *[]){ io, jo, ts_stage_root_axis(stage, 2), ii, ji }, err);
    if (st == TS_OK && strcmp(inner, "unroll") == 0)
        st = ts_unroll(stage, ji, err);
    if (st == TS_OK && strcmp(inner, "vec") == 0)
        st = ts_vectorize(stage, ji, err);
    if (st != TS_OK)
        return st;
    *out = (TsTemplateInstance){
        .sch = sch, .num_tensors = 3, .num_outputs = 1, .tensors = { a, b, c }
    };
    return TS_OK;
}

static double matmul_flop(const TsTemplateArgs *args)
{
    int64_t m, n, k;
    read_mnk(args, &m, &n, &k);
    return 2.0 * (double)m * (double)n * (double)k;
}

static const TsTemplate matmul_template = {
    .name = "test_matmul",
    .op = "test_matmul",
    .summary = "a plain tiled matmul for the autotune tests",
    .arg_names = matmul_args,
    .define_space = matmul_space,
    .default_config = first_config,
    .instantiate = matmul_instantiate,
    .flop = matmul_flop,
};

/* ---- test_isolation ---- */

static const char *const isolation_args[] = { "N", NULL };

static TsStatus isolation_space(const TsTemplateArgs *args, const TsTemplateTarget *target,
                                TsConfigSpace *space, TsError *err)
{
    (void)args;
    (void)target;
    static const int64_t modes[] = { 0, 1, 2, 3 };
    return ts_space_define_knob(space, "mode", 4, modes, err);
}

static TsStatus isolation_instantiate(const TsTemplateArgs *args, const TsTemplateTarget *target,
                                      const TsConfig *config, TsArena *A, TsTemplateInstance *out,
                                      TsError *err)
{
    (void)target;
    int64_t n = 0, mode = 0;
    ts_template_args_get(args, "N", &n, NULL);
    TsStatus st = ts_config_knob(config, "mode", &mode, err);
    if (st != TS_OK)
        return st;
    if (mode == 1)
        abort();
    while (mode == 2)
        sleep(1);
    if (mode == 3)
        return ts_fail(err, TS_ESCHEDULE, "test_isolation: mode 3 is refused on purpose");
    TsTensor *a = ts_placeholder(A, "A", 1, (int64_t[]){ n }, TS_FLOAT32);
    TsAxis *i = ts_axis(A, "i", n);
    TsTensor *b =
        ts_compute(A, "B", 1, (TsAxis *[]){ i }, ts_add(A, ts_at(A, a, ts_var(i)), ts_f32(A, 1.0)));
    TsSchedule *sch = b ? ts_schedule_create(A, 1, &b) : NULL;
    if (!sch)
        return ts_arena_check(A, err);
    *out =
        (TsTemplateInstance){ .sch = sch, .num_tensors = 2, .num_outputs = 1, .tensors = { a, b } };
    return TS_OK;
}

static double isolation_flop(const TsTemplateArgs *args)
{
    int64_t n = 0;
    ts_template_args_get(args, "N", &n, NULL);
    return (double)n;
}

static const TsTemplate isolation_template = {
    .name = "test_isolation",
    .op = "test_isolation",
    .summary = "builds, aborts, hangs or is refused, by its knob",
    .arg_names = isolation_args,
    .define_space = isolation_space,
    .default_config = first_config,
    .instantiate = isolation_instantiate,
    .flop = isolation_flop,
};

void tt_register_templates(void)
{
    if (ts_template_find("test_matmul"))
        return;
    TsError err;
    assert_int_equal(ts_template_register(&matmul_template, &err), TS_OK);
    assert_int_equal(ts_template_register(&isolation_template, &err), TS_OK);
}

TsTuneTask *tt_task(const char *op, long m, long n, long k)
{
    TsTemplateArgs args = { 0 };
    TsError err;
    if (m > 0)
        ts_template_args_set(&args, "M", m, &err);
    ts_template_args_set(&args, "N", n, &err);
    if (k > 0)
        ts_template_args_set(&args, "K", k, &err);
    TsTuneTask *task = NULL;
    TsStatus st = ts_tune_task_create(op, &args, "llvm", &task, &err);
    if (st != TS_OK)
        fprintf(stderr, "task %s: %s\n", op, err.message);
    assert_int_equal(st, TS_OK);
    return task;
}

void tt_warn(const char *message, void *user)
{
    TtWarnings *w = user;
    size_t used = strlen(w->text);
    w->count++;
    snprintf(w->text + used, sizeof w->text - used, "%s\n", message);
}

static char temp_dir[256];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* At exit of the test process (forked children leave with _exit): the directory goes. */
static void remove_temp_dir(void)
{
    if (temp_dir[0])
        nftw(temp_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *tt_temp_path(const char *name)
{
    char *dir = temp_dir;
    static char path[512];
    if (!dir[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof temp_dir, "%s/tessera-tune-test-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
        assert_non_null(mkdtemp(dir));
        atexit(remove_temp_dir);
    }
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
    return path;
}

int tt_count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    int lines = 0, c;
    if (!f)
        return -1;
    while ((c = fgetc(f)) != EOF)
        lines += c == '\n';
    fclose(f);
    return lines;
}
