// Copies the model's `text` to the clipboard whenever the kernel changes it.
export default {
  render({ model }) {
    model.on("change:text", () => {
      const text = model.get("text");
      if (text && navigator.clipboard) navigator.clipboard.writeText(text).catch(() => {});
    });
  },
};
