// `npm run s3-server`: a local S3-compatible server (SeaweedFS) on 127.0.0.1:9000 with its data under .orchard/, until Ctrl-C.
import { startS3Server } from '../dev/s3Server.js';

const port = Number(process.env.ORCHARD_S3_PORT || 9000);
const server = await startS3Server({ port, foreground: false, buckets: (process.env.ORCHARD_S3_BUCKETS || 'orchard').split(',') });
console.log(`S3-compatible server (SeaweedFS) on ${server.endpoint}, bucket(s) ${process.env.ORCHARD_S3_BUCKETS || 'orchard'}; Ctrl-C stops it.
Point Orchard and the AWS CLI at it with:
  export AWS_ENDPOINT_URL_S3=${server.endpoint} AWS_ACCESS_KEY_ID=${server.accessKey} AWS_SECRET_ACCESS_KEY=${server.secretKey} AWS_REGION=us-east-1`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void server.stop().then(() => process.exit(0)));
}
await new Promise(() => undefined);
