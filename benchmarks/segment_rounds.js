#!/usr/bin/env node
'use strict'
// Segment's side of benchmarks/engine.py, one timed pass per request, so that the Python side
// can alternate its own passes with these (ours, theirs, ours, ...) on the same machine state.
//
//   node benchmarks/segment_rounds.js --peer DIR --workload FILE [--instance FILE]
//
// DIR is the prepared peer (.cache/peer or $ACTIONKIT_PEER_DIR, see benchmarks/peer.py): its
// lib.js loads Segment's own packages from its node_modules. FILE is the workload as
// gen_workload.js writes it ({events, subscriptions: [{id, fql, mapping}]}); the instance file
// is a JSON list of {id, fql}. Everything is loaded and every FQL string parsed once, before
// the first request.
//
// Requests, one a line on stdin; one JSON line answers each on stdout:
//   full              validate() every subscription on every event, transform() each match
//                     (bench.js's pass)      -> {"seconds", "matches", "output_keys", "errors"}
//   fql               validate() only        -> {"seconds", "matches"}
//   instance          validate() each of the instance's subscriptions on every event
//                                            -> {"seconds", "matches"}
//   instance-matches  not timed: per event, the indexes of the instance's subscriptions that
//                     match                  -> {"matched": [[i, ...], ...]}
// The first line written, before any request is read, is {"ready": true, "versions": {...}}.
const fs = require('fs')
const path = require('path')
const readline = require('readline')

function parseArgs(argv) {
  const args = { peer: '', workload: '', instance: '' }
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '')
    if (!(key in args) || argv[i + 1] === undefined) {
      throw new Error(`usage: segment_rounds.js --peer DIR --workload FILE [--instance FILE]`)
    }
    args[key] = argv[i + 1]
  }
  if (!args.peer || !args.workload) throw new Error('--peer and --workload are required')
  return args
}

function parseAll(subs) {
  return subs.map((s) => {
    const ast = lib.parseFql(s.fql)
    if (ast.error) throw new Error(`subscription ${s.id}: FQL parse error: ${ast.error.message}`)
    return ast
  })
}

const args = parseArgs(process.argv.slice(2))
const lib = require(path.join(path.resolve(args.peer), 'lib.js'))
const workload = JSON.parse(fs.readFileSync(args.workload, 'utf8'))
const events = workload.events
const asts = parseAll(workload.subscriptions)
// Reused across calls, as a destination would, and as bench.js does.
const mappings = workload.subscriptions.map((s) => s.mapping)
const instanceAsts = args.instance ? parseAll(JSON.parse(fs.readFileSync(args.instance, 'utf8'))) : []

function seconds(start) {
  return Number(process.hrtime.bigint() - start) / 1e9
}

function fullPass() {
  let matches = 0
  let errors = 0
  let outputKeys = 0
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < events.length; i++) {
    const ev = events[i]
    for (let j = 0; j < asts.length; j++) {
      if (lib.validateFql(asts[j], ev)) {
        matches++
        try {
          outputKeys += Object.keys(lib.transform(mappings[j], ev)).length
        } catch (e) {
          errors++
        }
      }
    }
  }
  return { seconds: seconds(t0), matches, output_keys: outputKeys, errors }
}

function fqlPass(list) {
  let matches = 0
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < events.length; i++) {
    const ev = events[i]
    for (let j = 0; j < list.length; j++) if (lib.validateFql(list[j], ev)) matches++
  }
  return { seconds: seconds(t0), matches }
}

function instanceMatches() {
  const matched = []
  for (let i = 0; i < events.length; i++) {
    const found = []
    for (let j = 0; j < instanceAsts.length; j++) if (lib.validateFql(instanceAsts[j], events[i])) found.push(j)
    matched.push(found)
  }
  return { matched }
}

const handlers = {
  full: fullPass,
  fql: () => fqlPass(asts),
  instance: () => fqlPass(instanceAsts),
  'instance-matches': instanceMatches
}

async function main() {
  process.stdout.write(JSON.stringify({ ready: true, versions: lib.versions() }) + '\n')
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity })
  for await (const line of rl) {
    const request = line.trim()
    if (request === '') continue
    const handler = handlers[request]
    const answer = handler ? handler() : { error: `unknown request: ${request}` }
    process.stdout.write(JSON.stringify(answer) + '\n')
  }
}

main().catch((e) => {
  process.stderr.write(`${e.stack || e}\n`)
  process.exit(1)
})
