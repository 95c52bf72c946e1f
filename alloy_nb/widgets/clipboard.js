// Copies the model's `text` to the clipboard each time the kernel bumps `copies`
// (a counter, so copying the same key twice still copies).
export default {
  render({ model }) {
    model.on("change:copies", () => {
      const text = model.get("text");
      if (text && navigator.clipboard) navigator.clipboard.writeText(text).catch(() => {});
    });
  },
};
