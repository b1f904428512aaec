// The object store's HEAD (what a cached file's open asks) against a real Ceph radosgw: answered without the
// SDK's middleware (direct-head.ts) with what the SDK's HeadObject answers, for keys that need encoding;
// what it cannot answer (refused credentials) still goes through the SDK and its errors.
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import test from 'tape';

import { ObjectStore } from '../../src/adapters/s3/object-store.js';
import { resolveS3Settings } from '../../src/adapters/s3/s3-settings.js';
import { rejection } from '../helpers.js';
import { ceph, freshPrefix, sdkCommandsSent } from './ceph.js';

/** An object store on the test bucket whose commands through the SDK are counted. */
async function countedStore(t: test.Test, credentials?: { accessKeyId: string; secretAccessKey: string } | null) {
  const cluster = await ceph();
  const prefix = freshPrefix('dh');
  const options = cluster.options(prefix);
  const settings = resolveS3Settings(`s3://${cluster.bucket}/${prefix}`, { ...options, credentials: credentials ?? options.credentials });
  // null: none given (the SDK's credential chain finds them)
  const store = new ObjectStore(credentials === null ? { ...settings, credentials: undefined } : settings);
  const sent = sdkCommandsSent(store);
  const client = cluster.client();
  t.teardown(() => {
    store.close();
    client.destroy();
  });
  return { cluster, prefix, store, sent, client };
}

test('object store: a HEAD answers what HeadObject does, without a command through the SDK', async (t) => {
  const { cluster, prefix, store, sent, client } = await countedStore(t);
  const names = ['plain', 'with space+plus', 'deep/er/key', 'ünï çødé', "odd!'()*~%&=?#;,", 'a//b'];
  for (const [n, name] of names.entries()) {
    const Metadata = { mode: '33188', mtime: `${1_700_000_000 + n}`, uid: '1000' };
    await client.send(new PutObjectCommand({ Bucket: cluster.bucket, Key: `${prefix}${name}`, Body: Buffer.alloc(100 + n, n), Metadata }));
  }
  for (const name of names) {
    const key = `${prefix}${name}`;
    const sdk = await client.send(new HeadObjectCommand({ Bucket: cluster.bucket, Key: key }));
    const head = await store.head(key);
    t.deepEqual(
      head,
      { key, size: sdk.ContentLength, etag: sdk.ETag, lastModified: sdk.LastModified, metadata: sdk.Metadata },
      `'${name}': size, ETag, time and metadata as HeadObject's`,
    );
  }
  t.equal(await store.head(`${prefix}missing`), undefined, 'no such object: undefined');
  t.deepEqual(sent, [], 'no command went through the SDK');
});

test('object store: a HEAD the store refuses goes through the SDK (EACCES, as before)', async (t) => {
  const { prefix, store, sent } = await countedStore(t, { accessKeyId: 'PERSISTFSTESTKEY', secretAccessKey: 'not-the-secret' });
  await rejection(t, store.head(`${prefix}any`), 'EACCES', 'refused credentials');
  t.ok(sent.includes('HeadObjectCommand'), `the SDK's HeadObject was asked (${sent.length} sent)`);
});

test("object store: the client's signer (no credentials given: the SDK's chain finds them), failed once, is asked for again (HEADs go direct after it)", async (t) => {
  const cluster = await ceph();
  // the credentials in the environment only, for the SDK's credential chain: the direct HEAD signs with the client's own signer
  const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
  process.env.AWS_ACCESS_KEY_ID = cluster.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = cluster.secretAccessKey;
  t.teardown(() => {
    for (const [name, value] of [
      ['AWS_ACCESS_KEY_ID', saved.id],
      ['AWS_SECRET_ACCESS_KEY', saved.secret],
    ] as const)
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
  });
  const { prefix, store, sent, client } = await countedStore(t, null);
  await client.send(new PutObjectCommand({ Bucket: cluster.bucket, Key: `${prefix}f`, Body: 'x' }));
  const config = store.client.config;
  const signer = config.signer;
  config.signer = () => Promise.reject(new Error('no signer now'));
  await store.head(`${prefix}f`).catch(() => undefined);
  config.signer = signer;
  t.ok(sent.includes('HeadObjectCommand'), "the HEAD whose signer failed went through the SDK (the client's signer is the direct HEAD's)");
  const before = sent.length;
  t.equal((await store.head(`${prefix}f`))?.size, 1, 'the next HEAD finds the object');
  t.equal(sent.length, before, 'without a command through the SDK');
});
