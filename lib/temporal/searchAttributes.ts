// The search attributes Orchard sets on each run it starts, so runs can be found by dataset and output in the Web UI
// and with `temporal workflow list --query 'OrchardOutput="..."'`. Servers must know them: `orchard server` and the
// tests register them; on another server, `temporal operator search-attribute create` (README, "Finding runs").
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const runSearchAttributes = {
  source: defineSearchAttributeKey('OrchardSource', SearchAttributeType.KEYWORD),
  output: defineSearchAttributeKey('OrchardOutput', SearchAttributeType.KEYWORD),
} as const;

/** `--search-attribute` flags that register them on `temporal server start-dev`. */
export const searchAttributeFlags: string[] = Object.values(runSearchAttributes).flatMap((key) => ['--search-attribute', `${key.name}=Keyword`]);
