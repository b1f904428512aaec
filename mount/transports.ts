// The FUSE transports a mount can use, by name: apart from run-mount.ts so that the command line can
// offer them without loading the mount's code (the backup and check commands never load it).
export type Transport = 'kernel' | 'fuse-native';
export const TRANSPORTS: readonly Transport[] = ['fuse-native', 'kernel'];
/** Our own FUSE server; fuse-native (libfuse 2) stays as the second transport (README, "Transports"). */
export const DEFAULT_TRANSPORT: Transport = 'kernel';
