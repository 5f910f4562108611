// Loads an OPA-ABI policy module with the OPA npm SDK (@open-policy-agent/opa-wasm) and evaluates
// entrypoint 0 on each input document of a JSON array, on one warm instance, in order.
//
//   node evaluate.js <module.wasm> <inputs.json>
//
// Prints one JSON document: {"entrypoints": ..., "minorVersion": ..., "results": [<result set>...]}.
// Any failure (load, evaluation) exits non-zero with the error on stderr.
"use strict";

const fs = require("fs");
const { loadPolicy } = require("@open-policy-agent/opa-wasm");

async function main() {
  const [modulePath, inputsPath] = process.argv.slice(2);
  if (!modulePath || !inputsPath) {
    throw new Error("usage: node evaluate.js <module.wasm> <inputs.json>");
  }
  const policy = await loadPolicy(fs.readFileSync(modulePath));
  const inputs = JSON.parse(fs.readFileSync(inputsPath, "utf8"));
  const results = inputs.map((input) => policy.evaluate(input));
  process.stdout.write(JSON.stringify({
    entrypoints: policy.entrypoints,
    minorVersion: policy.minorVersion,
    results,
  }));
}

main().catch((error) => {
  process.stderr.write(`opa-wasm (npm): ${error && error.stack ? error.stack : error}\n`);
  process.exit(1);
});
