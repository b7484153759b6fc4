import { createReadStream } from "node:fs";
import { copyFile, mkdir, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { assertSafeKey, type ByteRange, type MediaStorage, type StoredObject } from "./types.ts";

/** Media on the local disk under one root directory. Writes go to a temp file and are renamed into place. */
export function createLocalStorage(root: string): MediaStorage {
  const resolve = (key: string) => {
    assertSafeKey(key);
    return path.join(root, key);
  };
  const tempPath = (target: string) => `${target}.${randomBytes(6).toString("hex")}.tmp`;

  async function place(target: string, write: (tmp: string) => Promise<void>) {
    await mkdir(path.dirname(target), { recursive: true });
    const tmp = tempPath(target);
    try {
      await write(tmp);
      await rename(tmp, target);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  return {
    kind: "local",
    async putFile(key, filePath) {
      const target = resolve(key);
      await place(target, (tmp) => copyFile(filePath, tmp));
    },
    async putBuffer(key, data) {
      const target = resolve(key);
      await place(target, (tmp) => writeFile(tmp, data));
    },
    async stat(key) {
      const file = resolve(key); // outside the try: an unsafe key must throw, not read as "missing"
      try {
        const s = await stat(file);
        return s.isFile() ? { size: s.size } : null;
      } catch {
        return null;
      }
    },
    async get(key, range?: ByteRange): Promise<StoredObject | null> {
      const file = resolve(key); // outside the try below: an unsafe key must throw, not read as "missing"
      let size: number;
      try {
        const s = await stat(file);
        if (!s.isFile()) return null;
        size = s.size;
      } catch {
        return null;
      }
      const body = range ? createReadStream(file, { start: range.start, end: range.end }) : createReadStream(file);
      return { size, body };
    },
    async delete(keys) {
      const files = keys.map(resolve); // check every key before removing anything
      await Promise.all(files.map((f) => rm(f, { force: true })));
    },
  };
}
