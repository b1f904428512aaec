// The s3:// mount's tests again with the writeback cache instead of passthrough: what a mount that is
// not root gets (passthrough needs root), and what a kernel without passthrough gives.
process.env.PERSISTFS_TEST_S3_MOUNT_ARGS = '--no-passthrough';
await import('./s3-mount.test.js');
