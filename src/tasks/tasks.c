/* tasks.c - the handler table. */
#include "tasks/tasks.h"

#include "queue/worker.h"
#include "tasks/webhook.h"
#include "core/banned.h"

static const struct tasks_env *env;

const struct tasks_env *tasks__env(void)
{
    return env;
}

int tasks_register_all(const struct tasks_env *e)
{
    env = e;
    queue_unregister_all();
    return queue_register(WEBHOOK_TASK_KIND, webhook_deliver);
}
