import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';
import { builtinModules } from 'node:module';

// Workflow code runs in Temporal's deterministic sandbox: no Node built-ins, no I/O libraries, only
// @temporalio/workflow and type-only imports.
const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

// Product code is linted with type information: a promise nobody awaits, or one passed where a callback's result is
// ignored, is how a step silently runs on after its activity has returned.
const product = ['lib/**/*.ts', 'workflows/**/*.ts', 'activities/**/*.ts', 'workers/**/*.ts', 'scripts/**/*.ts', 'dev/**/*.ts'];

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.orchard/', 'out/', 'bench/results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked.map((config) => ({ ...config, files: product })),
  {
    files: product,
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      // Product code never depends on tests or benchmarks (tsconfig.json compiles it without them).
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { patterns: [{ regex: '(^|/)(test|bench)/', message: 'Product code must not import tests or benchmarks.' }] },
      ],
    },
  },
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'Workflow code must be deterministic: do I/O in an activity.' })),
          patterns: [
            {
              regex: '^(?!@temporalio/workflow$|\\.\\.?/)',
              message: 'Workflows may import only @temporalio/workflow and type-only project modules.',
            },
            {
              regex: '^\\.\\./',
              allowTypeImports: true,
              message: 'Import project modules into workflows with `import type` only.',
            },
          ],
        },
      ],
    },
  },
);
