/* `tessera lower OP [KEY=VALUE ...] [--schedule NAME] [--dtype DTYPE] [--show WHAT]
 * [--scalar-fallback]`:
 * builds an operator of the library with the given shapes, applies a schedule, lowers
 * it with ts_lower and prints the loop nest, as tvm.lower(..., simple_mode=True) does.
 *
 * The command line is read in two steps: first its shape (options, the operator name,
 * KEY=VALUE words), whose faults are usage errors (exit 2); then its meaning against the
 * tables of lower_ops.c and lower_schedules.c (the operator, its keys and values, the
 * schedule, the dtype), whose faults, like a refused primitive or a failed lowering, exit
 * 1. Every message starts with "tessera lower: " and names the culprit. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "tools.h"

typedef enum Show { SHOW_LOOPS, SHOW_DAG, SHOW_SCHEDULE, SHOW_ALL } Show;

enum { MAX_ARGS = 64 };

/* The command line after the first step, before it is checked against the tables. */
typedef struct CommandLine {
    bool help;
    const char *op_name;
    const char *schedule;
    const char *dtype;
    Show show;
    bool scalar_fallback;
    int num_pairs;
    const char *pairs[MAX_ARGS]; /* the KEY=VALUE words, in order */
} CommandLine;

/* The checked request. */
typedef struct Request {
    const ToolOp *op;
    ToolArgs args;
    const ToolSchedule *schedule;
    TsDType dtype;
    Show show;
    bool scalar_fallback;
} Request;

static const char *const show_words[] = { "loops", "dag", "schedule", "all" };

static int fail(int status, const char *fmt, ...) TS_PRINTF_LIKE(2, 3);

/* Prints "tessera lower: <message>" to stderr and returns the exit status. */
static int fail(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("tessera lower: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return status;
}

/* ---- help ---- */

/* The default of key as the listing shows it. */
static const char *default_text(const ToolKey *key, char buf[32])
{
    if (key->required)
        return "required";
    if (key->def_text)
        return key->def_text;
    if (key->kind == TOOL_KEY_WORD)
        return key->words[key->def];
    snprintf(buf, 32, "%lld", (long long)key->def);
    return buf;
}

/* One line of keys: "M* N* K* trans_a=0 ... [size]". */
static void print_key_line(FILE *out, const ToolOp *op)
{
    char buf[32];
    for (int i = 0; i < tool_num_keys(op); i++) {
        const ToolKey *key = &op->keys[i];
        if (i)
            fputc(' ', out);
        if (key->required)
            fprintf(out, "%s*", key->name);
        else if (key->def_text && strcmp(key->def_text, "-") == 0)
            fprintf(out, "[%s]", key->name);
        else
            fprintf(out, "%s=%s", key->name, default_text(key, buf));
    }
}

static void print_schedule_names(FILE *out, const ToolOp *op)
{
    fputs("default", out);
    for (int i = 0; i < TOOL_MAX_SCHEDULES && op->schedules[i]; i++)
        fprintf(out, ", %s", op->schedules[i]);
}

static void print_usage_line(FILE *out)
{
    fputs("usage: tessera lower OP [KEY=VALUE ...] [--schedule NAME] [--dtype DTYPE]\n"
          "                        [--show loops|dag|schedule|all] [--scalar-fallback]\n",
          out);
}

/* The whole listing: usage, options, every operator with its keys and schedules. */
static void print_help(FILE *out)
{
    print_usage_line(out);
    fputs("\nBuilds operator OP of the operator library with the shapes given as KEY=VALUE,\n"
          "applies a schedule, lowers it and prints the loop nest.\n\n"
          "options:\n"
          "  --schedule NAME  default (no primitives) or one of the operator's schedules\n"
          "  --dtype DTYPE    element type: float32 (the default), float64, float16, int8,\n"
          "                   int16, int32, int64, uint8, uint16, uint32, uint64, bool\n"
          "  --show WHAT      loops (the default): the lowered loop nest; dag: the tensor\n"
          "                   expressions; schedule: the primitives applied; all: all three\n"
          "  --scalar-fallback  keep a vectorized loop that cannot become vector code as\n"
          "                   a scalar loop (with a note) instead of failing\n"
          "  -h, --help       this listing; `tessera lower OP --help` describes one operator\n"
          "\noperators (KEY* is required, [KEY] optional, KEY=V defaults to V):\n",
          out);
    for (int i = 0; i < tool_num_ops(); i++) {
        const ToolOp *op = tool_op(i);
        fprintf(out, "  %-8s %s\n           keys: ", op->name, op->summary);
        print_key_line(out, op);
        fputs("\n           schedules: ", out);
        print_schedule_names(out, op);
        fputc('\n', out);
    }
    fputs("\nexit status: 0 done; 1 the request failed (unknown operator, key or schedule, a bad\n"
          "value, a primitive or the lowering refused); 2 the command line cannot be parsed\n",
          out);
}

/* `tessera lower OP --help`: one operator's keys and schedules in full. */
static void print_op_help(FILE *out, const ToolOp *op)
{
    char buf[32];
    fprintf(out, "tessera lower %s: %s\n\nkeys:\n", op->name, op->summary);
    for (int i = 0; i < tool_num_keys(op); i++) {
        const ToolKey *key = &op->keys[i];
        fprintf(out, "  %-10s %s (", key->name, key->help);
        if (key->kind == TOOL_KEY_WORD)
            for (int w = 0; w < TOOL_MAX_WORDS && key->words[w]; w++)
                fprintf(out, "%s%s", w ? "|" : "", key->words[w]);
        else
            fputs(key->kind == TOOL_KEY_FLAG ? "0|1" : "integer", out);
        const char *def = default_text(key, buf);
        if (strcmp(def, "-") != 0)
            fprintf(out, ", %s%s", key->required ? "" : "default ", def);
        fputs(")\n", out);
    }
    fputs("\nschedules:\n", out);
    const ToolSchedule *sch = tool_find_schedule("default");
    fprintf(out, "  %-10s %s\n", sch->name, sch->summary);
    for (int i = 0; i < TOOL_MAX_SCHEDULES && op->schedules[i]; i++) {
        sch = tool_find_schedule(op->schedules[i]);
        fprintf(out, "  %-10s %s\n", op->schedules[i], sch ? sch->summary : "");
    }
}

/* ---- step 1: the shape of the command line ---- */

/* Matches --name VALUE and --name=VALUE at argv[*i]. Returns 1 with *value set (and *i
 * past the value), 0 when argv[*i] is another word, -1 when the value is missing. */
static int option(int argc, char **argv, int *i, const char *name, const char **value)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return 0;
    if (argv[*i][n] == '=') {
        *value = argv[*i] + n + 1;
        return 1;
    }
    if (argv[*i][n] != '\0')
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *value = argv[++*i];
    return 1;
}

static int parse_show(const char *word, Show *show)
{
    for (int w = 0; w < (int)(sizeof show_words / sizeof show_words[0]); w++)
        if (strcmp(word, show_words[w]) == 0) {
            *show = (Show)w;
            return TOOL_EXIT_OK;
        }
    return fail(TOOL_EXIT_USAGE, "--show '%s': must be loops, dag, schedule or all", word);
}

/* One word that is not an option: the operator name, then KEY=VALUE pairs. */
static int positional(CommandLine *cl, const char *word)
{
    if (!cl->op_name) {
        cl->op_name = word;
        return TOOL_EXIT_OK;
    }
    if (!strchr(word, '=') || word[0] == '=')
        return fail(TOOL_EXIT_USAGE, "argument '%s' is not KEY=VALUE", word);
    if (cl->num_pairs == MAX_ARGS)
        return fail(TOOL_EXIT_USAGE, "more than %d KEY=VALUE arguments", MAX_ARGS);
    cl->pairs[cl->num_pairs++] = word;
    return TOOL_EXIT_OK;
}

/* One option at argv[*i], or the positional word there. */
static int parse_word(CommandLine *cl, int argc, char **argv, int *i)
{
    static const char *const names[] = { "--schedule", "--dtype", "--show" };
    const char *arg = argv[*i], *value = NULL;
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
        cl->help = true;
        return TOOL_EXIT_OK;
    }
    if (strcmp(arg, "--scalar-fallback") == 0) {
        cl->scalar_fallback = true;
        return TOOL_EXIT_OK;
    }
    for (int o = 0; o < 3; o++) {
        int found = option(argc, argv, i, names[o], &value);
        if (found < 0)
            return fail(TOOL_EXIT_USAGE, "option %s needs a value", names[o]);
        if (found == 0)
            continue;
        if (o == 0)
            cl->schedule = value;
        else if (o == 1)
            cl->dtype = value;
        else
            return parse_show(value, &cl->show);
        return TOOL_EXIT_OK;
    }
    if (arg[0] == '-' && arg[1] != '\0')
        return fail(TOOL_EXIT_USAGE, "unknown option '%s' (see tessera lower --help)", arg);
    return positional(cl, arg);
}

static int parse_command_line(int argc, char **argv, CommandLine *cl)
{
    *cl = (CommandLine){ .schedule = "default", .dtype = "float32", .show = SHOW_LOOPS };
    for (int i = 1; i < argc; i++) {
        int status = parse_word(cl, argc, argv, &i);
        if (status != TOOL_EXIT_OK)
            return status;
    }
    return TOOL_EXIT_OK;
}

/* ---- step 2: the meaning, against the tables ---- */

/* A decimal integer without sign or spaces; false for anything else. *too_big is set
 * when the digits exceed int64_t. */
static bool parse_decimal(const char *text, int64_t *value, bool *too_big)
{
    *too_big = false;
    for (const char *p = text; *p; p++)
        if (!isdigit((unsigned char)*p))
            return false;
    if (!text[0])
        return false;
    errno = 0;
    long long v = strtoll(text, NULL, 10);
    *too_big = errno == ERANGE;
    *value = (int64_t)v;
    return true;
}

static int num_words(const ToolKey *key)
{
    int n = 0;
    while (n < TOOL_MAX_WORDS && key->words[n])
        n++;
    return n;
}

/* A word key's value: the index of the word in the key's list. */
static int parse_word_value(const ToolOp *op, const ToolKey *key, const char *text, int64_t *value)
{
    int n = num_words(key);
    for (int w = 0; w < n; w++)
        if (strcmp(text, key->words[w]) == 0) {
            *value = w;
            return TOOL_EXIT_OK;
        }
    fprintf(stderr, "tessera lower: %s: %s=%s: must be %s", op->name, key->name, text,
            key->words[0]);
    for (int w = 1; w < n; w++)
        fprintf(stderr, "%s%s", w + 1 < n ? ", " : " or ", key->words[w]);
    fputc('\n', stderr);
    return TOOL_EXIT_FAILED;
}

/* The value of key in text, checked against the key's kind. */
static int parse_value(const ToolOp *op, const ToolKey *key, const char *text, int64_t *value)
{
    if (key->kind == TOOL_KEY_WORD)
        return parse_word_value(op, key, text, value);
    bool too_big;
    const char *kind = key->kind == TOOL_KEY_POSITIVE ? "a positive integer"
                       : key->kind == TOOL_KEY_COUNT  ? "a non-negative integer"
                                                      : "0 or 1";
    if (!parse_decimal(text, value, &too_big))
        return fail(TOOL_EXIT_FAILED, "%s: %s=%s: not %s", op->name, key->name, text, kind);
    if (key->kind == TOOL_KEY_FLAG && (too_big || *value > 1))
        return fail(TOOL_EXIT_FAILED, "%s: %s=%s: must be 0 or 1", op->name, key->name, text);
    if (too_big || *value > TS_MAX_EXTENT)
        return fail(TOOL_EXIT_FAILED, "%s: %s=%s: larger than the largest extent %lld", op->name,
                    key->name, text, (long long)TS_MAX_EXTENT);
    if (key->kind == TOOL_KEY_POSITIVE && *value < 1)
        return fail(TOOL_EXIT_FAILED, "%s: %s=%s: must be a positive integer", op->name, key->name,
                    text);
    return TOOL_EXIT_OK;
}

static void print_key_names(FILE *out, const ToolOp *op)
{
    for (int i = 0; i < tool_num_keys(op); i++)
        fprintf(out, "%s%s", i ? ", " : "", op->keys[i].name);
}

/* One KEY=VALUE pair into args. */
static int parse_pair(const ToolOp *op, const char *pair, ToolArgs *args)
{
    const char *eq = strchr(pair, '=');
    char name[64];
    size_t len = (size_t)(eq - pair);
    snprintf(name, sizeof name, "%.*s", (int)(len < sizeof name ? len : sizeof name - 1), pair);
    int k = len < sizeof name ? tool_find_key(op, name) : -1;
    if (k < 0) {
        fprintf(stderr, "tessera lower: %s has no key '%.*s' (keys: ", op->name, (int)len, pair);
        print_key_names(stderr, op);
        fputs(")\n", stderr);
        return TOOL_EXIT_FAILED;
    }
    if (args->given[k])
        return fail(TOOL_EXIT_USAGE, "%s: key %s given twice", op->name, name);
    int status = parse_value(op, &op->keys[k], eq + 1, &args->value[k]);
    args->given[k] = status == TOOL_EXIT_OK;
    return status;
}

static int resolve_op(const char *name, const ToolOp **op)
{
    *op = tool_find_op(name);
    if (*op)
        return TOOL_EXIT_OK;
    fprintf(stderr, "tessera lower: unknown operator '%s' (operators:", name);
    for (int i = 0; i < tool_num_ops(); i++)
        fprintf(stderr, "%s %s", i ? "," : "", tool_op(i)->name);
    fputs(")\n", stderr);
    return TOOL_EXIT_FAILED;
}

static int resolve_schedule(const ToolOp *op, const char *name, const ToolSchedule **schedule)
{
    *schedule = tool_find_schedule(name);
    if (*schedule && tool_op_has_schedule(op, name))
        return TOOL_EXIT_OK;
    fprintf(stderr, "tessera lower: %s has no schedule '%s' (schedules: ", op->name, name);
    print_schedule_names(stderr, op);
    fputs(")\n", stderr);
    return TOOL_EXIT_FAILED;
}

static int resolve_dtype(const char *text, TsDType *dtype)
{
    if (ts_dtype_parse(text, dtype) && dtype->lanes == 1)
        return TOOL_EXIT_OK;
    return fail(TOOL_EXIT_FAILED,
                "--dtype '%s': not a scalar type (float32, float64, float16, "
                "int8, int16, int32, int64, uint8, uint16, uint32, uint64, bool)",
                text);
}

static int check_required(const ToolOp *op, const ToolArgs *args)
{
    for (int i = 0; i < tool_num_keys(op); i++)
        if (op->keys[i].required && !args->given[i])
            return fail(TOOL_EXIT_FAILED, "%s: missing required key %s", op->name,
                        op->keys[i].name);
    return TOOL_EXIT_OK;
}

static int resolve(const CommandLine *cl, Request *rq)
{
    *rq = (Request){ .show = cl->show, .scalar_fallback = cl->scalar_fallback };
    int status = resolve_op(cl->op_name, &rq->op);
    for (int i = 0; i < cl->num_pairs && status == TOOL_EXIT_OK; i++)
        status = parse_pair(rq->op, cl->pairs[i], &rq->args);
    if (status == TOOL_EXIT_OK)
        status = check_required(rq->op, &rq->args);
    if (status == TOOL_EXIT_OK)
        status = resolve_schedule(rq->op, cl->schedule, &rq->schedule);
    if (status == TOOL_EXIT_OK)
        status = resolve_dtype(cl->dtype, &rq->dtype);
    return status;
}

/* ---- running the request ---- */

/* The error recorded in the arena (or out of memory when there is none). */
static int fail_arena(const TsArena *arena, const char *what)
{
    const TsError *err = ts_arena_error(arena);
    if (err->status == TS_OK)
        return fail(TOOL_EXIT_FAILED, "%sout of memory", what);
    return fail(TOOL_EXIT_FAILED, "%s%s", what, err->message);
}

/* Prints a section; with --show all each gets a heading. */
static void print_section(const Request *rq, const char *heading, const char *text)
{
    if (rq->show == SHOW_ALL)
        printf("// ---- %s ----\n", heading);
    fputs(text, stdout);
    size_t n = strlen(text);
    if (n > 0 && text[n - 1] != '\n')
        fputc('\n', stdout);
}

/* The schedule's primitives, applied and (when asked) printed. */
static int apply_schedule(TsArena *arena, const Request *rq, TsTensor *output, TsSchedule **sch)
{
    TsError err;
    *sch = ts_schedule_create(arena, 1, &output);
    if (!*sch)
        return fail_arena(arena, "");
    ToolJob job = { .op = rq->op, .args = &rq->args, .output = output, .sch = *sch };
    if (rq->schedule->apply(&job, &err) != TS_OK)
        return fail(TOOL_EXIT_FAILED, "schedule %s: %s", rq->schedule->name, err.message);
    if (rq->show != SHOW_SCHEDULE && rq->show != SHOW_ALL)
        return TOOL_EXIT_OK;
    const char *text = ts_schedule_str(arena, *sch);
    if (!text)
        return fail_arena(arena, "printing the schedule: ");
    print_section(rq, "schedule", text[0] ? text : "// default: no primitives\n");
    return TOOL_EXIT_OK;
}

static int lower_and_print(TsArena *arena, const Request *rq, TsSchedule *sch)
{
    TsError err;
    TsLoweredFunc *func = NULL;
    TsLowerOptions options = { .allow_scalar_fallback = rq->scalar_fallback };
    if (ts_lower_with_options(sch, rq->op->name, &options, &func, &err) != TS_OK)
        return fail(TOOL_EXIT_FAILED, "lowering %s with schedule %s: %s", rq->op->name,
                    rq->schedule->name, err.message);
    const char *text = ts_lowered_str(arena, func);
    if (!text)
        return fail_arena(arena, "printing the loop nest: ");
    print_section(rq, "loop nest", text);
    return TOOL_EXIT_OK;
}

static int run_in(TsArena *arena, const Request *rq)
{
    TsTensor *output = rq->op->build(arena, rq->op, &rq->args, rq->dtype);
    if (!output || !ts_arena_ok(arena))
        return fail_arena(arena, "");
    if (rq->show == SHOW_DAG || rq->show == SHOW_ALL) {
        const char *dag = ts_dag_str(arena, 1, &output);
        if (!dag)
            return fail_arena(arena, "printing the DAG: ");
        print_section(rq, "dag", dag);
    }
    if (rq->show == SHOW_DAG)
        return TOOL_EXIT_OK;
    TsSchedule *sch;
    int status = apply_schedule(arena, rq, output, &sch);
    if (status != TOOL_EXIT_OK || rq->show == SHOW_SCHEDULE)
        return status;
    return lower_and_print(arena, rq, sch);
}

static int help(const CommandLine *cl)
{
    if (!cl->op_name) {
        print_help(stdout);
        return TOOL_EXIT_OK;
    }
    const ToolOp *op;
    int status = resolve_op(cl->op_name, &op);
    if (status == TOOL_EXIT_OK)
        print_op_help(stdout, op);
    return status;
}

int tool_lower(int argc, char **argv)
{
    CommandLine cl;
    int status = parse_command_line(argc, argv, &cl);
    if (status != TOOL_EXIT_OK)
        return status;
    if (cl.help)
        return help(&cl);
    if (!cl.op_name) {
        fputs("tessera lower: no operator given\n\n", stderr);
        print_help(stderr);
        return TOOL_EXIT_USAGE;
    }
    Request rq;
    if ((status = resolve(&cl, &rq)) != TOOL_EXIT_OK)
        return status;
    TsArena *arena = ts_arena_create();
    if (!arena)
        return fail(TOOL_EXIT_FAILED, "out of memory");
    status = run_in(arena, &rq);
    ts_arena_destroy(arena);
    return status;
}
