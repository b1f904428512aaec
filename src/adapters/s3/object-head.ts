// What a HEAD of an object tells: its size, ETag, time and metadata (the object store's and direct-head.ts's).

/** Object metadata as S3 keeps it (x-amz-meta-*): our mode, owner and times as decimal strings. */
export type ObjectMetadata = Record<string, string>;

export interface ObjectHead {
  key: string;
  size: number;
  etag: string;
  lastModified: Date;
  metadata: ObjectMetadata;
}
