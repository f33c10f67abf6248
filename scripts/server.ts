// `npm run server`: the local Temporal dev server with its Web UI and a persistent SQLite file, until Ctrl-C.
import { startDevServer } from '../dev/devServer.js';

const port = Number(process.env.TEMPORAL_PORT || 7233);
const uiPort = Number(process.env.TEMPORAL_UI_PORT || 8233);
const server = await startDevServer({ port, uiPort, foreground: true });
console.log(`Temporal dev server on ${server.address}, Web UI at ${server.uiUrl}; Ctrl-C stops it`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void server.stop().then(() => process.exit(0)));
}
await new Promise((resolve) => server.process.once('exit', resolve));
