/* Targets: TVM-style target strings ("llvm", "llvm -mcpu=sapphirerapids",
 * "llvm -mtriple=aarch64-linux-gnu -mattr=+neon") parsed into a TsTarget, host
 * detection, and the LLVM TargetMachine that every output of codegen is compiled with.
 *
 * Bare "llvm" is the host: its triple, its CPU and every feature it has. A named CPU
 * without -mattr takes the CPU's own features. Because LLVM only prints a warning for a
 * CPU or feature it does not know (and then ignores it), names are checked here against
 * target_names.def, LLVM 16's lists for x86_64 and aarch64, so a typo is an error that
 * names it. Those two architectures are the ones Tessera's runtime is built for.
 *
 * What a target can do (ts_target_has_feature) is resolved here once, when the string is
 * parsed: bare "llvm" has the host's features (LLVMGetHostCPUFeatures); a named CPU has
 * the features target_features.def lists for it (generated from LLVM 16's CPU
 * definitions by scripts/gen-target-features.sh, since the C API cannot list them);
 * -mattr=+a,-b then adds a with every feature a implies, and removes b with every
 * feature that implies b. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Target.h>

#include "cg_internal.h"
#include "tessera/intrin.h"

/* ---- LLVM initialization ---- */

static pthread_once_t llvm_once = PTHREAD_ONCE_INIT;

static void init_llvm(void)
{
    LLVMInitializeAllTargetInfos();
    LLVMInitializeAllTargets();
    LLVMInitializeAllTargetMCs();
    LLVMInitializeAllAsmPrinters();
}

void cg_llvm_init(void)
{
    pthread_once(&llvm_once, init_llvm);
}

/* ---- known names ---- */

typedef struct {
    CgArch arch;
    const char *name;
} KnownName;

static const KnownName known_cpus[] = {
#define CPU(arch, name) { CG_ARCH_##arch, name },
#define FEATURE(arch, name)
#include "target_names.def"
#undef FEATURE
#undef CPU
};

static const KnownName known_features[] = {
#define CPU(arch, name)
#define FEATURE(arch, name) { CG_ARCH_##arch, name },
#include "target_names.def"
#undef FEATURE
#undef CPU
};

/* ---- CPU features (target_features.def) ---- */

static const char *arch_name(CgArch arch);

typedef struct {
    CgArch arch;
    const char *name;
    const char *features; /* comma-separated */
} FeatureRow;

static const FeatureRow cpu_features[] = {
#define CPU_FEATURES(arch, name, features) { CG_ARCH_##arch, name, features },
#define IMPLIES(arch, name, features)
#include "target_features.def"
#undef IMPLIES
#undef CPU_FEATURES
};

static const FeatureRow implied_features[] = {
#define CPU_FEATURES(arch, name, features)
#define IMPLIES(arch, name, features) { CG_ARCH_##arch, name, features },
#include "target_features.def"
#undef IMPLIES
#undef CPU_FEATURES
};

static const char *feature_row(const FeatureRow *rows, size_t count, CgArch arch,
                               const char *name, size_t len)
{
    for (size_t i = 0; i < count; i++)
        if (rows[i].arch == arch && strlen(rows[i].name) == len &&
            strncmp(rows[i].name, name, len) == 0)
            return rows[i].features;
    return NULL;
}

/* Whether the comma-separated list has name (len characters). */
static bool list_has(const char *list, const char *name, size_t len)
{
    for (const char *p = list; p && *p;) {
        size_t item = strcspn(p, ",");
        if (item == len && strncmp(p, name, len) == 0)
            return true;
        p += item;
        p += *p == ',';
    }
    return false;
}

/* A set of feature names, kept as ",a,b,c," so that a lookup is one strstr. */
typedef struct {
    char *text;
    size_t len, cap;
} FeatureSet;

static bool set_has(const FeatureSet *set, const char *name, size_t len)
{
    for (const char *p = set->text; (p = strstr(p, ",")) != NULL; p++)
        if (strncmp(p + 1, name, len) == 0 && p[1 + len] == ',')
            return true;
    return false;
}

static bool set_add(FeatureSet *set, const char *name, size_t len)
{
    if (len == 0 || set_has(set, name, len))
        return true;
    if (set->len + len + 2 > set->cap) {
        size_t cap = 2 * (set->len + len + 2);
        char *text = realloc(set->text, cap);
        if (!text)
            return false;
        set->text = text;
        set->cap = cap;
    }
    memcpy(set->text + set->len, name, len);
    set->len += len;
    set->text[set->len++] = ',';
    set->text[set->len] = '\0';
    return true;
}

static void set_remove(FeatureSet *set, const char *name, size_t len)
{
    for (char *p = set->text; (p = strstr(p, ",")) != NULL; p++) {
        if (strncmp(p + 1, name, len) == 0 && p[1 + len] == ',') {
            memmove(p, p + 1 + len, strlen(p + 1 + len) + 1);
            set->len -= len + 1;
            return;
        }
    }
}

/* Adds each entry of a comma-separated list; with plus_only, only "+name" entries (the
 * host's list spells out "+a,-b,..."). */
static bool set_add_list(FeatureSet *set, const char *list, bool plus_only)
{
    for (const char *p = list; *p;) {
        size_t item = strcspn(p, ",");
        size_t skip = plus_only ? 1 : 0;
        bool wanted = !plus_only || (item > 0 && p[0] == '+');
        if (wanted && !set_add(set, p + skip, item - skip))
            return false;
        p += item;
        p += *p == ',';
    }
    return true;
}

/* Applies one -mattr entry: +name adds it and what it implies; -name removes it and every
 * feature that implies it. */
static bool set_apply(FeatureSet *set, CgArch arch, const char *entry, size_t len)
{
    const char *name = entry + 1;
    size_t n = len - 1;
    size_t count = sizeof implied_features / sizeof implied_features[0];
    if (entry[0] == '+') {
        const char *implied = feature_row(implied_features, count, arch, name, n);
        return set_add(set, name, n) && set_add_list(set, implied ? implied : "", false);
    }
    set_remove(set, name, n);
    for (size_t i = 0; i < count; i++)
        if (implied_features[i].arch == arch && list_has(implied_features[i].features, name, n))
            set_remove(set, implied_features[i].name, strlen(implied_features[i].name));
    return true;
}

/* Fills t->feature_set from the CPU's (or the host's) features and the -mattr list. */
static TsStatus resolve_features(const char *text, TsTarget *t, bool host_cpu,
                                 const char *mattr, TsError *err)
{
    FeatureSet set = { .text = strdup(","), .len = 1, .cap = 2 };
    bool ok = set.text != NULL;
    if (ok && host_cpu) {
        char *host = LLVMGetHostCPUFeatures();
        ok = set_add_list(&set, host ? host : "", true);
        LLVMDisposeMessage(host);
    } else if (ok) {
        const char *row = feature_row(cpu_features, sizeof cpu_features / sizeof cpu_features[0],
                                      t->arch, t->cpu, strlen(t->cpu));
        if (!row) {
            free(set.text);
            return ts_fail(err, TS_EINVAL, "target \"%s\": %s CPU \"%s\" has no feature "
                           "list (target_features.def)", text, arch_name(t->arch), t->cpu);
        }
        ok = set_add_list(&set, row, false);
    }
    for (const char *p = mattr ? mattr : ""; ok && *p;) {
        size_t item = strcspn(p, ",");
        ok = set_apply(&set, t->arch, p, item);
        p += item;
        p += *p == ',';
    }
    if (!ok) {
        free(set.text);
        return ts_fail(err, TS_ENOMEM, "target \"%s\": out of memory", text);
    }
    t->feature_set = set.text;
    return TS_OK;
}

static bool is_known(const KnownName *table, size_t count, CgArch arch, const char *name,
                     size_t len)
{
    for (size_t i = 0; i < count; i++)
        if (table[i].arch == arch && strlen(table[i].name) == len &&
            strncmp(table[i].name, name, len) == 0)
            return true;
    return false;
}

static const char *arch_name(CgArch arch)
{
    switch (arch) {
    case CG_ARCH_X86_64: return "x86_64";
    case CG_ARCH_AARCH64: return "aarch64";
    }
    return "?";
}

/* ---- parsing ---- */

/* The options of a target string before they are resolved. */
typedef struct {
    char *triple, *cpu, *features;
    bool fast_math;
    int opt_level;
} Options;

static void options_free(Options *o)
{
    free(o->triple);
    free(o->cpu);
    free(o->features);
}

/* Stores a copy of value in *slot; a second -mcpu (etc.) is an error. */
static TsStatus set_once(const char *text, const char *option, char **slot, const char *value,
                         size_t len, TsError *err)
{
    if (*slot)
        return ts_fail(err, TS_EINVAL, "target \"%s\": %s is given twice", text, option);
    if (len == 0)
        return ts_fail(err, TS_EINVAL, "target \"%s\": %s has an empty value", text, option);
    *slot = strndup(value, len);
    return *slot ? TS_OK : ts_fail(err, TS_ENOMEM, "target \"%s\": out of memory", text);
}

static TsStatus parse_opt_level(const char *text, const char *value, size_t len, Options *o,
                                TsError *err)
{
    if (len != 1 || value[0] < '0' || value[0] > '3')
        return ts_fail(err, TS_EINVAL, "target \"%s\": -opt-level=%.*s is not 0, 1, 2 or 3",
                       text, (int)len, value);
    o->opt_level = value[0] - '0';
    return TS_OK;
}

/* One word after "llvm": -mtriple=, -mcpu=, -mattr=, -opt-level=, -fast-math. */
static TsStatus parse_word(const char *text, const char *word, size_t len, Options *o,
                           TsError *err)
{
    static const char *const keys[] = { "-mtriple=", "-mcpu=", "-mattr=", "-opt-level=" };
    if (len == strlen("-fast-math") && strncmp(word, "-fast-math", len) == 0) {
        o->fast_math = true;
        return TS_OK;
    }
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        size_t n = strlen(keys[k]);
        if (len < n || strncmp(word, keys[k], n) != 0)
            continue;
        char **slots[] = { &o->triple, &o->cpu, &o->features };
        if (k == 3)
            return parse_opt_level(text, word + n, len - n, o, err);
        char option[16];
        snprintf(option, sizeof option, "%.*s", (int)(n - 1), keys[k]);
        return set_once(text, option, slots[k], word + n, len - n, err);
    }
    return ts_fail(err, TS_EINVAL, "target \"%s\": unknown option \"%.*s\" (known: -mtriple=, "
                   "-mcpu=, -mattr=, -opt-level=, -fast-math)", text, (int)len, word);
}

static TsStatus parse_words(const char *text, Options *o, TsError *err)
{
    const char *p = text + strspn(text, " \t");
    size_t len = strcspn(p, " \t");
    if (len != 4 || strncmp(p, "llvm", 4) != 0)
        return ts_fail(err, TS_EINVAL, "target \"%s\": only \"llvm\" targets are supported "
                       "(e.g. \"llvm -mcpu=sapphirerapids\")", text);
    for (p += len;; p += len) {
        p += strspn(p, " \t");
        len = strcspn(p, " \t");
        if (len == 0)
            return TS_OK;
        TsStatus status = parse_word(text, p, len, o, err);
        if (status != TS_OK)
            return status;
    }
}

/* ---- resolving the options ---- */

/* The architecture of a normalized triple, or an error naming it. */
static TsStatus triple_arch(const char *text, const char *triple, CgArch *arch, TsError *err)
{
    size_t n = strcspn(triple, "-");
    if (n == 6 && strncmp(triple, "x86_64", 6) == 0)
        *arch = CG_ARCH_X86_64;
    else if (n == 7 && strncmp(triple, "aarch64", 7) == 0)
        *arch = CG_ARCH_AARCH64;
    else
        return ts_fail(err, TS_EINVAL, "target \"%s\": architecture \"%.*s\" of triple %s is "
                       "not supported (x86_64 and aarch64 are)", text, (int)n, triple, triple);
    LLVMTargetRef t;
    char *message = NULL;
    if (LLVMGetTargetFromTriple(triple, &t, &message)) {
        TsStatus status = ts_fail(err, TS_EINVAL, "target \"%s\": triple %s: %s", text, triple,
                                  message ? message : "unknown to LLVM");
        LLVMDisposeMessage(message);
        return status;
    }
    return TS_OK;
}

/* The architecture, OS and environment of a triple: what must match the host's. */
static bool same_system(const char *a, const char *b)
{
    size_t arch_a = strcspn(a, "-"), arch_b = strcspn(b, "-");
    if (arch_a != arch_b || strncmp(a, b, arch_a) != 0)
        return false;
    const char *rest_a = a[arch_a] ? strchr(a + arch_a + 1, '-') : NULL; /* skip vendor */
    const char *rest_b = b[arch_b] ? strchr(b + arch_b + 1, '-') : NULL;
    return rest_a && rest_b && strcmp(rest_a, rest_b) == 0;
}

static TsStatus check_features(const char *text, CgArch arch, const char *features,
                               TsError *err)
{
    for (const char *p = features; *p;) {
        size_t len = strcspn(p, ",");
        if (len < 2 || (p[0] != '+' && p[0] != '-'))
            return ts_fail(err, TS_EINVAL, "target \"%s\": -mattr entry \"%.*s\" must be "
                           "+name or -name", text, (int)len, p);
        if (!is_known(known_features, sizeof known_features / sizeof known_features[0], arch,
                      p + 1, len - 1))
            return ts_fail(err, TS_EINVAL, "target \"%s\": unknown %s feature \"%.*s\"", text,
                           arch_name(arch), (int)(len - 1), p + 1);
        p += len;
        p += *p == ',';
    }
    return TS_OK;
}

/* Fills t's triple, CPU and features from the options and the host. */
static TsStatus resolve(const char *text, Options *o, TsTarget *t, TsError *err)
{
    char *host = LLVMGetDefaultTargetTriple();
    char *host_triple = LLVMNormalizeTargetTriple(host);
    LLVMDisposeMessage(host);
    char *triple = LLVMNormalizeTargetTriple(o->triple ? o->triple : host_triple);
    TsStatus status = triple_arch(text, triple, &t->arch, err);
    t->is_host = same_system(triple, host_triple);
    t->triple = strdup(triple);
    LLVMDisposeMessage(triple);
    LLVMDisposeMessage(host_triple);
    if (status != TS_OK)
        return status;
    bool native = o->cpu && strcmp(o->cpu, "native") == 0;
    if (native && !t->is_host)
        return ts_fail(err, TS_EINVAL, "target \"%s\": -mcpu=native needs the host's triple",
                       text);
    bool host_cpu = t->is_host && (native || (!o->cpu && !o->triple));
    char *cpu = host_cpu ? LLVMGetHostCPUName() : NULL;
    char *features = host_cpu && !o->features ? LLVMGetHostCPUFeatures() : NULL;
    t->cpu = strdup(cpu ? cpu : o->cpu ? o->cpu : "generic");
    t->features = strdup(features ? features : o->features ? o->features : "");
    LLVMDisposeMessage(cpu);
    LLVMDisposeMessage(features);
    if (!t->triple || !t->cpu || !t->features)
        return ts_fail(err, TS_ENOMEM, "target \"%s\": out of memory", text);
    if (!host_cpu && !is_known(known_cpus, sizeof known_cpus / sizeof known_cpus[0], t->arch,
                               t->cpu, strlen(t->cpu)))
        return ts_fail(err, TS_EINVAL, "target \"%s\": unknown %s CPU \"%s\"", text,
                       arch_name(t->arch), t->cpu);
    status = o->features ? check_features(text, t->arch, t->features, err) : TS_OK;
    return status == TS_OK ? resolve_features(text, t, host_cpu, o->features, err) : status;
}

static TsStatus canonical_text(const char *text, TsTarget *t, TsError *err)
{
    const char *sep = t->features[0] ? " -mattr=" : "";
    char level[16] = "";
    if (t->opt_level != 3)
        snprintf(level, sizeof level, " -opt-level=%d", t->opt_level);
    size_t size = strlen(t->triple) + strlen(t->cpu) + strlen(t->features) + 80;
    t->text = malloc(size);
    if (!t->text)
        return ts_fail(err, TS_ENOMEM, "target \"%s\": out of memory", text);
    snprintf(t->text, size, "llvm -mtriple=%s -mcpu=%s%s%s%s%s", t->triple, t->cpu, sep,
             t->features, t->fast_math ? " -fast-math" : "", level);
    return TS_OK;
}

TsStatus ts_target_parse(const char *text, TsTarget **out, TsError *err)
{
    if (!out)
        return ts_fail(err, TS_EINVAL, "target: the result pointer is NULL");
    *out = NULL;
    if (!text)
        return ts_fail(err, TS_EINVAL, "target: the target string is NULL");
    cg_llvm_init();
    Options o = { .opt_level = 3 };
    TsTarget *t = calloc(1, sizeof *t);
    if (!t)
        return ts_fail(err, TS_ENOMEM, "target \"%s\": out of memory", text);
    TsStatus status = parse_words(text, &o, err);
    if (status == TS_OK) {
        t->fast_math = o.fast_math;
        t->opt_level = o.opt_level;
        status = resolve(text, &o, t, err);
    }
    if (status == TS_OK)
        status = canonical_text(text, t, err);
    options_free(&o);
    if (status != TS_OK) {
        ts_target_free(t);
        return status;
    }
    *out = t;
    return TS_OK;
}

const char *ts_target_str(const TsTarget *target)
{
    return target ? target->text : "";
}

const char *ts_target_triple(const TsTarget *target)
{
    return target ? target->triple : "";
}

bool ts_target_is_host(const TsTarget *target)
{
    return target && target->is_host;
}

const char *ts_target_arch(const TsTarget *target)
{
    return target ? arch_name(target->arch) : "";
}

bool ts_target_has_feature(const TsTarget *target, const char *feature)
{
    if (!target || !target->feature_set || !feature || !*feature || strchr(feature, ','))
        return false;
    FeatureSet set = { .text = target->feature_set };
    return set_has(&set, feature, strlen(feature));
}

const char *ts_target_features(const TsTarget *target)
{
    return target && target->feature_set ? target->feature_set : ",";
}

void ts_target_free(TsTarget *target)
{
    if (!target)
        return;
    free(target->text);
    free(target->triple);
    free(target->cpu);
    free(target->features);
    free(target->feature_set);
    free(target);
}

/* ---- the target machine ---- */

static LLVMCodeGenOptLevel codegen_level(int opt_level)
{
    switch (opt_level) {
    case 0: return LLVMCodeGenLevelNone;
    case 1: return LLVMCodeGenLevelLess;
    case 2: return LLVMCodeGenLevelDefault;
    default: return LLVMCodeGenLevelAggressive;
    }
}

LLVMTargetMachineRef cg_target_machine(const TsTarget *target, TsError *err)
{
    LLVMTargetRef llvm_target;
    char *message = NULL;
    cg_llvm_init();
    if (LLVMGetTargetFromTriple(target->triple, &llvm_target, &message)) {
        ts_fail(err, TS_ECODEGEN, "target %s: %s", target->triple,
                message ? message : "unknown to LLVM");
        LLVMDisposeMessage(message);
        return NULL;
    }
    LLVMTargetMachineRef tm = LLVMCreateTargetMachine(
        llvm_target, target->triple, target->cpu, target->features,
        codegen_level(target->opt_level), LLVMRelocPIC, LLVMCodeModelDefault);
    if (!tm)
        ts_fail(err, TS_ECODEGEN, "target %s: LLVM cannot create a target machine for CPU %s",
                target->triple, target->cpu);
    return tm;
}

bool ts_target_supports_intrin(const TsTarget *target, const TsIntrin *intrin,
                               const char **missing)
{
    for (int i = 0; i < ts_intrin_num_features(intrin); i++) {
        if (!ts_target_has_feature(target, ts_intrin_feature(intrin, i))) {
            if (missing)
                *missing = ts_intrin_feature(intrin, i);
            return false;
        }
    }
    return target && intrin;
}
