// Bundles src/ and its npm dependencies into one ES module for anywidget, plus the
// licence notices of what it bundles. Usage: node build.mjs [OUT_DIR]
// (default: the package's alloy_nb/widgets/static). Same lock file -> same bytes.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";

const outDir = process.argv[2] ?? "../alloy_nb/widgets/static";
const bundled = ["hash-wasm"];

const version = (name) => JSON.parse(readFileSync(`node_modules/${name}/package.json`, "utf8")).version;

await build({
  entryPoints: ["src/upload_panel.js"],
  bundle: true,
  format: "esm",
  target: "es2020",
  charset: "utf8",
  legalComments: "none", // the notices go to THIRD-PARTY-NOTICES.txt beside the bundle
  banner: { js: `// Built from js/ by \`make js\`; do not edit. Bundles ${bundled.map((n) => `${n} ${version(n)}`).join(", ")} (notices: THIRD-PARTY-NOTICES.txt).` },
  outfile: join(outDir, "upload_panel.js"),
  logLevel: "warning",
});

const notices = bundled.map((name) => {
  const licence = readFileSync(`node_modules/${name}/LICENSE`, "utf8").trim();
  return `${name} ${version(name)}\n${"=".repeat(40)}\n\n${licence}\n`;
});
writeFileSync(join(outDir, "THIRD-PARTY-NOTICES.txt"), `Third-party code bundled in upload_panel.js\n\n${notices.join("\n")}`);
