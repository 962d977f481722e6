// src/generated/workflow.ts must be what `npm run gen:types` makes from docs/workflow.schema.json
// now: a schema change without a regeneration fails here.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OUTPUT_PATH, SCHEMA_PATH, generateWorkflowTypes } from '../scripts/gen-types.mjs';

describe('generated workflow types', () => {
  it('src/generated/workflow.ts is up to date with docs/workflow.schema.json', async () => {
    const fresh = await generateWorkflowTypes();
    const committed = readFileSync(OUTPUT_PATH, 'utf8');
    expect(committed, 'stale: run `npm run gen:types` in examples/editor').toBe(fresh);
  });

  it('covers every node kind of the schema, with its data type', async () => {
    const schema = JSON.parse(readFileSync(SCHEMA_PATH, 'utf8'));
    const kinds: string[] = schema.$defs.node.properties.type.enum;
    const source = await generateWorkflowTypes();
    for (const kind of kinds) {
      const name = `${kind[0].toUpperCase()}${kind.slice(1)}Data`;
      expect(source, name).toMatch(new RegExp(`export (interface|type) ${name}\\b`));
    }
  });

  it('a changed schema gives different types (the staleness check can fail)', async () => {
    const schema = JSON.parse(readFileSync(SCHEMA_PATH, 'utf8'));
    schema.$defs.llmData.properties.seed = { type: 'integer', description: 'Sampling seed.' };
    const path = join(mkdtempSync(join(tmpdir(), 'chorus-schema-')), 'workflow.schema.json');
    writeFileSync(path, JSON.stringify(schema));
    const changed = await generateWorkflowTypes(path);
    expect(changed).not.toBe(await generateWorkflowTypes());
    expect(changed).toMatch(/seed\?: number;/);
  });
});
