/* Task extraction (ts_graph_extract_tasks): the tuning tasks of a whole model. After the
 * graph passes, every anchored group's anchor with a template workload (workload.c)
 * becomes a task; groups with the same workload share one (a ResNet's repeated blocks
 * are tuned once), and the tasks are ordered by their share of the model's estimated
 * time, flop * count, so that a bounded tuning budget goes where the time goes. */
#include <stdlib.h>
#include <string.h>

#include "relay_lite/rly_build.h"

static int by_time(const void *a, const void *b)
{
    const TsGraphTask *x = a, *y = b;
    double tx = x->flop * x->count, ty = y->flop * y->count;
    return (tx < ty) - (tx > ty);
}

/* The task of workload in the list, added when it is new. */
static void add_task(TsGraphTask *tasks, int *num, const RlyWorkload *w, const RlyNode *node)
{
    for (int i = 0; i < *num; i++)
        if (!strcmp(tasks[i].op, w->op) && ts_template_args_equal(&tasks[i].args, &w->args)) {
            tasks[i].count++;
            return;
        }
    TsGraphTask *t = &tasks[(*num)++];
    memset(t, 0, sizeof *t);
    memcpy(t->op, w->op, sizeof t->op);
    t->args = w->args;
    t->flop = w->flop;
    t->count = 1;
    strncpy(t->node, node->label, sizeof t->node - 1);
}

TsStatus ts_graph_extract_tasks(TsGraph *graph, TsGraphTask **tasks, int *num_tasks, TsError *err)
{
    if (!graph || !tasks || !num_tasks)
        return ts_fail(err, TS_EINVAL, "extract tasks: a NULL argument");
    *tasks = NULL;
    *num_tasks = 0;
    if (!graph->groups) {
        TsStatus st = ts_graph_optimize(graph, NULL, err);
        if (st != TS_OK)
            return st;
    }
    TsGraphTask *list = calloc((size_t)graph->num_groups + 1, sizeof *list);
    if (!list)
        return ts_fail(err, TS_ENOMEM, "extract tasks: out of memory");
    int num = 0;
    for (int g = 0; g < graph->num_groups; g++) {
        const RlyGroup *group = graph->groups[g];
        RlyWorkload w;
        if (group->kind == RLY_GROUP_ANCHORED && group->anchor &&
            rly_node_workload(graph, group->anchor, &w))
            add_task(list, &num, &w, group->anchor);
    }
    qsort(list, (size_t)num, sizeof *list, by_time);
    *tasks = list;
    *num_tasks = num;
    return TS_OK;
}
