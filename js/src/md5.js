// MD5 of a File, streamed over File.slice pieces: memory stays flat whatever the size.
import { createMD5 } from "hash-wasm";

const PIECE = 4 * 1024 * 1024;
const AHEAD = 4; // pieces being read while one is hashed: reading, not MD5, is the slow part

const toHex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

// Resolves to the lower-case hex MD5; onProgress(bytesHashed) after every piece.
export async function md5OfFile(file, onProgress) {
  const hasher = await createMD5();
  hasher.init();
  const reads = [];
  let next = 0; // first byte not yet asked for
  const readAhead = () => {
    while (reads.length < AHEAD && next < file.size) {
      const start = next;
      next = Math.min(file.size, start + PIECE);
      reads.push(file.slice(start, next).arrayBuffer());
    }
  };
  readAhead();
  let offset = 0;
  while (reads.length) {
    const piece = await reads.shift();
    if (piece.byteLength === 0) throw new Error("the file became shorter while it was read");
    readAhead();
    hasher.update(new Uint8Array(piece));
    offset += piece.byteLength;
    onProgress(offset);
  }
  return toHex(hasher.digest("binary"));
}
