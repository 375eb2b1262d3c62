#!/usr/bin/env node
// Drives Contentstack's own client, @contentstack/personalize-edge-sdk, against an Edge API
// URL (actionkit's emulator in tests/test_personalize_sdk.py), the way a site uses it:
//
//   init (GET /manifest, no user: the API makes one) -> triggerEvent -> set ->
//   setUserId(known, {preserveUserAttributes: true}) (the merge) -> triggerImpression ->
//   init again as the known user (its manifest now reflects the attributes set).
//
// Usage: node sdk_client.js --url URL --project UID --modules DIR [--user KNOWN]
//        [--event KEY] [--attributes JSON] [--experience SHORT_UID]
// DIR is where `npm ci` installed the SDK (scripts/personalize-sdk.sh prints it).
// Prints one JSON object: what the SDK reported after each step. Exits 1 with the error's
// message on stderr when the SDK throws (for example "Could not fetch manifest: 404").
'use strict'

function parseArgs(argv) {
  const args = {}
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || argv[i + 1] === undefined) {
      throw new Error(`expected --name value pairs, got ${argv[i]}`)
    }
    args[argv[i].slice(2)] = argv[i + 1]
  }
  for (const name of ['url', 'project', 'modules']) {
    if (!args[name]) throw new Error(`--${name} is required`)
  }
  return args
}

async function main() {
  const args = parseArgs(process.argv.slice(2))
  const sdkPath = require.resolve('@contentstack/personalize-edge-sdk', { paths: [args.modules] })
  const Personalize = require(sdkPath)
  const version = require(require.resolve('@contentstack/personalize-edge-sdk/package.json', {
    paths: [args.modules]
  })).version
  const known = args.user || 'known-user'
  const eventKey = args.event || 'signup'
  const attributes = JSON.parse(args.attributes || '{"plan": "pro"}')
  const experience = args.experience || 'a'

  Personalize.setEdgeApiUrl(args.url)
  const sdk = await Personalize.init(args.project)
  const anonymous = sdk.getUserId()
  const report = {
    version,
    anonymous,
    first: { experiences: sdk.getExperiences(), aliases: sdk.getVariantAliases() }
  }
  await sdk.triggerEvent(eventKey)
  await sdk.set(attributes)
  await sdk.setUserId(known, { preserveUserAttributes: true })
  report.afterSetUserId = sdk.getUserId()
  await sdk.triggerImpression(experience)

  const again = await Personalize.init(args.project, { userId: known })
  report.second = {
    userId: again.getUserId(),
    experiences: again.getExperiences(),
    variants: again.getVariants(),
    aliases: again.getVariantAliases(),
    variantParam: again.getVariantParam()
  }
  await again.triggerImpressions({ experienceShortUids: again.getExperiences().map((e) => e.shortUid) })
  process.stdout.write(JSON.stringify(report) + '\n')
}

main().catch((error) => {
  process.stderr.write(`${error && error.message ? error.message : error}\n`)
  process.exit(1)
})
