// Test-only seam, like the crash drill: with ORCHARD_FAULT_INJECTION set (e.g. `featurizePartition=transient*3,fitPca=fatal`),
// the named activities fail on purpose the way a real fault would, before their body runs. Installed as an activity
// interceptor only when the variable is set, so production workers run no fault code at all.
import { ApplicationFailure } from '@temporalio/common';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';

/** A fault injected on purpose: `step=transient*N` (the first N attempts fail, retryable) or `step=fatal`. */
export interface FaultRule {
  step: string;
  kind: 'transient' | 'fatal';
  /** Transient faults: how many attempts of each activity of the step fail before one succeeds. */
  attempts: number;
}

/** Fault rules from ORCHARD_FAULT_INJECTION; empty when it is unset. */
export function loadFaultRules(env: NodeJS.ProcessEnv = process.env): FaultRule[] {
  const spec = env.ORCHARD_FAULT_INJECTION?.trim();
  if (!spec) return [];
  return spec.split(',').map((rule) => {
    const match = /^(\w+)=(transient(?:\*(\d+))?|fatal)$/.exec(rule.trim());
    if (!match) throw new Error(`ORCHARD_FAULT_INJECTION: "${rule}" is not step=transient*N or step=fatal; unset it in production`);
    return { step: match[1], kind: match[2] === 'fatal' ? 'fatal' : 'transient', attempts: Number(match[3] ?? 1) };
  });
}

/** The activity interceptors that inject `rules`' faults; none when there are no rules. */
export function faultInjectionInterceptors(rules: FaultRule[]): ActivityInterceptorsFactory[] {
  if (rules.length === 0) return [];
  return [
    (context) => ({
      inbound: {
        async execute(input, next) {
          const { activityType: step, attempt } = context.info;
          const rule = rules.find((r) => r.step === step);
          if (rule?.kind === 'fatal') throw ApplicationFailure.nonRetryable(`${step}: injected fatal fault`, 'InjectedFault');
          if (rule && attempt <= rule.attempts) {
            throw ApplicationFailure.retryable(`${step}: injected transient fault (attempt ${attempt} of ${rule.attempts})`, 'InjectedFault');
          }
          return next(input);
        },
      },
    }),
  ];
}
