#!/usr/bin/env node
// CPU per create+close, rename and unlink through the tiered adapter while N uploads wait (write-back
// delay): the cost of the look-ups of local state that these operations make, which grows with what is
// pending. Every call is answered from the listing cache and the local disk (no S3 request once the
// directory is listed). Usage, against a radosgw of scripts/ceph-s3.sh:
//   read EP AK SK < <(scripts/ceph-s3.sh up)
//   node scripts/tiered-op-cost.mjs REPO N "$EP" "$AK" "$SK"   # REPO: a built tree (its dist/); N: files
// One JSON line: microseconds of CPU (user + system) per operation. Alternate two trees for an A/B.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';

const [repo, n, endpoint, accessKeyId, secretAccessKey] = process.argv.slice(2);
const { openStorage } = await import(path.join(path.resolve(repo), 'dist/src/index.js'));
const count = Number(n);
const bucket = 'tiered-op-cost';
const credentials = { accessKeyId, secretAccessKey };
const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials });
await client.send(new CreateBucketCommand({ Bucket: bucket })).catch(() => undefined); // made by an earlier run
client.destroy();
const prefix = `cost-${process.pid}-${Date.now()}/`;
const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tiered-op-cost-'));
const storage = await openStorage(`s3://${bucket}/${prefix}`, {
  adapter: 'tiered',
  s3: { endpoint, region: 'us-east-1', bucket, prefix, credentials },
  tiered: { cacheDir, writeBackDelay: 600_000, closeTimeout: 0 },
  config: { logLevel: 'silent' },
});
const root = storage.root;
await root.read(); // the listing, once
const cpu = () => {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
};
const perOp = async (work) => {
  const start = cpu();
  for (let i = 0; i < count; i++) await work(i);
  return Number(((cpu() - start) / count).toFixed(1));
};
const data = Buffer.alloc(100, 7);
const createUs = await perOp(async (i) => {
  const file = await root.createFile(`f${i}`);
  await file.writeAt(0, data);
  await file.close();
});
const renameUs = await perOp((i) => root.moveEntry(`f${i}`, root, `g${i}`));
const unlinkUs = await perOp((i) => root.deleteFile(`g${i}`));
await storage.close();
fs.rmSync(cacheDir, { recursive: true, force: true });
console.log(JSON.stringify({ tree: path.resolve(repo), count, createUs, renameUs, unlinkUs }));
