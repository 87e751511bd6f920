// A Next.js app (App Router, static export) using the packed package from a client component;
// built by tests/browser/frameworks.test.mjs in a copy (build/) where the package is installed.
import { fileURLToPath } from "node:url";

export default {
  output: "export",
  // next and react come from the repository's node_modules, above the app.
  turbopack: { root: fileURLToPath(new URL("../../../../", import.meta.url)) },
};
