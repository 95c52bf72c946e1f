// Is the kernel that made this panel still there? After a restart or shut-down the panel's
// model is an orphan: its messages go nowhere (or throw), so dropped files would sit forever
// or fail with "Cannot send". Three signs, whichever comes first:
// - ipywidgets marks every model's comm dead when the kernel restarts ("comm_live_update";
//   it is only ever set true when the model is made, so any update means dead);
// - the comm was closed (the widget was closed on the kernel, or the kernel went away);
// - the notebook's session has no kernel any more, or a different one, or a dead one.
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
  const onStatus = (_ctx, status) => {
    if (status === "restarting" || status === "autorestarting") mark("restarted");
    else if (status === "dead") mark("shut down");
  };
  const onKernel = () => mark("changed");
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
