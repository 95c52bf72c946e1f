// MD5 of a File, streamed over File.slice pieces: memory stays flat whatever the size.
import { createMD5 } from "hash-wasm";

const PIECE = 4 * 1024 * 1024;

const toHex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

// Resolves to the lower-case hex MD5; onProgress(bytesHashed) after every piece.
export async function md5OfFile(file, onProgress) {
  const hasher = await createMD5();
  hasher.init();
  const read = (start) => file.slice(start, Math.min(file.size, start + PIECE)).arrayBuffer();
  let offset = 0;
  let next = file.size > 0 ? read(0) : null;
  while (next !== null) {
    const piece = await next;
    if (piece.byteLength === 0) throw new Error("the file became shorter while it was read");
    offset += piece.byteLength;
    next = offset < file.size ? read(offset) : null; // the next read overlaps this hash
    hasher.update(new Uint8Array(piece));
    onProgress(offset);
  }
  return toHex(hasher.digest("binary"));
}
