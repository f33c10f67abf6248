// How Orchard reaches Temporal: the SDK's environment configuration (@temporalio/envconfig), so the settings every
// Temporal SDK and the CLI read work here too: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS,
// TEMPORAL_TLS_CLIENT_CERT_PATH / _KEY_PATH / _SERVER_CA_CERT_PATH / _SERVER_NAME, TEMPORAL_GRPC_META_*, and the
// profiles of temporal.toml (TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE). That is how a worker reaches Temporal Cloud.
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';

export interface TemporalSettings {
  address: string;
  namespace: string;
  /** TLS, API key and gRPC metadata: what a connection needs besides the address. */
  security: Pick<NativeConnectionOptions, 'tls' | 'apiKey' | 'metadata'>;
}

/** The connection settings in `env` (and the profile it names), with the local dev server as the default. */
export function temporalSettings(env: NodeJS.ProcessEnv = process.env): TemporalSettings {
  const defined = Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== ''));
  const { connectionOptions, namespace } = loadClientConnectConfig({ overrideEnvVars: defined });
  const { tls, apiKey, metadata } = connectionOptions;
  return {
    address: connectionOptions.address || 'localhost:7233',
    namespace: namespace || 'default',
    security: { ...(tls ? { tls } : {}), ...(apiKey ? { apiKey } : {}), ...(metadata && Object.keys(metadata).length > 0 ? { metadata } : {}) },
  };
}

/** What a connection to `address` needs: the address and this environment's TLS, API key and metadata. */
export function connectionOptions(address: string): Pick<NativeConnectionOptions, 'address' | 'tls' | 'apiKey' | 'metadata'> {
  return { ...temporalSettings().security, address };
}
