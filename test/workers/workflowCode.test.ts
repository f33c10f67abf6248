// Which workflow code a worker loads: the bundle from `npm run build` while it is current, else the sources.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { workflowBundlePath, workflowCode, workflowsPath } from '../../workers/workflowCode.js';
import { tempDir } from '../support/environment.js';

let work: string;

before(async () => {
  work = await tempDir('workflow-code');
});

after(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

test('npm run build leaves a bundle that workers load instead of bundling at start-up', () => {
  assert.deepEqual(workflowCode(), { workflowBundle: { codePath: workflowBundlePath } });
});

test('a workflow file compiled after the bundle, or no bundle at all, makes workers bundle the sources', async () => {
  const sources = path.join(work, 'workflows', 'index.js');
  const bundle = path.join(work, 'workflow-bundle.js');
  await fs.mkdir(path.dirname(sources), { recursive: true });
  await fs.writeFile(path.join(work, 'workflows', 'imagePipeline.js'), '');
  await fs.writeFile(sources, '');
  assert.deepEqual(workflowCode(bundle, sources), { workflowsPath: sources });

  await fs.writeFile(bundle, '');
  const at = (secondsAgo: number) => new Date(Date.now() - secondsAgo * 1000);
  for (const file of ['index.js', 'imagePipeline.js']) await fs.utimes(path.join(work, 'workflows', file), at(60), at(60));
  await fs.utimes(bundle, at(30), at(30));
  assert.deepEqual(workflowCode(bundle, sources), { workflowBundle: { codePath: bundle } });

  // `tsc` alone (an editor, say) recompiles a workflow without bundling it again.
  await fs.utimes(path.join(work, 'workflows', 'imagePipeline.js'), at(0), at(0));
  assert.deepEqual(workflowCode(bundle, sources), { workflowsPath: sources });
  assert.equal(path.basename(workflowsPath), 'index.js');
});
