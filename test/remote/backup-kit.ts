// What the backup tests share: a fresh prefix of the test cluster with an ObjectStore and a raw client on it.
import type { S3Client } from '@aws-sdk/client-s3';
import type test from 'tape';

import { ObjectStore } from '../../src/adapters/s3/object-store.js';
import { resolveS3Settings } from '../../src/adapters/s3/s3-settings.js';
import { type Ceph, ceph, freshPrefix } from './ceph.js';

export interface Remote {
  cluster: Ceph;
  prefix: string;
  url: string;
  store: ObjectStore;
  client: S3Client;
}

/** A fresh prefix (named by `label`) of the test bucket, an ObjectStore and a raw client on it, closed when the test ends. */
export async function remote(t: test.Test, label = 'backup'): Promise<Remote> {
  const cluster = await ceph();
  const prefix = freshPrefix(label);
  const url = `s3://${cluster.bucket}/${prefix}`;
  const store = new ObjectStore(resolveS3Settings(url, cluster.options(prefix)));
  const client = cluster.client();
  t.teardown(() => {
    store.close();
    client.destroy();
  });
  return { cluster, prefix, url, store, client };
}
