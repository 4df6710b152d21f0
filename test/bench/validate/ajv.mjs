// ajv 8 side of the validation benchmark: JSON.parse + validate per message, schemas
// compiled once. Usage: node ajv.mjs SCHEMAS_DIR CORPUS VERDICTS_OUT ROUNDS
// Prints "ajv <validations per second>"; writes one verdict per line (1 valid, 0 invalid).
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createRequire } from "node:module";

const require = createRequire(join(process.cwd(), "test/bench/package.json"));
const Ajv2020 = require("ajv/dist/2020").default;
const addFormats = require("ajv-formats").default;

const [schemasDir, corpusPath, verdictsPath, roundsArg] = process.argv.slice(2);
const rounds = Number(roundsArg || 1);
const ajv = new Ajv2020({ allErrors: false, strict: false });
addFormats(ajv);
const byType = new Map();
const files = readdirSync(schemasDir).filter((f) => f.endsWith(".json"));
for (const f of files) ajv.addSchema(JSON.parse(readFileSync(join(schemasDir, f), "utf8")));
// Which schema serves which messageType comes from the examples, not from a list here.
for (const f of readdirSync(join(schemasDir, "examples")).filter((f) => f.endsWith(".json"))) {
  const example = JSON.parse(readFileSync(join(schemasDir, "examples", f), "utf8"));
  const schema = JSON.parse(readFileSync(join(schemasDir, f), "utf8"));
  byType.set(example.messageType, ajv.getSchema(schema.$id));
}
const lines = readFileSync(corpusPath, "utf8").split("\n").filter((l) => l.length > 0);
let verdicts = new Uint8Array(lines.length);
const start = process.hrtime.bigint();
for (let r = 0; r < rounds; r++) {
  for (let i = 0; i < lines.length; i++) {
    let ok = 0;
    try {
      const doc = JSON.parse(lines[i]);
      const validate = byType.get(doc.messageType);
      ok = validate && validate(doc) ? 1 : 0;
    } catch (e) {
      ok = 0;
    }
    verdicts[i] = ok;
  }
}
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
writeFileSync(verdictsPath, Array.from(verdicts).join("\n") + "\n");
console.log(`ajv ${Math.round((lines.length * rounds) / seconds)}`);
