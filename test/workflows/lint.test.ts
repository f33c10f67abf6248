// The lint rule that keeps workflow code deterministic must actually fire.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { projectRoot } from '../../lib/paths.js';

async function lintWorkflow(code: string): Promise<string[]> {
  // The code checked is not a file of the TypeScript project, so the type-aware rules are left out; the import rules stay.
  const eslint = new ESLint({ cwd: projectRoot, overrideConfig: tseslint.configs.disableTypeChecked });
  const [result] = await eslint.lintText(code, { filePath: path.join(projectRoot, 'workflows', 'example.ts') });
  return result.messages.map((m) => m.message);
}

test('workflows may not import Node built-ins, I/O libraries or project values', async () => {
  const messages = await lintWorkflow(
    "import fs from 'node:fs';\nimport sharp from 'sharp';\nimport { loadWorkerConfig } from '../lib/config.js';\nexport const all = [fs, sharp, loadWorkerConfig];\n",
  );
  assert.ok(
    messages.some((m) => m.includes("'node:fs'")),
    messages.join('\n'),
  );
  assert.ok(
    messages.some((m) => m.includes("'sharp'")),
    messages.join('\n'),
  );
  assert.ok(
    messages.some((m) => m.includes("'../lib/config.js'")),
    messages.join('\n'),
  );
});

test('workflows may import @temporalio/workflow, sibling workflow files and project types', async () => {
  const messages = await lintWorkflow(
    "import { sleep } from '@temporalio/workflow';\nimport type { RunSummary } from '../lib/contract.js';\nexport { imagePipeline } from './imagePipeline.js';\nexport async function w(): Promise<RunSummary | undefined> {\n  await sleep(1);\n  return undefined;\n}\n",
  );
  assert.deepEqual(messages, []);
});
