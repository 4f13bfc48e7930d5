// validate_ajv.js - validations per second of ajv (2020-12 build, compiled
// schema, ajv-formats) on one schema and one instance, for bench/validate.sh.
// Usage: node validate_ajv.js SCHEMA.json INSTANCE.json [SECONDS]
// Prints: "<verdict> first-error <n>/s all-errors <n>/s" (allErrors false / true).
"use strict";
const fs = require("fs");
const Ajv2020 = require("ajv/dist/2020");
const addFormats = require("ajv-formats");

const [schemaFile, instFile, secsArg] = process.argv.slice(2);
const secs = Number(secsArg || 2);
const schema = JSON.parse(fs.readFileSync(schemaFile, "utf8"));
const inst = JSON.parse(fs.readFileSync(instFile, "utf8"));

function compile(allErrors) {
  const ajv = new Ajv2020({ allErrors, strict: false });
  addFormats(ajv);
  return ajv.compile(schema);
}

function rate(validate, s) {
  const t0 = process.hrtime.bigint();
  let n = 0, t = 0;
  do {
    for (let i = 0; i < 1000; i++) validate(inst);
    n += 1000;
    t = Number(process.hrtime.bigint() - t0) / 1e9;
  } while (t < s);
  return n / t;
}

const first = compile(false), all = compile(true);
const verdict = first(inst) ? "valid" : "invalid";
rate(first, secs / 4);
rate(all, secs / 4);
const f = rate(first, secs).toFixed(0), a = rate(all, secs).toFixed(0);
console.log(`${verdict} first-error ${f}/s all-errors ${a}/s`);
