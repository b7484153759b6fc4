import path from "node:path";
import type { Config } from "../config/index.ts";
import { createLocalStorage } from "./local.ts";
import { createS3Storage } from "./s3.ts";
import type { MediaStorage } from "./types.ts";

export type { ByteRange, MediaStorage, StoredObject } from "./types.ts";

/** The configured media storage: local disk under `$DATA_DIR/media` (default) or an S3-compatible bucket. */
export function createStorage(config: Config): MediaStorage {
  if (config.media.storage === "s3") {
    if (!config.s3) throw new Error("MEDIA_STORAGE=s3 but the S3 settings are missing");
    return createS3Storage(config.s3);
  }
  return createLocalStorage(path.join(config.dataDir, "media"));
}
