// The panel's DOM: a drop zone, the kernel-path box, a note line, one row per file and the
// last batch's summary. Buttons carry ipywidgets' classes so JupyterLab styles them.
import { copyText } from "./copy.js";

export function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.appendChild(c);
  return node;
}

const button = (cls, text, title) =>
  el("button", { class: `jupyter-button widget-button ${cls}`, text, title, type: "button" });

export function layout(root) {
  root.classList.add("alloy-upload-panel");
  const input = el("input", { type: "file", multiple: "", class: "alloy-file-input" });
  const browse = button("alloy-browse", "Browse…", "Choose files on this computer");
  const zone = el("div", { class: "alloy-drop-zone", tabindex: "0" }, [
    el("span", { class: "alloy-drop-text", text: "Drop files here, or " }), browse, input,
  ]);
  const path = el("input", {
    type: "text", class: "alloy-path widget-input",
    placeholder: "or a file, folder or glob on the kernel, e.g. data/ or data/*.csv — Enter uploads",
  });
  const pathButton = button("alloy-path-upload", "Upload from kernel", "Upload what the path names on the kernel's filesystem");
  const reset = button("alloy-reset", "Clear", "Forget finished rows");
  const stale = el("div", { class: "alloy-status alloy-stale", "data-kind": "error", hidden: "" });
  const note = el("div", { class: "alloy-note" });
  const table = el("table", { class: "alloy-rows" });
  const summary = el("div", { class: "alloy-status alloy-summary", hidden: "" });
  root.append(stale, zone, el("div", { class: "alloy-path-row" }, [path, pathButton, reset]),
    note, table, summary);
  return { input, browse, zone, path, pathButton, reset, stale, note, table, summary };
}

const FINISHED = ["done", "already stored", "failed"];
const percent = (r) => (r.total > 0 ? Math.min(100, Math.floor((100 * r.done) / r.total)) : 0);

function bar(r) {
  // Stored (or found stored) is a full bar, also for an empty file; a failure shows how far
  // it got, never a full bar.
  const stored = r.stage === "done" || r.stage === "already stored";
  const max = Math.max(1, r.total);
  const value = stored ? max : Math.min(r.done, r.total);
  return el("progress", { max: String(max), value: String(value) });
}

function keyCell(r) {
  const copy = button("alloy-copy", "Copy", `Copy the s3Key ${r.s3_key}`);
  copy.addEventListener("click", async () => {
    copy.textContent = (await copyText(r.s3_key)) ? "Copied" : "Copy failed";
    setTimeout(() => { copy.textContent = "Copy"; }, 1500);
  });
  // Keys are "<user id>_<file name>": the file name tells them apart, so the user id is
  // what gives way when the cell is narrow (the tooltip has the whole key).
  const under = r.s3_key.indexOf("_");
  const cut = under > 0 ? under + 1 : Math.max(0, r.s3_key.length - 24);
  return [
    copy,
    el("span", { class: "alloy-key", title: r.s3_key }, [
      el("span", { class: "alloy-key-head", text: r.s3_key.slice(0, cut) }),
      el("span", { class: "alloy-key-tail", text: r.s3_key.slice(cut) }),
    ]),
  ];
}

function row(r) {
  const finished = FINISHED.includes(r.stage);
  const pace = [r.rate, r.left].filter(Boolean).join(" · ");
  const detail = [];
  if (r.error) detail.push(el("span", { class: "alloy-error", text: r.error, title: r.error }));
  if (r.s3_key) detail.push(...keyCell(r));
  if (r.note && !r.error) detail.push(el("span", { class: "alloy-row-note", text: r.note, title: r.note }));
  return el("tr", { class: "alloy-row", "data-name": r.name, "data-stage": r.stage }, [
    el("td", { class: "alloy-name", text: r.name, title: r.name }),
    el("td", { class: "alloy-size", text: r.size_text }),
    el("td", { class: "alloy-stage", text: r.stage }),
    el("td", { class: "alloy-progress" }, [
      bar(r),
      el("span", { class: "alloy-pct", text: finished ? "" : `${percent(r)}%` }),
      el("span", { class: "alloy-pace", text: finished ? "" : pace }),
    ]),
    el("td", { class: "alloy-detail" }, [el("div", { class: "alloy-detail-line" }, detail)]),
  ]);
}

export function draw(parts, rows, message, summary) {
  parts.note.textContent = message;
  parts.note.hidden = !message;
  const head = el("tr", {}, ["file", "size", "stage", "progress", "s3Key / details"].map((h) => el("th", { text: h })));
  // A row is rebuilt only when it changed, so a Copy button under the pointer stays put
  // while other rows report progress.
  const before = parts.drawn || [];
  parts.drawn = rows.map((r, i) => {
    const json = JSON.stringify(r);
    return before[i] && before[i].json === json ? before[i] : { json, node: row(r) };
  });
  parts.table.replaceChildren(head, ...parts.drawn.map((d) => d.node));
  parts.table.hidden = rows.length === 0;
  const text = (summary && summary.text) || "";
  parts.summary.textContent = text;
  parts.summary.hidden = !text;
  parts.summary.dataset.kind = summary && summary.failed ? "error" : "info";
}

// The kernel that made this panel is gone: say so, and take no more files.
export function showStale(parts, text) {
  parts.stale.textContent = text;
  parts.stale.hidden = false;
  parts.zone.classList.add("alloy-disabled");
  parts.zone.setAttribute("aria-disabled", "true");
  parts.zone.querySelector(".alloy-drop-text").textContent = "This panel no longer takes files. ";
  for (const c of [parts.input, parts.browse, parts.path, parts.pathButton, parts.reset]) c.disabled = true;
}
