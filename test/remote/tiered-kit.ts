// What the tiered adapter's race tests share: a tiered storage on a fresh prefix of the test cluster, and
// a gate that holds one call of a method until the test lets it go.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { PutObjectCommand } from '@aws-sdk/client-s3';
import type test from 'tape';

import type { TieredAdapter, TieredOptions } from '../../src/adapters/tiered/tiered-adapter.js';
import { openStorage, type Storage } from '../../src/index.js';
import { ceph, freshPrefix, objectBytes } from './ceph.js';

/** A tiered storage on a fresh prefix (named by `label`) and cache directory; closed, and the directory removed, at the end. */
export async function tieredOnCeph(t: test.Test, label: string, options: Partial<TieredOptions> = {}) {
  const cluster = await ceph();
  const prefix = freshPrefix(label);
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'persistfs-cache-'));
  const storage: Storage = await openStorage(`s3://${cluster.bucket}/${prefix}`, {
    adapter: 'tiered',
    s3: { ...cluster.options(prefix), maxAttempts: 1 },
    tiered: { cacheDir, retryDelay: 100, maxRetryDelay: 1000, closeTimeout: 5000, ...options },
    config: { logLevel: 'silent' },
  });
  const client = cluster.client();
  t.teardown(async () => {
    await storage.close();
    client.destroy();
    fs.rmSync(cacheDir, { recursive: true, force: true });
  });
  const adapter = storage.adapter as TieredAdapter;
  /** the object's content as a string, or undefined when there is none */
  const object = async (name: string) => (await objectBytes(client, cluster.bucket, `${prefix}${name}`))?.toString();
  /** put behind the adapter's back: before the directory is first listed, or it shows only after dirCacheTime */
  const put = (name: string, body: Uint8Array) => client.send(new PutObjectCommand({ Bucket: cluster.bucket, Key: `${prefix}${name}`, Body: body }));
  return { storage, adapter, object, put, prefix, cacheDir, client, bucket: cluster.bucket };
}

/**
 * A gate on `object[method]`: its next call waits (`entered` resolves when it does) until open() is
 * called; later calls pass at once.
 */
export function gate(object: object, method: string) {
  const target = object as Record<string, (...args: unknown[]) => unknown>;
  const original = target[method]!.bind(object);
  let enter!: () => void;
  const entered = new Promise<void>((resolve) => {
    enter = resolve;
  });
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  let first = true;
  target[method] = async (...args: unknown[]) => {
    if (first) {
      first = false;
      enter();
      await opened;
    }
    return original(...args);
  };
  return { entered, open };
}
