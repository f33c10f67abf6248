// The search attributes Orchard runs carry (workflows/searchAttributes.ts), and how a server learns them: `orchard
// server` and the tests register them; on another server, `temporal operator search-attribute create` (README,
// "Finding runs").
import { runSearchAttributes } from '../../workflows/searchAttributes.js';

export { runSearchAttributes };

/** The type names `temporal` takes for them. */
const cliTypeName = { KEYWORD: 'Keyword', INT: 'Int' } as const;

/** Each attribute's name and its type as `temporal operator search-attribute create --type` takes it. */
export const searchAttributeDefinitions = Object.values(runSearchAttributes).map((key) => ({ name: key.name, type: cliTypeName[key.type] }));

/** `--search-attribute` flags that register them on `temporal server start-dev`. */
export const searchAttributeFlags: string[] = searchAttributeDefinitions.flatMap(({ name, type }) => ['--search-attribute', `${name}=${type}`]);

/** The commands that register them on a server that lacks them. */
export const createSearchAttributeCommands: string[] = searchAttributeDefinitions.map(
  ({ name, type }) => `temporal operator search-attribute create --name ${name} --type ${type}`,
);
