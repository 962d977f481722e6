// Generates src/generated/workflow.ts, the workflow document's types, from the published JSON
// Schema (docs/workflow.schema.json): `npm run gen:types`. tests/generated.test.ts regenerates it
// in memory and fails when the committed file is stale.
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { compile } from 'json-schema-to-typescript';

export const SCHEMA_PATH = fileURLToPath(new URL('../../../docs/workflow.schema.json', import.meta.url));
export const OUTPUT_PATH = fileURLToPath(new URL('../src/generated/workflow.ts', import.meta.url));

const BANNER = `// Generated from docs/workflow.schema.json by \`npm run gen:types\` (json-schema-to-typescript).
// Do not edit: change the schema and regenerate. src/types.ts builds the editor's types on these.
/* eslint-disable */`;

/** The TypeScript source for the schema at `schemaPath`. */
export async function generateWorkflowTypes(schemaPath = SCHEMA_PATH) {
  const schema = JSON.parse(await readFile(schemaPath, 'utf8'));
  return compile(schema, 'ChorusWorkflow', {
    bannerComment: BANNER,
    // Every $def, also those only reached through if/then (the per-kind node data).
    unreachableDefinitions: true,
    // maxItems 16 on `stop` would otherwise become a union of 17 tuples.
    ignoreMinAndMaxItems: true,
    // The schema allows unknown fields everywhere (the library keeps them): open records.
    additionalProperties: true,
    cwd: fileURLToPath(new URL('../../../docs/', import.meta.url)),
    style: { singleQuote: true, printWidth: 120, trailingComma: 'all' },
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await writeFile(OUTPUT_PATH, await generateWorkflowTypes());
  console.log(`wrote ${OUTPUT_PATH}`);
}
