// UploadPanel front end. Each dropped file is hashed here; the kernel (which holds the API
// key) answers with "already stored", a presigned URL to PUT to, or "relay" (send it to the
// kernel in acknowledged chunks). A few files are handled at once, each with its own row.
import { Mailbox } from "./mailbox.js";
import { md5OfFile } from "./md5.js";
import { putFile } from "./put.js";
import { relayFile } from "./relay.js";
import { draw, layout } from "./view.js";

const PROGRESS_EVERY_MS = 400; // each message to the kernel costs a busy/idle round

function render({ model, el: root }) {
  const parts = layout(root);
  const boxes = new Map(); // file id -> Mailbox
  model.on("msg:custom", (msg) => {
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
        model.send({ type: "put-result", id, status, body });
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
    model.send({ type: "add", id, name: file.name, size: file.size, mime: file.type || "" });
    try {
      await transfer(file, id, box);
    } catch (e) {
      model.send({ type: "browser-error", id, error: String((e && e.message) || e) });
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
  const enqueue = (files) => { waiting.push(...files); startMore(); };

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
  const sendPaths = () => { if (path.value.trim()) model.send({ type: "paths", pattern: path.value.trim() }); };
  pathButton.addEventListener("click", sendPaths);
  path.addEventListener("keydown", (e) => { if (e.key === "Enter") sendPaths(); });
  reset.addEventListener("click", () => model.send({ type: "reset" }));

  const redraw = () => draw(parts, model.get("rows"), model.get("message"));
  model.on("change:rows", redraw);
  model.on("change:message", redraw);
  redraw();
}

export default { render };
