// Validates AsyncAPI documents with the AsyncAPI project's own parser (@asyncapi/parser).
// Usage: node scripts/asyncapi/validate.mjs FILE...
// Prints every diagnostic as "FILE: severity path: message" and exits 1 if any is an error
// (severity 0), 2 on bad usage; prints "FILE: valid AsyncAPI <version>" for a document without errors.
import { readFile } from "node:fs/promises";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node scripts/asyncapi/validate.mjs FILE...");
  process.exit(2);
}
const parser = new Parser();
const names = { 0: "error", 1: "warning", 2: "information", 3: "hint" };
let failed = false;
for (const file of files) {
  const text = await readFile(file, "utf8");
  const { document, diagnostics } = await parser.parse(text, { source: file });
  for (const d of diagnostics) {
    console.log(`${file}: ${names[d.severity] ?? d.severity} ${d.path.join(".")}: ${d.message} (${d.code})`);
  }
  const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
  if (errors.length > 0 || document === undefined) {
    failed = true;
  } else {
    console.log(`${file}: valid AsyncAPI ${document.version()}`);
  }
}
process.exit(failed ? 1 : 0);
