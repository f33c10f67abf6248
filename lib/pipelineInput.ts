// A run's input, in its two states: what a client sends (the options the user typed, shape-checked) and the run's
// options, resolved once on the worker (every value checked, the defaults of the deployment that runs it filled in).
import path from 'node:path';
import { FEATURE_DIM } from './config.js';
import type { PipelineInput, RunOptions } from './contract.js';
import { InputError } from './errors.js';
import { fileNameMatcher } from './glob.js';
import { s3UriProblem } from './storage/storage.js';

/** Defaults of a pipeline run, applied on the worker wherever an input field is missing. */
export const pipelineDefaults = {
  glob: '*.jpg',
  k: 5,
  partitionSize: 256,
  maxHistoryEvents: 10_000,
  maxImageBytes: 64 * 1024 * 1024,
  incremental: false,
  // Up to here every step after featurizing takes about a second or less, so a server round trip per step costs more
  // than the heartbeats it would carry (bench/README.md, "Figures behind the code").
  localStepsMaxImages: 20_000,
  precision: 'fp32',
} as const satisfies Partial<RunOptions>;

/** What the deployment that resolves a run fills in when the input does not say. */
export interface DeploymentDefaults {
  maxConcurrentPartitions: number;
  featurizeTaskQueue: string;
}

const optionTypes = {
  source: 'string',
  output: 'string',
  glob: 'string',
  k: 'number',
  partitionSize: 'number',
  maxConcurrentPartitions: 'number',
  maxHistoryEvents: 'number',
  maxImageBytes: 'number',
  s3Endpoint: 'string',
  incremental: 'boolean',
  featurizeTaskQueue: 'string',
  localStepsMaxImages: 'number',
  precision: 'string',
} as const satisfies Record<keyof PipelineInput, string>;

const optionNames = Object.keys(optionTypes) as (keyof PipelineInput)[];

/** The problems of the input's shape: not an object, unknown options, missing locations, values of the wrong type. */
function shapeProblems(input: unknown): string[] {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return ['the pipeline input must be a JSON object such as {"source":"<dir or s3://bucket/prefix>","output":"<dir or s3://bucket/prefix>"}'];
  }
  const problems: string[] = [];
  for (const [key, value] of Object.entries(input)) {
    const type = optionTypes[key as keyof PipelineInput] as string | undefined;
    if (!type) problems.push(`unknown option "${key}" (known: ${optionNames.join(', ')})`);
    else if (typeof value !== type) problems.push(`"${key}" must be a ${type}, got ${JSON.stringify(value)}`);
  }
  for (const key of ['source', 'output'] as const) {
    if (!(key in input)) problems.push(`"${key}" is required: a local directory or an s3://bucket/prefix URI`);
  }
  return problems;
}

/**
 * A client's check before it starts a run: the input is an object of known options with values of the right types.
 * Values, defaults and paths are the worker's (resolveRunOptions), so every way of starting a run gets the same rules.
 */
export function checkInputShape(input: unknown): PipelineInput {
  const problems = shapeProblems(input);
  if (problems.length > 0) throw new InputError('invalid pipeline input: ' + problems.join('; '));
  return input as PipelineInput;
}

/** What is wrong with a source or output location, or undefined. */
function locationProblem(key: 'source' | 'output', value: string): string | undefined {
  if (value.trim() === '') return `"${key}" must be a local directory or an s3://bucket/prefix URI`;
  if (value.startsWith('s3://')) {
    const problem = s3UriProblem(value);
    return problem && `"${key}": ${problem}`;
  }
  if (/\p{Cc}/u.test(value)) return `"${key}" ${JSON.stringify(value)} has a control character`;
  // A worker's working folder is not the user's: a relative path would name a folder nobody meant.
  if (!path.isAbsolute(value)) {
    return `"${key}" ${JSON.stringify(value)} is a relative path; give an absolute path (the orchard commands make the paths you type absolute)`;
  }
  return undefined;
}

/** The problems of each value of a well-shaped input with its defaults filled in. */
function valueProblems(options: RunOptions): string[] {
  const problems: string[] = [];
  for (const key of ['source', 'output'] as const) {
    const problem = locationProblem(key, options[key]);
    if (problem) problems.push(problem);
  }
  const whole = (
    key: 'k' | 'partitionSize' | 'maxConcurrentPartitions' | 'maxHistoryEvents' | 'maxImageBytes',
    min: number,
    max: number,
    why = '',
  ) => {
    const v = options[key];
    if (!Number.isInteger(v) || v < min || v > max)
      problems.push(`"${key}" must be a whole number from ${min} to ${max}${why}, got ${JSON.stringify(v)}`);
  };
  whole('k', 1, FEATURE_DIM);
  whole('partitionSize', 1, 10_000);
  whole('maxConcurrentPartitions', 1, 1_000);
  // Each run must hold its start, its listing and a wave of partitions before it continues as new.
  whole('maxHistoryEvents', 100, 40_000, ' (each run continues as new past it)');
  whole('maxImageBytes', 1024, 2 ** 31 - 1);
  const localMax = options.localStepsMaxImages;
  if (!Number.isInteger(localMax) || localMax < 0)
    problems.push(`"localStepsMaxImages" must be a whole number, 0 or more, got ${JSON.stringify(localMax)}`);
  if (options.glob === '' || options.glob.includes('/')) {
    problems.push(`"glob" must be a file-name pattern such as "*.jpg" (no "/"), got ${JSON.stringify(options.glob)}`);
  } else {
    try {
      fileNameMatcher(options.glob);
    } catch (err) {
      problems.push(`"glob": ${(err as Error).message}`);
    }
  }
  if (!/^[^\s\p{Cc}]{1,200}$/u.test(options.featurizeTaskQueue)) {
    problems.push(
      `"featurizeTaskQueue" must be a task queue name (1 to 200 characters, no spaces), got ${JSON.stringify(options.featurizeTaskQueue)}`,
    );
  }
  if (options.precision !== 'fp32' && options.precision !== 'int8') {
    problems.push(`"precision" must be "fp32" or "int8", got ${JSON.stringify(options.precision)}`);
  }
  if (options.s3Endpoint !== undefined && !/^https?:\/\/[^\s/]+\/?$/.test(options.s3Endpoint)) {
    problems.push(`"s3Endpoint" must be a URL such as http://127.0.0.1:9000, got ${JSON.stringify(options.s3Endpoint)}`);
  }
  return problems;
}

/**
 * The run's options, resolved once, on the worker that starts the run: the input checked, every default filled in
 * (the fan-out and the featurize task queue from this deployment), so a schedule made long ago gets today's defaults.
 * Throws InputError naming every problem.
 */
export function resolveRunOptions(input: unknown, deployment: DeploymentDefaults): RunOptions {
  const shape = shapeProblems(input);
  if (shape.length > 0) throw new InputError('invalid pipeline input: ' + shape.join('; '));
  const options: RunOptions = { ...pipelineDefaults, ...deployment, ...(input as PipelineInput) };
  const problems = valueProblems(options);
  if (problems.length > 0) throw new InputError('invalid pipeline input: ' + problems.join('; '));
  return options;
}
