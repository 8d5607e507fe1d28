import fc from 'fast-check';

/** The subset of JSON Schema that /openapi.json uses for inputs. */
export interface JsonSchema {
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  default?: unknown;
}

/**
 * What a hostile or careless client sends where a value is expected: wrong types, nulls, booleans where
 * numbers go, NUL characters, numbers beyond bigint and beyond 2^53, impossible and out-of-range dates,
 * huge strings, nested structures, operators smuggled in as objects.
 */
export const malformedValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(
    null,
    true,
    false,
    0,
    -1,
    1.5,
    1e21,
    -1e21,
    2 ** 63,
    2 ** 53 + 2,
    Number.MAX_VALUE,
    '',
    ' ',
    '\u0000',
    'a\u0000b',
    '\ud800',
    '0000-01-01',
    '2024-02-30',
    '99999-01-01',
    '0000-01-01T00:00:00Z',
    '2026-13-45T99:99:99Z',
    '1e21',
    '-1',
    '9223372036854775808',
    'true',
    'null',
    '../../etc/passwd',
    "'; DROP TABLE documents; --",
    'x'.repeat(5_000),
    [],
    {},
    [null],
    { $gt: 1 },
    JSON.parse('{"__proto__": {"admin": true}}'),
  ),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.integer(),
  fc.double(),
  fc.array(fc.anything({ maxDepth: 1 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.anything({ maxDepth: 1 }), { maxKeys: 3 }),
);

function typesOf(schema: JsonSchema): string[] {
  if (schema.type === undefined) return [];
  return Array.isArray(schema.type) ? schema.type : [schema.type];
}

/** A value the schema accepts, more or less: enough for a request to get past validation and reach the handler. */
export function validValue(schema: JsonSchema): fc.Arbitrary<unknown> {
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum) return fc.constantFrom(...schema.enum);
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives) return fc.oneof(...alternatives.map(validValue));
  const [type] = typesOf(schema).filter((candidate) => candidate !== 'null');
  switch (type) {
    case 'integer':
      return fc.integer({
        min: Math.max(schema.minimum ?? -1_000_000, Number.MIN_SAFE_INTEGER),
        max: Math.min(schema.maximum ?? 1_000_000, 2 ** 31 - 1),
      });
    case 'number':
      return fc.double({ min: schema.minimum ?? -1e6, max: schema.maximum ?? 1e6, noNaN: true });
    case 'boolean':
      return fc.boolean();
    case 'array':
      return fc.array(schema.items ? validValue(schema.items) : fc.string(), {
        minLength: schema.minItems ?? 0,
        maxLength: Math.min(schema.maxItems ?? 3, 3),
      });
    case 'object':
      return objectOf(schema, validValue);
    default:
      return validString(schema);
  }
}

function validString(schema: JsonSchema): fc.Arbitrary<string> {
  if (schema.format === 'date') {
    return fc
      .date({ min: new Date('1900-01-01'), max: new Date('2100-01-01'), noInvalidDate: true })
      .map((date) => date.toISOString().slice(0, 10));
  }
  if (schema.format === 'date-time') {
    return fc
      .date({ min: new Date('1970-01-01'), max: new Date('2100-01-01'), noInvalidDate: true })
      .map((date) => date.toISOString());
  }
  if (schema.pattern) return fc.stringMatching(new RegExp(schema.pattern));
  return fc.string({ minLength: schema.minLength ?? 0, maxLength: Math.min(schema.maxLength ?? 30, 30) });
}

function objectOf(
  schema: JsonSchema,
  value: (property: JsonSchema) => fc.Arbitrary<unknown>,
): fc.Arbitrary<Record<string, unknown>> {
  const properties = schema.properties ?? {};
  const required = new Set(schema.required ?? []);
  const entries = Object.entries(properties).map(
    ([name, property]) =>
      [
        name,
        required.has(name) ? value(property) : fc.option(value(property), { nil: undefined, freq: 3 }),
      ] as const,
  );
  return fc.record(Object.fromEntries(entries)).map((record) => {
    const defined: Record<string, unknown> = {};
    for (const [name, field] of Object.entries(record)) if (field !== undefined) defined[name] = field;
    return defined;
  });
}

/**
 * A value shaped like the schema, with some of it wrong: each field valid, malformed or missing, extra
 * fields added, or the whole value replaced by something malformed.
 */
export function maulValue(schema: JsonSchema): fc.Arbitrary<unknown> {
  const field = (property: JsonSchema): fc.Arbitrary<unknown> =>
    fc.oneof({ weight: 2, arbitrary: validValue(property) }, { weight: 3, arbitrary: maulValue(property) });
  const types = typesOf(schema);
  const shaped: fc.Arbitrary<unknown>[] = [];
  if (types.includes('object') || schema.properties) {
    shaped.push(
      fc
        .tuple(
          objectOf(schema, field),
          fc.option(fc.dictionary(fc.string({ maxLength: 8 }), malformedValue, { maxKeys: 2 })),
        )
        .map(([object, extra]) => ({ ...object, ...extra })),
    );
  }
  if (types.includes('array') && schema.items) {
    shaped.push(fc.array(field(schema.items), { maxLength: (schema.maxItems ?? 3) + 2 }));
    if (schema.maxItems !== undefined) {
      shaped.push(
        fc.array(validValue(schema.items), {
          minLength: schema.maxItems + 1,
          maxLength: schema.maxItems + 3,
        }),
      );
    }
  }
  return shaped.length > 0
    ? fc.oneof(malformedValue, ...shaped)
    : fc.oneof(malformedValue, validValue(schema));
}

/** How a malformed value travels in a path segment or a query string. */
export function asText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === undefined) return '';
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}
