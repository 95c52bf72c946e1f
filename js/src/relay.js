// The fallback path: the File goes to the kernel in chunks, `window` of them in flight; the
// kernel acknowledges each one after writing it at its offset.

// Resolves once every chunk is acknowledged; rejects if the kernel ends the file first.
export function relayFile(model, id, file, { chunk, window }, mailbox, onProgress) {
  return new Promise((resolve, reject) => {
    let next = 0; // first byte not yet sent
    let acked = 0; // bytes acknowledged
    let inflight = 0;
    let failed = false;
    const fail = (e) => { if (!failed) { failed = true; mailbox.onAck = null; reject(e); } };
    const pump = () => {
      while (!failed && inflight < window && next < file.size) {
        const offset = next;
        next = Math.min(file.size, offset + chunk);
        inflight += 1;
        file.slice(offset, next).arrayBuffer().then(
          (buf) => { if (!failed) model.send({ type: "chunk", id, offset }, undefined, [buf]); },
          fail,
        );
      }
    };
    mailbox.onAck = (msg) => {
      inflight -= 1;
      acked += Math.min(chunk, file.size - msg.offset);
      onProgress(acked);
      if (acked >= file.size) { mailbox.onAck = null; resolve(); } else pump();
    };
    mailbox.onEnd = () => fail(new Error("the kernel ended the transfer"));
    if (file.size === 0) { mailbox.onAck = null; resolve(); } else pump();
  });
}
