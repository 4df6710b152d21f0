// check-examples.mjs - validate schemas/ and schemas/examples/ with ajv, the reference
// JavaScript validator for JSON Schema draft 2020-12.
//
//   node test/schemas/check-examples.mjs        (after npm ci --prefix test/bench)
//
// 1. Every schemas/*.json compiles with Ajv2020 in strict mode (all strict options on) with
//    ajv-formats; all schemas are added first, so absolute "$ref"s between them resolve.
// 2. Each message schema is consistent with its file: $id https://hublink.example/schemas/<queue>/1.0,
//    x-hublink-queue = <queue>, and x-hublink-section unique.
// 3. Every schemas/examples/<queue>.json is valid against schemas/<queue>.json, and there is one
//    example per message schema; all examples tell one story (same removalId).
// 4. Every schemas/examples/invalid/<queue>.<what>.json is invalid against schemas/<queue>.json and
//    has a sidecar <queue>.<what>.txt saying what is wrong.
//
// Output is TAP-like ("ok N - ...", "not ok N - ...") and ends with "N passed, M failed"; the exit
// status is non-zero on any failure.

import { createRequire } from 'node:module';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { dirname, join, resolve, basename } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const top = resolve(here, '..', '..');
const require = createRequire(join(top, 'test', 'bench', 'package.json'));
const Ajv2020 = require('ajv/dist/2020').default;
const addFormats = require('ajv-formats').default;

const schemaDir = join(top, 'schemas');
const exampleDir = join(schemaDir, 'examples');
const invalidDir = join(exampleDir, 'invalid');
const ID_BASE = 'https://hublink.example/schemas/';

let n = 0;
let passed = 0;
let failed = 0;

function result(ok, name, detail) {
	n++;
	if (ok) {
		passed++;
		console.log(`ok ${n} - ${name}`);
	} else {
		failed++;
		console.log(`not ok ${n} - ${name}`);
		if (detail)
			for (const line of String(detail).split('\n'))
				console.log(`#   ${line}`);
	}
}

function readJson(path) {
	return JSON.parse(readFileSync(path, 'utf8'));
}

function describeErrors(errors) {
	return (errors || [])
		.map((e) => `${e.instancePath || '(root)'} ${e.schemaPath}: ${e.message}`)
		.join('\n');
}

const ajv = new Ajv2020({ strict: true, allErrors: true });
addFormats(ajv);
// Annotations the catalogue generator reads; validators ignore them (2020-12 allows unknown
// keywords, ajv's strict mode wants them declared).
for (const keyword of ['x-hublink-section', 'x-hublink-queue', 'x-hublink-recipient'])
	ajv.addKeyword({ keyword, schemaType: 'string' });

// 1. Load and add every schema, then compile each.
const schemaFiles = readdirSync(schemaDir).filter((f) => f.endsWith('.json')).sort();
const schemas = new Map(); // file stem -> schema
for (const file of schemaFiles) {
	const stem = basename(file, '.json');
	try {
		const schema = readJson(join(schemaDir, file));
		schemas.set(stem, schema);
		ajv.addSchema(schema);
	} catch (e) {
		result(false, `schemas/${file} loads`, e.message);
	}
}

const validators = new Map();
for (const [stem, schema] of schemas) {
	try {
		validators.set(stem, ajv.getSchema(schema.$id) || ajv.compile(schema));
		result(true, `schemas/${stem}.json compiles (strict)`);
	} catch (e) {
		result(false, `schemas/${stem}.json compiles (strict)`, e.message);
	}
}

// 2. Consistency of the annotations with file names and ids.
const messageStems = [...schemas.keys()].filter((s) => 'x-hublink-section' in schemas.get(s));
const sections = new Map();
for (const stem of messageStems) {
	const s = schemas.get(stem);
	const problems = [];
	if (s.$id !== `${ID_BASE}${stem}/1.0`)
		problems.push(`$id ${s.$id} is not ${ID_BASE}${stem}/1.0`);
	if (stem !== 'error' && s['x-hublink-queue'] !== stem)
		problems.push(`x-hublink-queue ${s['x-hublink-queue']} is not ${stem}`);
	if (sections.has(s['x-hublink-section']))
		problems.push(`x-hublink-section ${s['x-hublink-section']} also in ${sections.get(s['x-hublink-section'])}`);
	sections.set(s['x-hublink-section'], stem);
	if (!s.title || !s.description)
		problems.push('title or description missing');
	// Direction (docs/architecture.md "The three parties"): the Hub sends requests, amendments and
	// cancellations to the provider named by the queue; providers answer the Hub.
	const sender = s.properties?.sender?.const;
	const recipient = s['x-hublink-recipient'];
	const provider = stem.startsWith('escort-') ? 'ESP' : stem.startsWith('travel-') ? 'TSP' : null;
	if (provider && !((sender === 'HUB' && recipient === provider) || (sender === provider && recipient === 'HUB')))
		problems.push(`sender ${sender} -> recipient ${recipient} does not fit queue ${stem}`);
	if (provider && s.properties?.messageType?.const !== stem.split('-').map((w) => w[0].toUpperCase() + w.slice(1)).join(''))
		problems.push(`messageType ${s.properties?.messageType?.const} does not match queue ${stem}`);
	result(problems.length === 0, `schemas/${stem}.json: $id, queue, section, direction and messageType are consistent`, problems.join('\n'));
}

// Every property of every schema has a description (the catalogue is generated from them).
function undescribed(node, path, out) {
	if (Array.isArray(node)) {
		node.forEach((v, i) => undescribed(v, `${path}/${i}`, out));
		return;
	}
	if (node === null || typeof node !== 'object')
		return;
	for (const [k, v] of Object.entries(node)) {
		if (k === 'properties' && v && typeof v === 'object' && !Array.isArray(v)) {
			for (const [p, sub] of Object.entries(v)) {
				// "x": true/false in conditionals only marks a property declared elsewhere.
				if (typeof sub === 'object' && sub !== null && !('description' in sub) && isDeclaration(path))
					out.push(`${path}/properties/${p}`);
				undescribed(sub, `${path}/properties/${p}`, out);
			}
		} else {
			undescribed(v, `${path}/${k}`, out);
		}
	}
}
function isDeclaration(path) {
	// Property declarations outside conditional subschemas (if/then/else/anyOf/oneOf/not/dependentSchemas).
	return !/\/(if|then|else|anyOf|not|dependentSchemas)(\/|$)/.test(path);
}
for (const [stem, s] of schemas) {
	const missing = [];
	undescribed(s, '', missing);
	result(missing.length === 0, `schemas/${stem}.json: every property has a description`, missing.join('\n'));
}

// 3. Valid examples, one per message schema, one removal.
const removalIds = new Set();
for (const stem of messageStems) {
	const path = join(exampleDir, `${stem}.json`);
	if (!existsSync(path)) {
		result(false, `examples/${stem}.json exists`);
		continue;
	}
	const validate = validators.get(stem);
	let doc;
	try {
		doc = readJson(path);
	} catch (e) {
		result(false, `examples/${stem}.json is valid`, e.message);
		continue;
	}
	if (doc.removalId)
		removalIds.add(doc.removalId);
	const ok = validate ? validate(doc) : false;
	result(ok, `examples/${stem}.json is valid`, ok ? '' : describeErrors(validate && validate.errors));
}
for (const file of readdirSync(exampleDir).filter((f) => f.endsWith('.json'))) {
	const stem = basename(file, '.json');
	if (!messageStems.includes(stem))
		result(false, `examples/${file} has a schema`, `no schemas/${stem}.json message schema`);
}
result(removalIds.size === 1, 'all examples belong to one removal', [...removalIds].join(', '));

// 4. Invalid examples.
const invalidFiles = existsSync(invalidDir)
	? readdirSync(invalidDir).filter((f) => f.endsWith('.json')).sort()
	: [];
result(invalidFiles.length > 0, 'there are invalid examples');
for (const file of invalidFiles) {
	const stem = file.split('.')[0];
	const validate = validators.get(stem);
	const note = join(invalidDir, file.replace(/\.json$/, '.txt'));
	if (!validate) {
		result(false, `examples/invalid/${file} names a schema`, `no schemas/${stem}.json`);
		continue;
	}
	if (!existsSync(note))
		result(false, `examples/invalid/${file} has a note`, `missing ${basename(note)}`);
	let doc;
	try {
		doc = readJson(join(invalidDir, file));
	} catch (e) {
		result(true, `examples/invalid/${file} is invalid (not JSON)`);
		continue;
	}
	const ok = !validate(doc);
	const count = (validate.errors || []).length;
	result(ok, `examples/invalid/${file} is invalid (${count} errors)`, ok ? '' : 'validated, expected errors');
}

console.log(`1..${n}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
