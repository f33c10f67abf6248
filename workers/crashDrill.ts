// A test-only crash drill for worker processes: with ORCHARD_CRASH_DRILL=<activity>:<operation>:<uri> and
// ORCHARD_CRASH_DRILL_TOKEN=<file>, the process that is about to make that storage mutation inside that activity
// kills itself with SIGKILL, once: the token file is removed first, so the replacement process runs on. Unset in
// production, where nothing is installed.
import fs from 'node:fs';
import { Context } from '@temporalio/activity';
import { beforeStorageMutation } from '../lib/storage/storage.js';

export function installCrashDrill(env: NodeJS.ProcessEnv = process.env): void {
  const spec = env.ORCHARD_CRASH_DRILL;
  const token = env.ORCHARD_CRASH_DRILL_TOKEN;
  if (!spec || !token) return;
  const match = /^(\w+):(write|remove|removeAll|move):(.+)$/.exec(spec);
  if (!match) throw new Error(`ORCHARD_CRASH_DRILL="${spec}" is not <activity>:<write|remove|removeAll|move>:<uri>; unset it outside drills`);
  const [, activity, operation, uri] = match;
  beforeStorageMutation((mutation) => {
    if (mutation.operation !== operation || mutation.uri !== uri) return;
    let current: string;
    try {
      current = Context.current().info.activityType;
    } catch {
      return; // not inside an activity
    }
    if (current !== activity) return;
    try {
      fs.unlinkSync(token);
    } catch {
      return;
    }
    process.kill(process.pid, 'SIGKILL');
  });
}
