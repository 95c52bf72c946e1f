// UploadPanel front end. Each dropped file is hashed here; the kernel (which holds the API
// key) answers with "already stored", a presigned URL to PUT to, or "relay" (send it to the
// kernel in acknowledged chunks). A few files are handled at once, each with its own row.
import { Mailbox } from "./mailbox.js";
import { md5OfFile } from "./md5.js";
import { putFile, stillReadable } from "./put.js";
import { relayFile } from "./relay.js";
import { watchKernel } from "./kernel_watch.js";
import { draw, layout, showStale } from "./view.js";

const PROGRESS_EVERY_MS = 400; // each message to the kernel costs a busy/idle round
const ANSWER_WITHIN_MS = 15000; // the kernel acknowledges each file at once when it is idle
const RERUN = "Re-run the cell that made it to get a working panel.";
const STALE = {
  restarted: `The kernel was restarted, so this panel is no longer connected. ${RERUN}`,
  "shut down": `The kernel was shut down, so this panel is no longer connected. ${RERUN}`,
  changed: `The notebook has a different kernel now, so this panel is no longer connected. ${RERUN}`,
  closed: `This panel was closed on the kernel. ${RERUN}`,
  gone: `The kernel no longer has this panel (it was restarted or shut down). ${RERUN}`,
  unsent: `This panel cannot reach its kernel any more (restarted or shut down?). ${RERUN}`,
};
const SLOW = "The kernel has not answered yet: it may be busy running another cell (the files " +
  "start once it is free). If it was restarted or shut down, re-run the cell that made this panel.";

function render({ model, el: root }) {
  const parts = layout(root);
  const boxes = new Map(); // file id -> Mailbox
  const unanswered = new Map(); // file id -> timer, until the kernel says "added"
  const kernel = watchKernel(model, (why) => stop(STALE[why] || STALE.unsent));
  let slow = false;
  const redraw = () => {
    const message = slow ? SLOW : model.get("message");
    draw(parts, model.get("rows"), message, model.get("summary"));
  };
  // The "may be busy" note: shown when the kernel has not answered within ANSWER_WITHIN_MS,
  // taken back once nothing is waiting for an answer.
  const slowAfterWait = () => setTimeout(() => { slow = true; redraw(); }, ANSWER_WITHIN_MS);
  const answered = () => { if (slow && unanswered.size === 0) { slow = false; redraw(); } };
  model.on("msg:custom", (msg) => {
    if (msg.type === "added") {
      clearTimeout(unanswered.get(msg.file));
      unanswered.delete(msg.file);
      answered();
      return;
    }
    const box = boxes.get(msg.id);
    if (box) box.deliver(msg);
  });

  const reporter = (id, stage) => {
    let last = 0;
    return (done) => {
      const now = Date.now();
      if (now - last >= PROGRESS_EVERY_MS) { last = now; model.send({ type: "progress", id, stage, done }); }
    };
  };

  async function transfer(file, id, box) {
    const md5 = await md5OfFile(file, reporter(id, "hashing"));
    model.send({ type: "hashed", id, md5 });
    for (;;) {
      const msg = await box.next();
      if (msg.type === "finished") return;
      if (msg.type === "put") {
        const headers = { "Content-Type": msg.mime, "Content-MD5": msg.md5 };
        const { status, body } = await putFile(msg.url, file, headers, reporter(id, "uploading"));
        const readable = status === 0 ? await stillReadable(file) : true;
        model.send({ type: "put-result", id, status, body, readable });
      } else if (msg.type === "relay") {
        await relayFile(model, id, file, msg, box, () => {});
      }
    }
  }

  let counter = 0;
  const session = Math.random().toString(36).slice(2, 8);
  async function handle(file) {
    const id = `${session}-${(counter += 1)}`;
    const box = new Mailbox();
    boxes.set(id, box);
    unanswered.set(id, slowAfterWait());
    try {
      model.send({ type: "add", id, name: file.name, size: file.size, mime: file.type || "" });
    } catch (e) { // the comm is gone: nothing will answer
      stop(STALE.unsent);
      boxes.delete(id);
      return;
    }
    try {
      await transfer(file, id, box);
    } catch (e) {
      try {
        model.send({ type: "browser-error", id, error: String((e && e.message) || e), kind: e && e.name });
      } catch (_gone) { stop(STALE.unsent); }
    } finally {
      boxes.delete(id);
    }
  }

  // Bounded concurrency: at most `parallel` files hashed or sent at once.
  const waiting = [];
  let active = 0;
  function startMore() {
    while (active < Math.max(1, model.get("parallel")) && waiting.length) {
      active += 1;
      handle(waiting.shift()).finally(() => { active -= 1; startMore(); });
    }
  }
  function stop(text) { // files not started yet are dropped; the panel says why
    waiting.length = 0;
    for (const timer of unanswered.values()) clearTimeout(timer);
    unanswered.clear();
    slow = false;
    showStale(parts, text);
    redraw();
  }
  const enqueue = async (files) => {
    if (!files.length || kernel.check()) return; // the panel says why; nothing is sent
    const timer = slowAfterWait();
    const gone = await kernel.confirm(); // waits while the kernel runs another cell
    clearTimeout(timer);
    answered();
    if (gone) return;
    waiting.push(...files);
    startMore();
  };

  const { input, browse, zone, path, pathButton, reset } = parts;
  input.addEventListener("change", () => { enqueue(Array.from(input.files)); input.value = ""; });
  browse.addEventListener("click", (e) => { e.preventDefault(); input.click(); });
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("alloy-drag"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("alloy-drag"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("alloy-drag");
    enqueue(Array.from(e.dataTransfer.files));
  });
  const sendPaths = async () => {
    if (!(await kernel.confirm())) model.send({ type: "paths", pattern: path.value });
  };
  pathButton.addEventListener("click", sendPaths);
  path.addEventListener("keydown", (e) => {
    if (e.key !== "Enter" || e.isComposing) return;
    e.preventDefault();
    e.stopPropagation(); // Enter is the path box's, not the notebook's
    sendPaths();
  });
  reset.addEventListener("click", () => { if (!kernel.check()) model.send({ type: "reset" }); });

  model.on("change:rows", redraw);
  model.on("change:message", redraw);
  model.on("change:summary", redraw);
  redraw();
  kernel.check();
  return () => {
    kernel.dispose();
    for (const timer of unanswered.values()) clearTimeout(timer);
  };
}

export default { render };
