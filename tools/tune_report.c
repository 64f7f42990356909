/* The autotuning subcommands' shared parts: KEY=VALUE words into template arguments (a
 * bitserial encoding by name or number), the list of templates, and the reports on a
 * tuning log: `tessera tune --summary FILE` (the
 * best record of each task) and `tessera tune --plot FILE -o SVG` (the best-so-far
 * GFLOPS of each task against the trial number). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tessera/ops.h"
#include "tools.h"
#include "tune_tools.h"

/* encoding=NAME of the bitserial operators (01x01, 01xpm1, pm1xpm1: ops.h's names) as
 * the number the templates take; false for any other word. */
static bool parse_encoding(const char *word, TsTemplateArgs *args)
{
    const char *prefix = "encoding=";
    if (strncmp(word, prefix, strlen(prefix)) != 0)
        return false;
    for (int e = TS_BITSERIAL_01_01; e <= TS_BITSERIAL_PM1_PM1; e++)
        if (strcmp(word + strlen(prefix), ts_bitserial_encoding_name((TsBitserialEncoding)e)) == 0)
            return ts_template_args_set(args, "encoding", e, NULL) == TS_OK;
    return false;
}

bool tune_tool_parse_pairs(const char *program, int num_words, char *const *words,
                           TsTemplateArgs *args)
{
    for (int i = 0; i < num_words; i++) {
        TsError err;
        if (parse_encoding(words[i], args))
            continue;
        if (ts_template_args_parse(args, words[i], &err) != TS_OK) {
            fprintf(stderr, "%s: %s\n", program, err.message);
            return false;
        }
    }
    return true;
}

/* One template per line: name, op, arguments, dtypes, the features it needs, priority. */
void tune_tool_list_templates(FILE *out)
{
    for (int i = 0; i < ts_template_count(); i++) {
        const TsTemplate *t = ts_template_at(i);
        fprintf(out, "%-22s op %-18s", t->name, t->op);
        for (int k = 0; t->arg_names && t->arg_names[k]; k++)
            fprintf(out, " %s", t->arg_names[k]);
        fputs("  dtypes", out);
        for (int d = 0; t->dtypes && t->dtypes[d]; d++)
            fprintf(out, " %s", t->dtypes[d]);
        fputs(t->dtypes ? "" : " float32", out);
        fputs("  needs", out);
        for (int f = 0; t->features && t->features[f]; f++)
            fprintf(out, " %s", t->features[f]);
        fputs(t->features && t->features[0] ? "" : " nothing", out);
        fprintf(out, "  priority %d\n    %s\n", t->priority, t->summary ? t->summary : "");
    }
}

/* ---- reading a log into tasks ---- */

enum { MAX_TASKS = 64, MAX_POINTS = 100000 };

/* The records of one task in log order. */
typedef struct TaskRecords {
    char key[2048]; /* target | template | args | dtype */
    char label[1536];
    double flop;
    int trials;
    int errors;
    TsTuneRecord best;
    double best_cost;
    int num_points;
    double *best_gflops; /* best-so-far after each trial */
} TaskRecords;

typedef struct LogTasks {
    int num;
    TaskRecords task[MAX_TASKS];
    int num_dropped; /* records of tasks past MAX_TASKS */
    int num_damaged;
} LogTasks;

static void record_key(const TsTuneRecord *r, char *key, size_t size, char *label,
                       size_t label_size)
{
    char args[256];
    ts_template_args_str(&r->args, args, sizeof args);
    snprintf(key, size, "%s|%s|%s|%s", r->target, r->template_name, args, r->dtype);
    snprintf(label, label_size, "%s %s (%s)", r->template_name, args, r->target);
}

static TaskRecords *find_task(LogTasks *tasks, const TsTuneRecord *r)
{
    char key[2048], label[1536];
    record_key(r, key, sizeof key, label, sizeof label);
    for (int i = 0; i < tasks->num; i++)
        if (strcmp(tasks->task[i].key, key) == 0)
            return &tasks->task[i];
    if (tasks->num == MAX_TASKS)
        return NULL;
    TaskRecords *t = &tasks->task[tasks->num++];
    memset(t, 0, sizeof *t);
    snprintf(t->key, sizeof t->key, "%s", key);
    snprintf(t->label, sizeof t->label, "%s", label);
    const TsTemplate *tmpl = ts_template_find(r->template_name);
    t->flop = tmpl && tmpl->flop ? tmpl->flop(&r->args) : 0.0;
    t->best_cost = INFINITY;
    return t;
}

static bool add_record(const TsTuneRecord *r, void *user)
{
    LogTasks *tasks = user;
    TaskRecords *t = find_task(tasks, r);
    if (!t) {
        tasks->num_dropped++;
        return true;
    }
    t->trials++;
    double cost = ts_measure_mean_cost(&r->result);
    if (r->result.error_no != TS_MEASURE_OK)
        t->errors++;
    else if (cost < t->best_cost) {
        t->best_cost = cost;
        t->best = *r;
    }
    if (t->num_points < MAX_POINTS) {
        if (t->num_points % 1024 == 0) {
            double *grown = realloc(t->best_gflops, (size_t)(t->num_points + 1024) * sizeof *grown);
            if (!grown)
                return false;
            t->best_gflops = grown;
        }
        double gflops = isfinite(t->best_cost) && t->flop > 0 ? t->flop / t->best_cost * 1e-9 : 0;
        t->best_gflops[t->num_points++] = gflops;
    }
    return true;
}

static void warn_line(const char *message, void *user)
{
    (void)user;
    fprintf(stderr, "tessera tune: %s\n", message);
}

static int read_tasks(const char *log_path, LogTasks *tasks)
{
    TsError err;
    memset(tasks, 0, sizeof *tasks);
    if (ts_tune_log_read(log_path, add_record, tasks, warn_line, NULL, &tasks->num_damaged,
                         &err) != TS_OK) {
        fprintf(stderr, "tessera tune: %s\n", err.message);
        return TOOL_EXIT_FAILED;
    }
    if (tasks->num_dropped)
        fprintf(stderr, "tessera tune: %s: %d records of tasks beyond the first %d left out\n",
                log_path, tasks->num_dropped, MAX_TASKS);
    return TOOL_EXIT_OK;
}

static void free_tasks(LogTasks *tasks)
{
    for (int i = 0; i < tasks->num; i++)
        free(tasks->task[i].best_gflops);
}

int tune_tool_summary(const char *log_path)
{
    LogTasks *tasks = malloc(sizeof *tasks);
    if (!tasks) {
        fputs("tessera tune: out of memory\n", stderr);
        return TOOL_EXIT_FAILED;
    }
    int status = read_tasks(log_path, tasks);
    if (status == TOOL_EXIT_OK) {
        printf("%s: %d task%s%s\n", log_path, tasks->num, tasks->num == 1 ? "" : "s",
               tasks->num_damaged ? " (damaged lines skipped, see above)" : "");
        for (int i = 0; i < tasks->num; i++) {
            const TaskRecords *t = &tasks->task[i];
            printf("\n%s\n  trials %d, errors %d\n", t->label, t->trials, t->errors);
            if (!isfinite(t->best_cost)) {
                printf("  best: none succeeded\n");
                continue;
            }
            printf("  best: %.2f GFLOPS, %.4f ms, config %lld\n",
                   t->flop > 0 ? t->flop / t->best_cost * 1e-9 : 0.0, t->best_cost * 1e3,
                   (long long)t->best.index);
            printf("  entity: %s\n", t->best.entity);
        }
    }
    free_tasks(tasks);
    free(tasks);
    return status;
}

/* ---- the SVG chart ---- */

enum { SVG_W = 760, SVG_H = 440, PAD_L = 70, PAD_R = 20, PAD_T = 40, PAD_B = 60 };

static const char *const line_colors[] = { "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                           "#9467bd", "#8c564b", "#e377c2", "#17becf" };

/* Writes s with the five XML special characters escaped. */
static void put_xml(FILE *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '&': fputs("&amp;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&apos;", out); break;
        default: fputc(*s, out);
        }
    }
}

/* A round step for about five ticks up to max. */
static double tick_step(double max)
{
    double raw = max / 5.0, mag = pow(10.0, floor(log10(raw)));
    double unit = raw / mag;
    return mag * (unit <= 1 ? 1 : unit <= 2 ? 2 : unit <= 5 ? 5 : 10);
}

static void svg_axes(FILE *out, int max_trials, double max_gflops)
{
    const double plot_w = SVG_W - PAD_L - PAD_R, plot_h = SVG_H - PAD_T - PAD_B;
    fprintf(out, "<rect x='%d' y='%d' width='%g' height='%g' fill='white' stroke='#444'/>\n",
            PAD_L, PAD_T, plot_w, plot_h);
    double ystep = tick_step(max_gflops);
    for (double v = 0; v <= max_gflops + 1e-9; v += ystep) {
        double y = PAD_T + plot_h - v / max_gflops * plot_h;
        fprintf(out, "<line x1='%d' x2='%g' y1='%.1f' y2='%.1f' stroke='#ddd'/>\n", PAD_L,
                PAD_L + plot_w, y, y);
        fprintf(out, "<text x='%d' y='%.1f' text-anchor='end' font-size='12'>%g</text>\n",
                PAD_L - 6, y + 4, v);
    }
    double xstep = tick_step(max_trials > 1 ? max_trials : 2);
    if (xstep < 1)
        xstep = 1;
    for (double t = 0; t <= max_trials + 1e-9; t += xstep) {
        double x = PAD_L + t / max_trials * plot_w;
        fprintf(out, "<line x1='%.1f' x2='%.1f' y1='%d' y2='%g' stroke='#ddd'/>\n", x, x,
                PAD_T, PAD_T + plot_h);
        fprintf(out, "<text x='%.1f' y='%g' text-anchor='middle' font-size='12'>%g</text>\n",
                x, PAD_T + plot_h + 18, t);
    }
    fprintf(out, "<text x='%g' y='%d' text-anchor='middle' font-size='13'>trial</text>\n",
            PAD_L + plot_w / 2, SVG_H - 22);
    fprintf(out, "<text x='16' y='%g' text-anchor='middle' font-size='13' "
                 "transform='rotate(-90 16 %g)'>best GFLOPS so far</text>\n",
            PAD_T + plot_h / 2, PAD_T + plot_h / 2);
}

static void svg_series(FILE *out, const TaskRecords *t, int index, int max_trials,
                       double max_gflops)
{
    const double plot_w = SVG_W - PAD_L - PAD_R, plot_h = SVG_H - PAD_T - PAD_B;
    const char *color = line_colors[index % (int)(sizeof line_colors / sizeof line_colors[0])];
    fprintf(out, "<polyline fill='none' stroke='%s' stroke-width='2' points='", color);
    for (int i = 0; i < t->num_points; i++) {
        double x = PAD_L + (double)(i + 1) / max_trials * plot_w;
        double y = PAD_T + plot_h - t->best_gflops[i] / max_gflops * plot_h;
        fprintf(out, "%.1f,%.1f ", x, y);
    }
    fputs("'/>\n", out);
    double ly = PAD_T + 16 + 16 * index;
    fprintf(out, "<rect x='%d' y='%.0f' width='12' height='3' fill='%s'/>\n", PAD_L + 10,
            ly - 4, color);
    fprintf(out, "<text x='%d' y='%.0f' font-size='12'>", PAD_L + 28, ly);
    put_xml(out, t->label);
    fputs("</text>\n", out);
}

static int write_svg(const LogTasks *tasks, const char *log_path, const char *svg_path)
{
    int max_trials = 1;
    double max_gflops = 0;
    for (int i = 0; i < tasks->num; i++) {
        const TaskRecords *t = &tasks->task[i];
        if (t->num_points > max_trials)
            max_trials = t->num_points;
        if (t->num_points > 0 && t->best_gflops[t->num_points - 1] > max_gflops)
            max_gflops = t->best_gflops[t->num_points - 1];
    }
    max_gflops = max_gflops > 0 ? max_gflops * 1.1 : 1.0;
    FILE *out = fopen(svg_path, "w");
    if (!out) {
        fprintf(stderr, "tessera tune: cannot write %s: %s\n", svg_path, strerror(errno));
        return TOOL_EXIT_FAILED;
    }
    fprintf(out, "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' "
                 "font-family='sans-serif'>\n<rect width='100%%' height='100%%' fill='#fafafa'/>\n",
            SVG_W, SVG_H);
    fprintf(out, "<text x='%d' y='24' font-size='15'>Tuning curve: ", PAD_L);
    put_xml(out, log_path);
    fputs("</text>\n", out);
    svg_axes(out, max_trials, max_gflops);
    for (int i = 0; i < tasks->num; i++)
        svg_series(out, &tasks->task[i], i, max_trials, max_gflops);
    fputs("</svg>\n", out);
    if (ferror(out) | (fclose(out) != 0)) {
        fprintf(stderr, "tessera tune: writing %s failed\n", svg_path);
        return TOOL_EXIT_FAILED;
    }
    return TOOL_EXIT_OK;
}

int tune_tool_plot(const char *log_path, const char *svg_path)
{
    LogTasks *tasks = malloc(sizeof *tasks);
    if (!tasks) {
        fputs("tessera tune: out of memory\n", stderr);
        return TOOL_EXIT_FAILED;
    }
    int status = read_tasks(log_path, tasks);
    if (status == TOOL_EXIT_OK && tasks->num == 0) {
        fprintf(stderr, "tessera tune: %s holds no records to plot\n", log_path);
        status = TOOL_EXIT_FAILED;
    }
    if (status == TOOL_EXIT_OK)
        status = write_svg(tasks, log_path, svg_path);
    if (status == TOOL_EXIT_OK)
        printf("%s: the best-so-far curves of %d task%s\n", svg_path, tasks->num,
               tasks->num == 1 ? "" : "s");
    free_tasks(tasks);
    free(tasks);
    return status;
}
