// `orchard cluster`: Orchard's production path on this machine, until Ctrl-C: PostgreSQL, the Temporal server on it
// (the configuration temporal-docker/ ships), the `default` namespace with Orchard's search attributes, and the S3
// test server. Data under .orchard/cluster/, kept across restarts. ORCHARD_CLUSTER_PORT chooses the frontend port.
import path from 'node:path';
import { stateDir } from '../lib/paths.js';
import { findFreePortBase, isPortFree } from '../dev/ports.js';
import { startS3Server } from '../dev/s3Server.js';
import { startTemporalCluster, startTemporalUi, temporalPortOffsets, type TemporalUi } from '../dev/temporalCluster.js';
import { runCommand } from './cli.js';

const s3PortOffsets = [...Array(7).keys()].flatMap((i) => [i, 10_000 + i]);

/** `configured` if set, else `preferred` when all its ports are free, else free ports. */
async function ports(configured: string | undefined, preferred: number, offsets: number[]): Promise<number> {
  if (configured) return Number(configured);
  if ((await Promise.all(offsets.map((offset) => isPortFree(preferred + offset)))).every(Boolean)) return preferred;
  return findFreePortBase(offsets);
}

await runCommand(async () => {
  const dir = path.join(stateDir, 'cluster');
  const frontendPort = await ports(process.env.ORCHARD_CLUSTER_PORT, 7233, temporalPortOffsets);
  const postgresPort = await ports(process.env.ORCHARD_CLUSTER_PG_PORT, 5432, [0]);
  const s3Port = await ports(process.env.ORCHARD_S3_PORT, 9000, s3PortOffsets);
  console.log(`starting PostgreSQL on 127.0.0.1:${postgresPort} and the Temporal server (data and logs in ${dir})…`);
  const cluster = await startTemporalCluster({ dir, frontendPort, postgresPort });
  if (cluster.postgres.dataDir !== path.join(dir, 'postgres')) {
    console.log(`PostgreSQL's data is in ${cluster.postgres.dataDir}: its user (postgres) cannot enter ${dir}`);
  }
  const s3 = await startS3Server({ port: s3Port, dataDir: path.join(dir, 'seaweedfs'), buckets: ['orchard'] }).catch(async (err: unknown) => {
    await cluster.stop();
    throw err;
  });
  // The Web UI is a convenience: without it (it could not be built here) the cluster still serves.
  const uiPort = await ports(process.env.ORCHARD_CLUSTER_UI_PORT, 8080, [0]);
  const ui: TemporalUi | undefined = await startTemporalUi(cluster.address, uiPort, path.join(dir, 'temporal-ui.log')).catch((err: Error) => {
    console.error(`warning: no Web UI (${err.message}); point a temporalio/ui container at ${cluster.address} instead`);
    return undefined;
  });
  console.log(`Orchard cluster ready: Temporal on PostgreSQL (namespace default, Orchard's search attributes), S3 bucket orchard${ui ? `, Web UI ${ui.url}` : ''}. Ctrl-C stops it.
TEMPORAL_ADDRESS=${cluster.address}
export TEMPORAL_ADDRESS=${cluster.address} AWS_ENDPOINT_URL_S3=${s3.endpoint} AWS_ACCESS_KEY_ID=${s3.accessKey} AWS_SECRET_ACCESS_KEY=${s3.secretKey} AWS_REGION=us-east-1`);
  const stop = () => void Promise.all([ui?.stop(), s3.stop(), cluster.stop()]).then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await new Promise(() => undefined);
});
