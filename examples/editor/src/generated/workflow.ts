// Generated from docs/workflow.schema.json by `npm run gen:types` (json-schema-to-typescript).
// Do not edit: change the schema and regenerate. src/types.ts builds the editor's types on these.
/* eslint-disable */

/**
 * A node (React Flow's shape). Fields other than these are kept as they are.
 *
 * This interface was referenced by `ChorusWorkflow`'s JSON-Schema
 * via the `definition` "node".
 */
export type WorkflowNode = Node;
/**
 * A test on a node's input text.
 *
 * This interface was referenced by `ChorusWorkflow`'s JSON-Schema
 * via the `definition` "condition".
 */
export type Condition = {
  /**
   * contains: the text contains value. equals: the trimmed text equals the trimmed value. starts_with: the left-trimmed text starts with value. regex: the ECMAScript regular expression value matches somewhere. json_field: the text (or the JSON inside it) has a field at path; with value, its text equals value; without, it is truthy.
   */
  op: 'contains' | 'equals' | 'regex' | 'json_field' | 'starts_with';
  /**
   * The text to compare with (numbers and booleans compare with a JSON field's text).
   */
  value?: string | number | boolean;
  /**
   * json_field only: a JSON path such as "a.b[0]" or "$.items[2].name".
   */
  path?: string;
  /**
   * Compare case-insensitively.
   */
  ignoreCase?: boolean;
  [k: string]: unknown;
};
/**
 * A pure text operation on the node's input (its upstream outputs joined by a blank line).
 *
 * This interface was referenced by `ChorusWorkflow`'s JSON-Schema
 * via the `definition` "transformData".
 */
export type TransformData = {
  /**
   * The node's name on the editor's canvas; not used by the engine.
   */
  label?: string;
  op:
    'template' | 'json_extract' | 'regex_extract' | 'split' | 'join' | 'trim' | 'uppercase' | 'lowercase' | 'truncate';
  /**
   * op template: the output. A template: {{input}}, {{workflow.input}}, {{nodes.<id>.output}}, {{nodes.<id>.output.json.<path>}}, {{item}}, {{loop.iteration}}; \{{ is a literal {{.
   */
  template?: string;
  /**
   * op json_extract: JSON path into the input's JSON ("" or "$" = all of it).
   */
  path?: string;
  /**
   * op regex_extract: ECMAScript regular expression.
   */
  pattern?: string;
  /**
   * op regex_extract: the capture group to output.
   */
  group?: number;
  ignoreCase?: boolean;
  /**
   * op split: what separates items; op join: what goes between them.
   */
  separator?: string;
  /**
   * op split: drop blank items (and trim the others).
   */
  skipEmpty?: boolean;
  /**
   * op truncate: the token cap (estimate: 4 code points per token).
   */
  maxTokens?: number;
  [k: string]: unknown;
};

/**
 * A Chorus workflow document: React Flow's nodes and edges with typed node data. Unknown fields are allowed at every level and are preserved by the library. See docs/workflows.md. Graph rules (ids unique, edges point at nodes, templates reference upstream nodes, cycles pass through a loop node, ...) are checked by `chorus validate`, not by this schema.
 */
export interface ChorusWorkflow {
  id?: string;
  name?: string;
  description?: string;
  /**
   * Template library: the category.
   */
  category?: string;
  /**
   * Template library: search tags.
   */
  tags?: string[];
  nodes: WorkflowNode[];
  edges?: WorkflowEdge[];
  [k: string]: unknown;
}
export interface Node {
  /**
   * Unique among the nodes.
   */
  id: string;
  /**
   * The node kind.
   */
  type: 'input' | 'output' | 'llm' | 'transform' | 'router' | 'merge' | 'loop' | 'map';
  position?: {
    x: number;
    y: number;
    [k: string]: unknown;
  };
  /**
   * The map node whose body this node belongs to.
   */
  parentId?: string | null;
  data?: {
    [k: string]: unknown;
  };
  [k: string]: unknown;
}
/**
 * An edge (React Flow's shape). Fields other than these are kept as they are.
 *
 * This interface was referenced by `ChorusWorkflow`'s JSON-Schema
 * via the `definition` "edge".
 */
export interface WorkflowEdge {
  /**
   * Unique among the edges.
   */
  id: string;
  /**
   * Id of the node the edge leaves.
   */
  source: string;
  /**
   * Id of the node the edge enters.
   */
  target: string;
  /**
   * Router: the branch label. Loop: "continue" or "exit". llm with onError branch: "error" for the error branch.
   */
  sourceHandle?: string | null;
  targetHandle?: string | null;
  data?: {
    [k: string]: unknown;
  };
  [k: string]: unknown;
}
/**
 * This interface was referenced by `ChorusWorkflow`'s JSON-Schema
 * via the `definition` "modelRef".
 */
export interface ModelRef {
  /**
   * Provider id.
   */
  provider: string;
  /**
   * Model id.
   */
  model: string;
  [k: string]: unknown;
}
/**
 * Receives the run's input text.
 *
 * This interface was referenced by `ChorusWorkflow`'s JSON-Schema
 * via the `definition` "inputData".
 */
export interface InputData {
  /**
   * The node's name on the editor's canvas; not used by the engine.
   */
  label?: string;
  /**
   * Used when the run's input is empty.
   */
  defaultValue?: string;
  [k: string]: unknown;
}
/**
 * The workflow's result.
 *
 * This interface was referenced by `ChorusWorkflow`'s JSON-Schema
 * via the `definition` "outputData".
 */
export interface OutputData {
  /**
   * The node's name on the editor's canvas; not used by the engine.
   */
  label?: string;
  /**
   * The output text; default {{input}}. A template: {{input}}, {{workflow.input}}, {{nodes.<id>.output}}, {{nodes.<id>.output.json.<path>}}, {{item}}, {{loop.iteration}}; \{{ is a literal {{.
   */
  template?: string;
  [k: string]: unknown;
}
/**
 * One chat call to a model.
 *
 * This interface was referenced by `ChorusWorkflow`'s JSON-Schema
 * via the `definition` "llmData".
 */
export interface LlmData {
  /**
   * The node's name on the editor's canvas; not used by the engine.
   */
  label?: string;
  /**
   * Provider id: openai, anthropic, gemini, deepseek, openai-compatible, simulated or a registered one.
   */
  provider: string;
  /**
   * Model id of that provider.
   */
  model: string;
  /**
   * The system prompt. A template: {{input}}, {{workflow.input}}, {{nodes.<id>.output}}, {{nodes.<id>.output.json.<path>}}, {{item}}, {{loop.iteration}}; \{{ is a literal {{.
   */
  systemPrompt?: string;
  /**
   * The user message; default {{input}}. A template: {{input}}, {{workflow.input}}, {{nodes.<id>.output}}, {{nodes.<id>.output.json.<path>}}, {{item}}, {{loop.iteration}}; \{{ is a literal {{.
   */
  prompt?: string;
  temperature?: number;
  /**
   * Output token cap.
   */
  maxTokens?: number;
  /**
   * @maxItems 16
   */
  stop?: string[];
  /**
   * Ask for a JSON object answer where the vendor supports it.
   */
  jsonMode?: boolean;
  /**
   * Total deadline of one call.
   */
  timeoutMs?: number;
  /**
   * Extra attempts per model on retryable failures.
   */
  retries?: number;
  /**
   * Tried in order when the main model fails for good.
   */
  fallbacks?: {
    /**
     * Provider id.
     */
    provider: string;
    /**
     * Model id.
     */
    model: string;
    [k: string]: unknown;
  }[];
  /**
   * fail: the run fails. continue: the node succeeds with defaultOutput. branch: only edges with sourceHandle "error" are taken, carrying the error message.
   */
  onError?: 'fail' | 'continue' | 'branch';
  /**
   * Output when onError is continue and the call failed.
   */
  defaultOutput?: string;
  [k: string]: unknown;
}
/**
 * Chooses one outgoing branch: the edges whose sourceHandle is the chosen label are taken, the others are skipped. Its output is its input.
 *
 * This interface was referenced by `ChorusWorkflow`'s JSON-Schema
 * via the `definition` "routerData".
 */
export interface RouterData {
  /**
   * The node's name on the editor's canvas; not used by the engine.
   */
  label?: string;
  mode?: 'condition' | 'classify';
  /**
   * condition mode: the first route whose condition matches wins.
   *
   * Items: A branch of a condition router: a label plus a condition.
   */
  routes?: {
    /**
     * The branch: edges leaving the router with this sourceHandle are taken when the condition matches.
     */
    label: string;
    /**
     * contains: the text contains value. equals: the trimmed text equals the trimmed value. starts_with: the left-trimmed text starts with value. regex: the ECMAScript regular expression value matches somewhere. json_field: the text (or the JSON inside it) has a field at path; with value, its text equals value; without, it is truthy.
     */
    op: 'contains' | 'equals' | 'regex' | 'json_field' | 'starts_with';
    /**
     * The text to compare with (numbers and booleans compare with a JSON field's text).
     */
    value?: string | number | boolean;
    /**
     * json_field only: a JSON path such as "a.b[0]" or "$.items[2].name".
     */
    path?: string;
    /**
     * Compare case-insensitively.
     */
    ignoreCase?: boolean;
    [k: string]: unknown;
  }[];
  /**
   * The branch taken when nothing matches.
   */
  defaultRoute?: string;
  /**
   * classify mode: provider of the classification call.
   */
  provider?: string;
  /**
   * classify mode: model of the classification call.
   */
  model?: string;
  /**
   * classify mode: the labels the model chooses from.
   *
   * @minItems 1
   */
  labels?: (
    | string
    | {
        /**
         * A label.
         */
        label: string;
        /**
         * What belongs under this label (shown to the model).
         */
        description?: string;
        [k: string]: unknown;
      }
  )[];
  /**
   * classify mode: extra guidance for the model.
   */
  instructions?: string;
  temperature?: number;
  [k: string]: unknown;
}
/**
 * Joins parallel branches.
 *
 * This interface was referenced by `ChorusWorkflow`'s JSON-Schema
 * via the `definition` "mergeData".
 */
export interface MergeData {
  /**
   * The node's name on the editor's canvas; not used by the engine.
   */
  label?: string;
  /**
   * all: wait for every (non-skipped) input. first: go on with the first input to finish.
   */
  mode?: 'all' | 'first';
  /**
   * The output; default: the inputs joined by a blank line, in edge order. A template: {{input}}, {{workflow.input}}, {{nodes.<id>.output}}, {{nodes.<id>.output.json.<path>}}, {{item}}, {{loop.iteration}}; \{{ is a literal {{.
   */
  template?: string;
  [k: string]: unknown;
}
/**
 * Caps a cycle. Each visit either sends its output back through the edges with sourceHandle "continue" or out through those with sourceHandle "exit". exitCondition: exit early when the loop's input matches.
 *
 * This interface was referenced by `ChorusWorkflow`'s JSON-Schema
 * via the `definition` "loopData".
 */
export interface LoopData {
  /**
   * The node's name on the editor's canvas; not used by the engine.
   */
  label?: string;
  /**
   * How many times "continue" may be taken; the next visit exits.
   */
  maxIterations: number;
  exitCondition?: Condition;
  /**
   * The loop's output (sent through continue or exit); default {{input}}. A template: {{input}}, {{workflow.input}}, {{nodes.<id>.output}}, {{nodes.<id>.output.json.<path>}}, {{item}}, {{loop.iteration}}; \{{ is a literal {{.
   */
  template?: string;
  [k: string]: unknown;
}
/**
 * Runs its body (the nodes whose parentId is this map) once per item of its input, then collects the body's outputs in item order.
 *
 * This interface was referenced by `ChorusWorkflow`'s JSON-Schema
 * via the `definition` "mapData".
 */
export interface MapData {
  /**
   * The node's name on the editor's canvas; not used by the engine.
   */
  label?: string;
  /**
   * lines: one item per non-blank line. separator: items between separator. json: the input is a JSON array.
   */
  itemsFormat?: 'lines' | 'separator' | 'json';
  /**
   * itemsFormat separator: the text between items.
   */
  separator?: string;
  /**
   * Items run at the same time.
   */
  concurrency?: number;
  /**
   * Fail when the input has more items.
   */
  maxItems?: number;
  /**
   * join: outputs joined by joinSeparator. json: a JSON array of the outputs.
   */
  collect?: 'join' | 'json';
  joinSeparator?: string;
  [k: string]: unknown;
}
