#!/usr/bin/env node
'use strict'
// Payload-validation peer: what Segment's @segment/actions-core 3.170.0 does to a mapped
// payload before `perform` sees it (destination-kit/action.js `execute`):
//   schema  = fieldsToJsonSchema(fields)
//   payload = removeEmptyValues(payload, schema, true)
//   validateSchema(payload, schema)   // arrifyFields, then ajv (coerceTypes 'array',
//                                     // removeAdditional, allErrors); mutates payload
//
// stdin : JSON lines {"id": ..., "fields": {<key>: <Segment field definition>}, "payload": {...}}
// stdout: JSON lines {"id", "payload" (the mutated payload), "valid", "errors": [message, ...],
//                     "pointers": [instancePath, ...] (parallel to errors), "schema"}
//         or {"id", "harness_error"} when Segment throws something other than a validation
//         error (an unknown format, say).
//
// Segment's packages are loaded from $ACTIONKIT_PEER_DIR, else <project>/.cache/peer.
const path = require('path')
const readline = require('readline')

const peerDir = process.env.ACTIONKIT_PEER_DIR || path.resolve(__dirname, '..', '..', '.cache', 'peer')
const coreDir = path.join(peerDir, 'node_modules', '@segment', 'actions-core', 'dist', 'cjs')
// Absolute paths: remove-empty-values is not in the package's "exports" map.
const { fieldsToJsonSchema } = require(path.join(coreDir, 'destination-kit', 'fields-to-jsonschema.js'))
const { removeEmptyValues } = require(path.join(coreDir, 'remove-empty-values.js'))
const { validateSchema } = require(path.join(coreDir, 'schema-validation.js'))

function evalRecord(rec) {
  const schema = fieldsToJsonSchema(rec.fields)
  const payload = removeEmptyValues(rec.payload, schema, true)
  const out = { id: rec.id, payload, valid: true, errors: [], pointers: [], schema }
  try {
    validateSchema(payload, schema)
  } catch (e) {
    if (e.name !== 'AggregateAjvError') throw e
    out.valid = false
    for (const err of e) {
      out.errors.push(err.message)
      out.pointers.push(err.pointer)
    }
  }
  return out
}

async function main() {
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity })
  for await (const line of rl) {
    if (line.trim() === '') continue
    const rec = JSON.parse(line)
    let result
    try {
      result = evalRecord(rec)
    } catch (e) {
      result = { id: rec.id, harness_error: String(e && e.message ? e.message : e) }
    }
    process.stdout.write(JSON.stringify(result) + '\n')
  }
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + '\n')
  process.exit(1)
})
