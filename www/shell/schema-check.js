// Checks a parsed JSON value against the part of JSON Schema our configs use (type, const, enum,
// required, properties, items, minItems, minLength, pattern, minimum, maximum, exclusiveMinimum,
// local $ref): a few dozen lines instead of a validator library in every page.

/**
 * The first way `value` breaks `schema`, as "path: what is wrong", or null when it meets it.
 * @param {any} value
 * @param {any} schema
 * @param {any} [root] the schema that local `$ref`s point into
 * @param {string} [path]
 * @returns {string | null}
 */
export function schemaProblem(value, schema, root = schema, path = "") {
  const at = path || "the config";
  if (schema.$ref) {
    const target = schema.$ref.replace(/^#\//, "").split("/").reduce((/** @type {any} */ node, /** @type {string} */ key) => node?.[key], root);
    return schemaProblem(value, target, root, path);
  }
  const found = JSON.stringify(value);
  if ("const" in schema && value !== schema.const) return `${at} must be ${JSON.stringify(schema.const)}, found ${found}`;
  if (schema.enum && !schema.enum.includes(value)) return `${at} must be one of ${schema.enum.map((/** @type {unknown} */ v) => JSON.stringify(v)).join(", ")}, found ${found}`;
  const type = schema.type;
  const isObject = value !== null && typeof value === "object" && !Array.isArray(value);
  const typeOk = {
    object: isObject,
    array: Array.isArray(value),
    string: typeof value === "string",
    number: typeof value === "number" && Number.isFinite(value),
    integer: Number.isInteger(value),
    boolean: typeof value === "boolean",
  };
  if (type && !typeOk[/** @type {keyof typeof typeOk} */ (type)]) return `${at} must be ${type === "array" || type === "object" ? "an" : "a"} ${type}, found ${found}`;
  if (typeof value === "string") {
    if (schema.minLength !== undefined && value.length < schema.minLength) return `${at} must be a non-empty string`;
    if (schema.pattern && !new RegExp(schema.pattern).test(value)) return `${at} must match ${schema.pattern}${schema.description ? ` (${schema.description})` : ""}, found ${found}`;
  }
  if (typeof value === "number") {
    if (schema.minimum !== undefined && !(value >= schema.minimum)) return `${at} must be >= ${schema.minimum}, found ${found}`;
    if (schema.maximum !== undefined && !(value <= schema.maximum)) return `${at} must be <= ${schema.maximum}, found ${found}`;
    if (schema.exclusiveMinimum !== undefined && !(value > schema.exclusiveMinimum)) return `${at} must be > ${schema.exclusiveMinimum}, found ${found}`;
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) return `${at} must have at least ${schema.minItems} item(s)`;
    for (const [i, item] of value.entries()) {
      const problem = schema.items && schemaProblem(item, schema.items, root, `${path}[${i}]`);
      if (problem) return problem;
    }
  }
  if (isObject) {
    const prefix = path ? `${path}.` : "";
    for (const name of schema.required ?? []) {
      if (!(name in value)) return `${prefix}${name} is missing`;
    }
    for (const [name, property] of Object.entries(schema.properties ?? {})) {
      const problem = name in value && schemaProblem(value[name], property, root, `${prefix}${name}`);
      if (problem) return problem;
    }
  }
  return null;
}
