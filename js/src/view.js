// The panel's DOM: a drop zone, the kernel-path box, a note line and one row per file.

export function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.appendChild(c);
  return node;
}

export function layout(root) {
  root.classList.add("alloy-upload-panel");
  const input = el("input", { type: "file", multiple: "", class: "alloy-file-input" });
  const browse = el("button", { class: "alloy-browse", text: "Browse…" });
  const zone = el("div", { class: "alloy-drop-zone", tabindex: "0" }, [
    el("span", { text: "Drop files here, or " }), browse, input,
  ]);
  const path = el("input", { type: "text", class: "alloy-path", placeholder: "or a path / glob on the kernel, e.g. data/*.csv" });
  const pathButton = el("button", { class: "alloy-path-upload", text: "Upload from kernel" });
  const reset = el("button", { class: "alloy-reset", text: "Reset" });
  const note = el("div", { class: "alloy-note" });
  const table = el("table", { class: "alloy-rows" });
  root.append(zone, el("div", { class: "alloy-path-row" }, [path, pathButton, reset]), note, table);
  return { input, browse, zone, path, pathButton, reset, note, table };
}

const percent = (r) => (r.total > 0 ? Math.min(100, Math.floor((100 * r.done) / r.total)) : 100);

function row(r) {
  const finished = r.stage === "done" || r.stage === "already stored";
  const shown = finished ? r.total : r.stage === "failed" ? 0 : r.done;
  const bar = el("progress", { max: String(r.total || 1), value: String(r.total ? shown : 1) });
  const pct = finished || r.stage === "failed" ? "" : `${percent(r)}%`;
  const detail = r.error || [r.note, r.s3_key && `key ${r.s3_key}`].filter(Boolean).join(" · ");
  return el("tr", { class: "alloy-row", "data-name": r.name, "data-stage": r.stage }, [
    el("td", { class: "alloy-name", text: r.name, title: r.name }),
    el("td", { class: "alloy-size", text: r.size_text }),
    el("td", { class: "alloy-stage", text: r.stage }),
    el("td", { class: "alloy-progress" }, [bar, el("span", { class: "alloy-pct", text: pct })]),
    el("td", { class: r.error ? "alloy-error" : "alloy-detail", text: detail, title: detail }),
  ]);
}

export function draw(parts, rows, message) {
  parts.note.textContent = message;
  const head = el("tr", {}, ["file", "size", "stage", "progress", ""].map((h) => el("th", { text: h })));
  parts.table.replaceChildren(head, ...rows.map(row));
}
