/* Shared by the autotuning subcommands of the `tessera` command (cmd_tune.c,
 * cmd_build.c, tune_report.c): reading an operator's KEY=VALUE words and the measure
 * options, and the log reports (`tessera tune --summary`, `--plot`). */
#ifndef TESSERA_TOOLS_TUNE_TOOLS_H
#define TESSERA_TOOLS_TUNE_TOOLS_H

#include <stdbool.h>
#include <stdio.h>

#include "tessera/autotune.h"
#include "tessera/template.h"

/* The subcommands (see tools.h's ToolCommand). */
int tool_tune(int argc, char **argv);
int tool_build(int argc, char **argv);
int tool_run(int argc, char **argv);

/* Adds each KEY=VALUE word to args. Returns false after printing
 * "PROGRAM: MESSAGE" to stderr naming the bad word. */
bool tune_tool_parse_pairs(const char *program, int num_words, char *const *words,
                           TsTemplateArgs *args);

/* Lists the registered templates and their arguments on out. */
void tune_tool_list_templates(FILE *out);

/* `tessera tune --summary FILE`: the best record of each task in the log. Returns the
 * exit status. */
int tune_tool_summary(const char *log_path);
/* `tessera tune --plot FILE -o SVG`: the best-so-far GFLOPS of each task of the log
 * against the trial number, as an SVG line chart. Returns the exit status. */
int tune_tool_plot(const char *log_path, const char *svg_path);

#endif /* TESSERA_TOOLS_TUNE_TOOLS_H */
