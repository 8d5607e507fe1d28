import { AjvCompiler, type ValidatorFactory } from '@fastify/ajv-compiler';
import type { FastifySchemaCompiler } from 'fastify';
import { Format } from 'typebox/format';
import { badRequest } from './problems.ts';

/** What of Ajv this file uses. */
interface Ajv {
  addFormat(name: string, format: { type: 'string'; validate: (text: string) => boolean }): unknown;
}

/**
 * Validators for requests. Path and query values arrive as text, so they are coerced to the schema's
 * types ("42" → 42); a JSON body is not: `null` or `true` where a number belongs is a 400, never 0 or 1.
 * Dates must be real calendar dates PostgreSQL can store (years 0001–9999).
 */
export function requestValidators(): ValidatorFactory {
  const pool = AjvCompiler();
  const factory = (
    externalSchemas: unknown,
    ajvServerOptions?: { customOptions?: object; plugins?: unknown[] },
  ) => {
    const build = (coerceTypes: 'array' | false) =>
      pool(
        externalSchemas as never,
        {
          customOptions: { ...ajvServerOptions?.customOptions, coerceTypes },
          plugins: ajvServerOptions?.plugins ?? [],
          onCreate: addStrictFormats,
        } as never,
      ) as FastifySchemaCompiler<unknown>;
    const fromText = build('array');
    const fromJson = build(false);
    return ((route) =>
      route.httpPart === 'body' ? fromJson(route) : fromText(route)) as FastifySchemaCompiler<unknown>;
  };
  return factory as unknown as ValidatorFactory;
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** A date of the Gregorian calendar from year 1 to 9999: what PostgreSQL's date stores and JavaScript reads alike. */
export function isCalendarDate(text: string): boolean {
  const match = DATE.exec(text);
  if (!match) return false;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (year < 1 || month < 1 || month > 12 || day < 1) return false;
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1] as number;
  return day <= days;
}

function isDateTime(text: string): boolean {
  const match = DATE_TIME.exec(text);
  if (!match || !isCalendarDate(match[1] as string)) return false;
  return Number(match[2]) < 24 && Number(match[3]) < 60 && Number(match[4]) < 60;
}

function addStrictFormats(ajv: Ajv): void {
  ajv.addFormat('date', { type: 'string', validate: isCalendarDate });
  ajv.addFormat('date-time', { type: 'string', validate: isDateTime });
}

// The same formats for what TypeBox validates itself (a multipart body's JSON fields). Set as this
// module loads: a compiled TypeBox check takes the format's function when it is compiled.
Format.Set('date', isCalendarDate);
Format.Set('date-time', isDateTime);

/** Where a request's value holds a NUL character (PostgreSQL's text cannot), as `body.title`, or undefined. */
export function nulCharacterAt(value: unknown, where: string): string | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? where : undefined;
  if (value === null || typeof value !== 'object') return undefined;
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) {
      const found = nulCharacterAt(item, `${where}.${index}`);
      if (found) return found;
    }
    return undefined;
  }
  // Streams and buffers (an upload's body) are data, not text fields.
  if (ArrayBuffer.isView(value) || typeof (value as { pipe?: unknown }).pipe === 'function') return undefined;
  for (const [key, item] of Object.entries(value)) {
    if (key.includes('\u0000')) return `${where}.${JSON.stringify(key)}`;
    const found = nulCharacterAt(item, `${where}.${key}`);
    if (found) return found;
  }
  return undefined;
}

/** Refuses a value holding a NUL character with a 400 naming where. */
export function refuseNulCharacters(value: unknown, where: string): void {
  const found = nulCharacterAt(value, where);
  if (found)
    throw badRequest(`${found} contains a NUL character`, [
      { field: found, message: 'contains a NUL character' },
    ]);
}

interface SchemaNode {
  type?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode | SchemaNode[];
  anyOf?: SchemaNode[];
  oneOf?: SchemaNode[];
  allOf?: SchemaNode[];
}

/**
 * The numbers of a request schema that declare no range, as `body.items.quantity`: every number a
 * client sends must be bounded, or an id beyond bigint reaches PostgreSQL and fails there.
 */
export function unboundedNumbers(schema: unknown, where: string): string[] {
  const node = schema as SchemaNode | undefined;
  if (!node || typeof node !== 'object') return [];
  const found: string[] = [];
  const types = Array.isArray(node.type) ? node.type : [node.type];
  if (types.includes('integer') || types.includes('number')) {
    const low = node.minimum ?? node.exclusiveMinimum;
    const high = node.maximum ?? node.exclusiveMaximum;
    if (low === undefined || high === undefined) found.push(where);
  }
  for (const [name, property] of Object.entries(node.properties ?? {})) {
    found.push(...unboundedNumbers(property, `${where}.${name}`));
  }
  const items = Array.isArray(node.items) ? node.items : node.items ? [node.items] : [];
  for (const item of items) found.push(...unboundedNumbers(item, `${where}[]`));
  for (const alternative of [...(node.anyOf ?? []), ...(node.oneOf ?? []), ...(node.allOf ?? [])]) {
    found.push(...unboundedNumbers(alternative, where));
  }
  return found;
}
