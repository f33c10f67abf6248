// `npm run schedule -- <create|update|describe|pause|unpause|delete|trigger> --id <schedule id> [options]`:
// a Temporal Schedule that runs imagePipeline, nightly by default.
import { parseArgs } from 'node:util';
import { ScheduleOverlapPolicy } from '@temporalio/client';
import { connectClient, runMetadata, withSearchAttributesIfKnown } from '../lib/temporal/client.js';
import { loadWorkerConfig } from '../lib/config.js';
import { InputError } from '../lib/errors.js';
import { imagePipeline } from '../workflows/imagePipeline.js';
import { parsePipelineArgs, runCommand } from './cli.js';

const usage = `usage: npm run schedule -- <create|update|describe|pause|unpause|delete|trigger> --id <schedule id>
  create and update also take: --source ... --output ... [pipeline options] [--cron '0 2 * * *'] [--timezone UTC]
                               [--catchup-window 1d] [--full]   (scheduled runs are incremental unless --full)`;

const scheduleOptions = {
  id: { type: 'string' },
  cron: { type: 'string' },
  timezone: { type: 'string' },
  'catchup-window': { type: 'string' },
} as const;

/** Split the command line into the subcommand, the schedule's own options and the pipeline options. */
function parseScheduleArgs(argv: string[]) {
  const [command, ...flags] = argv;
  // Scheduled runs are incremental unless --full asks to reprocess every image each time.
  const full = flags.includes('--full');
  const rest = flags.filter((flag) => flag !== '--full');
  const commands = ['create', 'update', 'describe', 'pause', 'unpause', 'delete', 'trigger'];
  if (!commands.includes(command)) throw new InputError(`unknown or missing command ${JSON.stringify(command ?? '')}\n${usage}`);
  const pipelineArgs: string[] = [];
  const scheduleArgs: string[] = [];
  for (let i = 0; i < rest.length; i += 2) {
    const name = rest[i].replace(/^--/, '');
    (name in scheduleOptions ? scheduleArgs : pipelineArgs).push(rest[i], rest[i + 1] ?? '');
  }
  const { values } = parseArgs({ args: scheduleArgs, options: scheduleOptions, strict: true });
  if (!values.id) throw new InputError(`--id is required\n${usage}`);
  const wantsPipeline = command === 'create' || command === 'update';
  if (!wantsPipeline && pipelineArgs.length > 0) throw new InputError(`${command} takes only --id\n${usage}`);
  return {
    command,
    id: values.id,
    cron: values.cron ?? '0 2 * * *',
    timezone: values.timezone ?? 'UTC',
    catchupWindow: values['catchup-window'] ?? '1d',
    pipeline: wantsPipeline ? { ...parsePipelineArgs(pipelineArgs).input, incremental: !full } : undefined,
  };
}

await runCommand(async () => {
  const args = parseScheduleArgs(process.argv.slice(2));
  const config = loadWorkerConfig();
  const client = await connectClient(config.address, config.namespace);
  try {
    const handle = client.schedule.getHandle(args.id);
    const spec = { cronExpressions: [args.cron], timezone: args.timezone };
    // Overlap SKIP: a night whose run is still going does not start a second one on the same output.
    const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: args.catchupWindow };
    // Scheduled runs carry the same summary, details and search attributes as runs started by `orchard pipeline`.
    const { typedSearchAttributes, ...metadata } = args.pipeline ? runMetadata(args.pipeline) : { typedSearchAttributes: [] };
    const action = (withAttributes: boolean) => ({
      type: 'startWorkflow' as const,
      workflowType: imagePipeline.name,
      taskQueue: config.taskQueue,
      workflowId: `orchard-${args.id}`,
      args: [args.pipeline],
      ...metadata,
      ...(withAttributes ? { typedSearchAttributes } : {}),
    });
    const warn = (line: string) => console.error(`warning: ${line}`);
    switch (args.command) {
      case 'create':
        await withSearchAttributesIfKnown(
          (withAttributes) => client.schedule.create({ scheduleId: args.id, spec, action: action(withAttributes), policies }),
          warn,
        );
        console.log(`created schedule ${args.id}: ${args.cron} (${args.timezone}), overlap SKIP, catch-up window ${args.catchupWindow}`);
        break;
      case 'update':
        await withSearchAttributesIfKnown(
          (withAttributes) =>
            handle.update((previous) => ({ ...previous, spec, action: action(withAttributes), policies: { ...previous.policies, ...policies } })),
          warn,
        );
        console.log(`updated schedule ${args.id}`);
        break;
      case 'describe': {
        const description = await handle.describe();
        console.log(
          JSON.stringify(
            {
              id: args.id,
              spec: description.spec,
              paused: description.state.paused,
              note: description.state.note,
              nextActionTimes: description.info.nextActionTimes,
              recentActions: description.info.recentActions.map((a) => ({ takenAt: a.takenAt, workflowId: a.action.workflow.workflowId })),
            },
            null,
            2,
          ),
        );
        break;
      }
      case 'pause':
        await handle.pause('paused with npm run schedule');
        console.log(`paused schedule ${args.id}`);
        break;
      case 'unpause':
        await handle.unpause('unpaused with npm run schedule');
        console.log(`unpaused schedule ${args.id}`);
        break;
      case 'delete':
        await handle.delete();
        console.log(`deleted schedule ${args.id}`);
        break;
      case 'trigger':
        // Like the schedule itself: no second run while one of it is still going (and the output lease refuses one anyway).
        await handle.trigger(ScheduleOverlapPolicy.SKIP);
        console.log(`triggered schedule ${args.id}: a run starts now`);
        break;
    }
  } finally {
    await client.connection.close();
  }
});
