/* The cost model of the model-based tuner: gradient-boosted trees from XGBoost's C API
 * (libxgboost-dev), trained to rank candidates ("rank:pairwise" within groups: the
 * points of one task, or of one shape of a transfer log), and asked for scores of
 * points the tuner has not measured. Every XGBoost call is checked; a failure becomes
 * TS_EINVAL with XGBGetLastError's text.
 *
 * Determinism: one thread (nthread = 1), a fixed seed, no sampling of rows or columns,
 * and the exact tree method, so a tuning run is the same for the same seed. The booster
 * is rebuilt from scratch on each fit (the data grows by a batch at a time, and a fresh
 * fit of a few hundred rows costs milliseconds). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <xgboost/c_api.h>

#include "tune_internal.h"

struct TuneCostModel {
    int num_features;
    uint64_t seed;
    BoosterHandle booster; /* NULL until trained */
};

static TsStatus xgb_fail(TsError *err, const char *what)
{
    return ts_fail(err, TS_EINVAL, "cost model: XGBoost %s failed: %s", what, XGBGetLastError());
}

TsStatus tune_model_create(int num_features, uint64_t seed, TuneCostModel **out, TsError *err)
{
    if (num_features < 1)
        return ts_fail(err, TS_EINVAL, "cost model: %d features (need at least one)", num_features);
    TuneCostModel *model = calloc(1, sizeof *model);
    if (!model)
        return ts_fail(err, TS_ENOMEM, "cost model: out of memory");
    model->num_features = num_features;
    model->seed = seed;
    *out = model;
    return TS_OK;
}

void tune_model_free(TuneCostModel *model)
{
    if (!model)
        return;
    if (model->booster)
        XGBoosterFree(model->booster);
    free(model);
}

bool tune_model_trained(const TuneCostModel *model)
{
    return model && model->booster;
}

/* A DMatrix of n rows (no missing values: every feature is a number). */
static TsStatus make_matrix(const TuneCostModel *model, const float *x, int n, DMatrixHandle *out,
                            TsError *err)
{
    if (XGDMatrixCreateFromMat(x, (bst_ulong)n, (bst_ulong)model->num_features, NAN, out) != 0)
        return xgb_fail(err, "DMatrix creation");
    return TS_OK;
}

/* AutoTVM's xgb_rank parameters, with one thread and no sampling for determinism. */
static TsStatus set_params(BoosterHandle booster, uint64_t seed, TsError *err)
{
    char seed_text[32];
    snprintf(seed_text, sizeof seed_text, "%llu", (unsigned long long)(seed % 2147483647u));
    const char *params[][2] = {
        { "objective", "rank:pairwise" },
        { "booster", "gbtree" },
        { "tree_method", "exact" },
        { "max_depth", "6" },
        { "eta", "0.3" },
        { "gamma", "0.0001" },
        { "min_child_weight", "1" },
        { "subsample", "1" },
        { "lambda", "1" },
        { "alpha", "0" },
        { "nthread", "1" },
        { "verbosity", "0" },
        { "seed", seed_text },
    };
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) {
        if (XGBoosterSetParam(booster, params[i][0], params[i][1]) != 0)
            return xgb_fail(err, params[i][0]);
    }
    return TS_OK;
}

static TsStatus set_labels(DMatrixHandle dtrain, const float *y, int n, const unsigned *group_sizes,
                           int num_groups, TsError *err)
{
    if (XGDMatrixSetFloatInfo(dtrain, "label", y, (bst_ulong)n) != 0)
        return xgb_fail(err, "setting labels");
    if (XGDMatrixSetUIntInfo(dtrain, "group", group_sizes, (bst_ulong)num_groups) != 0)
        return xgb_fail(err, "setting groups");
    return TS_OK;
}

static TsStatus check_groups(const unsigned *group_sizes, int num_groups, int n, TsError *err)
{
    long long total = 0;
    for (int g = 0; g < num_groups; g++)
        total += group_sizes[g];
    if (num_groups < 1 || total != n)
        return ts_fail(err, TS_EINVAL, "cost model: %d groups of %lld rows for %d rows", num_groups,
                       total, n);
    return TS_OK;
}

static TsStatus boost(BoosterHandle booster, DMatrixHandle dtrain, int rounds, TsError *err)
{
    for (int r = 0; r < rounds; r++) {
        if (XGBoosterUpdateOneIter(booster, r, dtrain) != 0)
            return xgb_fail(err, "training");
    }
    return TS_OK;
}

TsStatus tune_model_fit(TuneCostModel *model, const float *x, const float *y, int n,
                        const unsigned *group_sizes, int num_groups, int rounds, TsError *err)
{
    if (n < 1 || rounds < 1)
        return ts_fail(err, TS_EINVAL, "cost model: %d rows, %d rounds", n, rounds);
    TsStatus st = check_groups(group_sizes, num_groups, n, err);
    if (st != TS_OK)
        return st;
    DMatrixHandle dtrain = NULL;
    BoosterHandle booster = NULL;
    st = make_matrix(model, x, n, &dtrain, err);
    if (st != TS_OK)
        return st;
    st = set_labels(dtrain, y, n, group_sizes, num_groups, err);
    if (st != TS_OK)
        goto out_free_matrix;
    if (XGBoosterCreate(&dtrain, 1, &booster) != 0) {
        st = xgb_fail(err, "booster creation");
        goto out_free_matrix;
    }
    st = set_params(booster, model->seed, err);
    if (st == TS_OK)
        st = boost(booster, dtrain, rounds, err);
    if (st != TS_OK) {
        XGBoosterFree(booster);
        goto out_free_matrix;
    }
    if (model->booster)
        XGBoosterFree(model->booster);
    model->booster = booster;
out_free_matrix:
    XGDMatrixFree(dtrain);
    return st;
}

TsStatus tune_model_predict(TuneCostModel *model, const float *x, int n, float *scores,
                            TsError *err)
{
    if (!model->booster)
        return ts_fail(err, TS_EINVAL, "cost model: predict before training");
    if (n < 1)
        return TS_OK;
    DMatrixHandle dmat = NULL;
    TsStatus st = make_matrix(model, x, n, &dmat, err);
    if (st != TS_OK)
        return st;
    bst_ulong len = 0;
    const float *out = NULL;
    if (XGBoosterPredict(model->booster, dmat, 0, 0, 0, &len, &out) != 0) {
        st = xgb_fail(err, "prediction");
    } else if (len != (bst_ulong)n) {
        st = ts_fail(err, TS_EINVAL, "cost model: %llu predictions for %d rows",
                     (unsigned long long)len, n);
    } else {
        for (int i = 0; i < n; i++)
            scores[i] = out[i];
    }
    XGDMatrixFree(dmat);
    return st;
}
