// A resolve hook for the docs' recipes: an import of a package's directory (Apollo's
// "@apollo/client/core", "@apollo/client/link/context") resolves as a bundler resolves it, to
// the directory's package.json "module" entry (else index.js). Node alone refuses those
// imports for packages that have no "exports" map.
import { readFile } from "node:fs/promises";

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    if (error?.code !== "ERR_UNSUPPORTED_DIR_IMPORT" || !error.url) throw error;
    const dir = new URL(`${error.url}/`);
    const manifest = await readFile(new URL("package.json", dir), "utf8").catch(() => "{}");
    const entry = JSON.parse(manifest).module ?? "index.js";
    return nextResolve(new URL(entry, dir).href, context);
  }
}
