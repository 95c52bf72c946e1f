// UploadPanel front end: sends files to the kernel in acknowledged chunks (never one big
// websocket message), and renders the rows the kernel reports.
const CHUNK = 2 * 1024 * 1024;

function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.appendChild(c);
  return node;
}

function render({ model, el: root }) {
  root.classList.add("alloy-upload-panel");
  const input = el("input", { type: "file", multiple: "", class: "alloy-file-input" });
  const browse = el("button", { class: "alloy-browse", text: "Browse…" });
  const zone = el("div", { class: "alloy-drop-zone", tabindex: "0" }, [
    el("span", { text: "Drop files here, or " }), browse, input,
  ]);
  const path = el("input", { type: "text", class: "alloy-path", placeholder: "or a path / glob on the kernel, e.g. data/*.csv" });
  const pathButton = el("button", { class: "alloy-path-upload", text: "Upload from kernel" });
  const reset = el("button", { class: "alloy-reset", text: "Reset" });
  const table = el("table", { class: "alloy-rows" });
  const note = el("div", { class: "alloy-note" });
  root.append(zone, el("div", { class: "alloy-path-row" }, [path, pathButton, reset]), note, table);

  // ---- kernel acknowledgements ----
  const waiting = new Map(); // `${id}:${offset}` -> resolve
  model.on("msg:custom", (msg) => {
    if (msg.type === "ack" || msg.type === "refused") {
      const key = `${msg.id}:${msg.offset}`;
      const resolve = waiting.get(key);
      if (resolve) { waiting.delete(key); resolve(msg); }
    }
  });
  const ackFor = (id, offset) => new Promise((resolve) => waiting.set(`${id}:${offset}`, resolve));

  let queue = Promise.resolve();
  let counter = 0;
  async function sendFile(file) {
    const id = `${Date.now().toString(36)}-${(counter += 1)}`;
    let ack = ackFor(id, 0);
    model.send({ type: "begin", id, name: file.name, size: file.size, mime: file.type || "" });
    if ((await ack).type === "refused") return;
    let offset = 0;
    while (offset < file.size) {
      const buf = await file.slice(offset, offset + CHUNK).arrayBuffer();
      const next = offset + buf.byteLength;
      ack = ackFor(id, next);
      model.send({ type: "chunk", id, offset }, undefined, [buf]);
      const answer = await ack; // one chunk in flight: the socket is never flooded
      if (answer.type === "refused") return;
      offset = next;
    }
    model.send({ type: "end", id });
  }
  function enqueue(files) {
    for (const f of files) queue = queue.then(() => sendFile(f)).catch((e) => { note.textContent = String(e); });
  }

  input.addEventListener("change", () => { enqueue(Array.from(input.files)); input.value = ""; });
  browse.addEventListener("click", (e) => { e.preventDefault(); input.click(); });
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("alloy-drag"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("alloy-drag"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("alloy-drag");
    enqueue(Array.from(e.dataTransfer.files));
  });
  pathButton.addEventListener("click", () => {
    if (path.value.trim()) model.send({ type: "paths", pattern: path.value.trim() });
  });
  reset.addEventListener("click", () => model.send({ type: "reset" }));

  // ---- rows ----
  function draw() {
    const rows = model.get("rows");
    note.textContent = model.get("message");
    table.replaceChildren(el("tr", {}, ["file", "size", "stage", "progress", ""].map((h) => el("th", { text: h }))));
    for (const r of rows) {
      const bar = el("progress", { max: String(r.total || 1), value: String(r.done || 0) });
      const tr = el("tr", { class: "alloy-row", "data-name": r.name, "data-stage": r.stage }, [
        el("td", { class: "alloy-name", text: r.name }),
        el("td", { class: "alloy-size", text: r.size_text }),
        el("td", { class: "alloy-stage", text: r.stage }),
        el("td", {}, [bar]),
        el("td", { class: "alloy-error", text: r.error || "" }),
      ]);
      table.appendChild(tr);
    }
  }
  model.on("change:rows", draw);
  model.on("change:message", draw);
  draw();
}

export default { render };
