// The part of fuse-native 2.2.6 that persistfs uses (it ships no types).
declare module 'fuse-native' {
  type Callback = (result: number, ...values: unknown[]) => void;
  interface FuseOptions {
    timeout?: number | false;
    debug?: boolean;
    fsname?: string;
    [option: string]: unknown;
  }
  class Fuse {
    constructor(mountpoint: string, ops: Record<string, (...args: never[]) => void>, options?: FuseOptions);
    /** the operations given to the constructor (a subclass's _op_<name> overrides call them) */
    protected readonly ops: Record<string, (...args: never[]) => void>;
    mount(cb: (error: Error | null) => void): void;
    unmount(cb: (error: Error | null) => void): void;
    static ENOSYS: number;
  }
  export default Fuse;
  export type { Callback, FuseOptions };
}
