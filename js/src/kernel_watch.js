// Is the kernel that made this panel still there? After a restart or shut-down the panel's
// model is an orphan: its messages go nowhere (or throw), so dropped files would sit forever
// or fail with "Cannot send". Four signs, whichever comes first:
// - ipywidgets marks every model's comm dead when the kernel restarts ("comm_live_update";
//   it is only ever set true when the model is made, so any update means dead);
// - the comm was closed (the widget was closed on the kernel, or the kernel went away);
// - the notebook's session restarts its kernel, has none any more, or a different one;
// - asked before files are sent (confirm), the kernel does not list the panel's comm: a
//   restart by another client (the REST API, another tab) reaches this page no other way.
export function watchKernel(model, onGone) {
  let gone = "";
  const mark = (why) => { if (!gone) { gone = why; onGone(why); } };
  const restarted = () => mark("restarted");
  const closed = () => mark("closed");
  model.on("comm_live_update", restarted);
  model.on("comm:close", closed);

  const manager = model.widget_manager;
  const session = manager && manager.context && manager.context.sessionContext;
  const kernelAtStart = currentKernel(manager);
  // "starting" is a new kernel process: one restarted by another client (the REST API, a
  // second tab) reaches this page only as the new process saying it is starting.
  const onStatus = (_ctx, status) => {
    if (["restarting", "autorestarting", "starting"].includes(status)) mark("restarted");
    else if (status === "dead") mark("shut down");
  };
  const onKernel = (_ctx, change) => mark(change && change.newValue ? "changed" : "shut down");
  if (session && session.statusChanged) {
    session.statusChanged.connect(onStatus);
    session.kernelChanged.connect(onKernel);
  }

  return {
    // Checked before taking files, for what no event announced.
    check() {
      if (gone) return gone;
      if (manager && "kernel" in manager) {
        const kernel = currentKernel(manager);
        if (!kernel || kernel.isDisposed || kernel.status === "dead") mark("shut down");
        else if (kernelAtStart && kernel !== kernelAtStart) mark("changed");
      }
      return gone;
    },
    // Resolves to why the panel is stale, or "" when the kernel still has its comm (or
    // cannot be asked: then the files go ahead as before).
    async confirm() {
      if (this.check()) return gone;
      const ref = model.get("_comm_ref");
      const kernel = currentKernel(manager);
      if (!ref || !kernel || typeof kernel.requestCommInfo !== "function") return gone;
      try {
        const reply = await kernel.requestCommInfo({ target_name: "jupyter.widget" });
        const content = (reply && reply.content) || {};
        if (content.status === "ok" && content.comms && !(ref in content.comms)) mark("gone");
      } catch (e) {
        mark("gone"); // the kernel is dead or disposed: nothing can be sent
      }
      return gone;
    },
    dispose() {
      model.off("comm_live_update", restarted);
      model.off("comm:close", closed);
      if (session && session.statusChanged) {
        session.statusChanged.disconnect(onStatus);
        session.kernelChanged.disconnect(onKernel);
      }
    },
  };
}

function currentKernel(manager) {
  try { return manager && "kernel" in manager ? manager.kernel : null; } catch (e) { return null; }
}
