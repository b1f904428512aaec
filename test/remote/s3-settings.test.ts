// resolveS3Settings: where the endpoint, region and credentials come from when the options do not say, in
// the order the AWS tools use (AWS_ENDPOINT_URL_S3 over AWS_ENDPOINT_URL, AWS_REGION over
// AWS_DEFAULT_REGION over us-east-1, AWS_ACCESS_KEY_ID with AWS_SECRET_ACCESS_KEY), explicit options over
// the environment, and a bad endpoint refused with EINVAL. No Ceph: the environment is an object given here.
import test from 'tape';

import { resolveS3Settings } from '../../src/adapters/s3/s3-settings.js';
import { StorageError } from '../../src/ground/errors.js';

test('s3 settings: the endpoint is AWS_ENDPOINT_URL_S3 over AWS_ENDPOINT_URL, else none (AWS); path style with one', (t) => {
  const both = { AWS_ENDPOINT_URL_S3: 'http://s3-only:7480', AWS_ENDPOINT_URL: 'http://general:7480' };
  t.equal(resolveS3Settings('s3://b/p', {}, both).endpoint, 'http://s3-only:7480', 'AWS_ENDPOINT_URL_S3 wins over AWS_ENDPOINT_URL');
  t.equal(resolveS3Settings('s3://b/p', {}, { AWS_ENDPOINT_URL: 'http://general:7480' }).endpoint, 'http://general:7480', 'AWS_ENDPOINT_URL alone');
  t.equal(
    resolveS3Settings('s3://b/p', {}, { AWS_ENDPOINT_URL_S3: '', AWS_ENDPOINT_URL: 'http://general:7480' }).endpoint,
    'http://general:7480',
    'an empty AWS_ENDPOINT_URL_S3 counts as unset',
  );
  const none = resolveS3Settings('s3://b/p', {}, {});
  t.equal(none.endpoint, undefined, 'neither: no endpoint (the SDK finds AWS)');
  t.equal(none.forcePathStyle, false, 'virtual-host style without an endpoint');
  t.equal(resolveS3Settings('s3://b/p', {}, both).forcePathStyle, true, 'path style with an endpoint from the environment');
  t.end();
});

test('s3 settings: the region is AWS_REGION over AWS_DEFAULT_REGION, else us-east-1', (t) => {
  t.equal(resolveS3Settings('s3://b', {}, { AWS_REGION: 'eu-west-3', AWS_DEFAULT_REGION: 'ap-south-1' }).region, 'eu-west-3', 'AWS_REGION wins');
  t.equal(resolveS3Settings('s3://b', {}, { AWS_DEFAULT_REGION: 'ap-south-1' }).region, 'ap-south-1', 'AWS_DEFAULT_REGION alone');
  t.equal(resolveS3Settings('s3://b', {}, { AWS_REGION: '', AWS_DEFAULT_REGION: 'ap-south-1' }).region, 'ap-south-1', 'an empty AWS_REGION counts as unset');
  t.equal(resolveS3Settings('s3://b', {}, {}).region, 'us-east-1', 'neither: us-east-1');
  t.end();
});

test('s3 settings: credentials from AWS_ACCESS_KEY_ID with AWS_SECRET_ACCESS_KEY, both or none', (t) => {
  t.deepEqual(
    resolveS3Settings('s3://b', {}, { AWS_ACCESS_KEY_ID: 'AKID', AWS_SECRET_ACCESS_KEY: 'SECRET' }).credentials,
    { accessKeyId: 'AKID', secretAccessKey: 'SECRET' },
    'both set: taken',
  );
  t.equal(resolveS3Settings('s3://b', {}, { AWS_ACCESS_KEY_ID: 'AKID' }).credentials, undefined, 'a key id without its secret: left to the SDK');
  t.equal(resolveS3Settings('s3://b', {}, { AWS_SECRET_ACCESS_KEY: 'SECRET' }).credentials, undefined, 'a secret without its key id: left to the SDK');
  t.equal(resolveS3Settings('s3://b', {}, {}).credentials, undefined, 'none: left to the SDK');
  t.end();
});

test('s3 settings: explicit options win over the environment', (t) => {
  const env = {
    AWS_ENDPOINT_URL_S3: 'http://env-s3:1',
    AWS_ENDPOINT_URL: 'http://env:1',
    AWS_REGION: 'env-region',
    AWS_DEFAULT_REGION: 'env-default-region',
    AWS_ACCESS_KEY_ID: 'ENVKEY',
    AWS_SECRET_ACCESS_KEY: 'ENVSECRET',
  };
  const settings = resolveS3Settings(
    's3://b/p',
    {
      endpoint: 'http://given:7480',
      region: 'given-region',
      credentials: { accessKeyId: 'GIVENKEY', secretAccessKey: 'GIVENSECRET' },
      forcePathStyle: false,
    },
    env,
  );
  t.equal(settings.endpoint, 'http://given:7480', 'the endpoint given');
  t.equal(settings.region, 'given-region', 'the region given');
  t.deepEqual(settings.credentials, { accessKeyId: 'GIVENKEY', secretAccessKey: 'GIVENSECRET' }, 'the credentials given');
  t.equal(settings.forcePathStyle, false, 'forcePathStyle given');
  t.end();
});

test('s3 settings: an endpoint that is not an http(s) URL is EINVAL, from the options or the environment', (t) => {
  for (const [what, options, env] of [
    ['no scheme (option)', { endpoint: '127.0.0.1:7480' }, {}],
    ['another scheme (option)', { endpoint: 'ftp://host:21' }, {}],
    ['no host (option)', { endpoint: 'http://' }, {}],
    ['AWS_ENDPOINT_URL_S3 without a scheme', {}, { AWS_ENDPOINT_URL_S3: 'localhost:7480' }],
    ['AWS_ENDPOINT_URL with another scheme', {}, { AWS_ENDPOINT_URL: 's3://host' }],
  ] as const) {
    try {
      resolveS3Settings('s3://b/p', options, env);
      t.fail(`${what}: accepted`);
    } catch (error) {
      t.ok(error instanceof StorageError && error.code === 'EINVAL', `${what}: EINVAL`);
      t.match((error as Error).message, /is not an http\(s\) URL/, `${what}: the message says why`);
    }
  }
  t.doesNotThrow(() => resolveS3Settings('s3://b/p', { endpoint: 'https://s3.example.com' }, {}), 'an https endpoint is fine');
  t.end();
});
