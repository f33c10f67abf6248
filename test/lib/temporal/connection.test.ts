import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { temporalSettings } from '../../../lib/temporal/connection.js';

// No temporal.toml of this machine's user may leak into the cases: each names its own (absent) file.
const none = { TEMPORAL_CONFIG_FILE: path.join(os.tmpdir(), 'orchard-no-such-temporal.toml') };

test('with nothing set: the local dev server, namespace default, no TLS', () => {
  assert.deepEqual(temporalSettings(none), { address: 'localhost:7233', namespace: 'default', security: {} });
});

test('Temporal Cloud with an API key: the standard variables give the address, namespace, key and TLS', () => {
  const settings = temporalSettings({
    ...none,
    TEMPORAL_ADDRESS: 'eu-west-1.aws.api.temporal.io:7233',
    TEMPORAL_NAMESPACE: 'fruits.a1b2c',
    TEMPORAL_API_KEY: 'secret-key',
    TEMPORAL_TLS: 'true',
  });
  assert.equal(settings.address, 'eu-west-1.aws.api.temporal.io:7233');
  assert.equal(settings.namespace, 'fruits.a1b2c');
  assert.equal(settings.security.apiKey, 'secret-key');
  assert.ok(settings.security.tls, 'TLS on');
});

test('mTLS from a temporal.toml profile chosen by TEMPORAL_PROFILE', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'orchard-envconfig-'));
  try {
    await fs.writeFile(path.join(dir, 'client.pem'), 'CERT');
    await fs.writeFile(path.join(dir, 'client.key'), 'KEY');
    const file = path.join(dir, 'temporal.toml');
    await fs.writeFile(
      file,
      `[profile.cloud]\naddress = "fruits.a1b2c.tmprl.cloud:7233"\nnamespace = "fruits.a1b2c"\n[profile.cloud.tls]\nclient_cert_path = "${dir}/client.pem"\nclient_key_path = "${dir}/client.key"\n`,
    );
    const settings = temporalSettings({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'cloud' });
    assert.equal(settings.address, 'fruits.a1b2c.tmprl.cloud:7233');
    assert.equal(settings.namespace, 'fruits.a1b2c');
    const tls = settings.security.tls;
    assert.ok(tls && typeof tls === 'object' && tls.clientCertPair, 'a client certificate pair');
    assert.equal(Buffer.from(tls.clientCertPair.crt).toString(), 'CERT');
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
