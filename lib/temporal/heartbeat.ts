import { Context } from '@temporalio/activity';

/**
 * Heartbeat from an activity, with progress details. Local activities have no heartbeat (the worker's workflow task
 * stands for their liveness, and the server would refuse it), so for them this does nothing.
 */
export function heartbeatProgress(details?: unknown): void {
  const context = Context.current();
  if (!context.info.isLocal) context.heartbeat(details);
}
