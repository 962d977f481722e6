// Types of scripts/gen-types.mjs for the TypeScript tests that import it.
export declare const SCHEMA_PATH: string;
export declare const OUTPUT_PATH: string;
export declare function generateWorkflowTypes(schemaPath?: string): Promise<string>;
