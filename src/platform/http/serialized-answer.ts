import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * An answer kept as the bytes it is sent as, with its entity tag: a cache hit is written as is,
 * with no parse and no serialisation, and a client holding the same version gets a 304.
 */
export interface SerializedAnswer {
  body: string;
  etag: string;
}

/** `body` is JSON already produced by the route's own serialiser (`reply.serialize`). */
export function serializedAnswer(body: string): SerializedAnswer {
  return { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
}

/**
 * The answer's UTF-8 bytes, encoded once per process: a cache's in-memory tier hands back the same
 * object on every hit, and writing a string would encode it again for each request.
 */
const encoded = new WeakMap<SerializedAnswer, Buffer>();
function bytesOf(answer: SerializedAnswer): Buffer {
  let bytes = encoded.get(answer);
  if (!bytes) {
    bytes = Buffer.from(answer.body);
    encoded.set(answer, bytes);
  }
  return bytes;
}

/**
 * Sends the answer, or 304 Not Modified when `If-None-Match` names its tag (weak comparison, as
 * RFC 9110 asks of GET). The caller has already authorised the request.
 */
export function sendSerialized(
  request: FastifyRequest,
  reply: FastifyReply,
  answer: SerializedAnswer,
): FastifyReply {
  reply.header('etag', answer.etag);
  if (matchesTag(request.headers['if-none-match'], answer.etag)) return reply.code(304).send();
  return reply.type('application/json; charset=utf-8').send(bytesOf(answer));
}

/** Whether `If-None-Match` names `etag` (or is `*`): the client holds the current version. */
export function matchesTag(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  if (ifNoneMatch.trim() === '*') return true;
  return ifNoneMatch.split(',').some((tag) => {
    const trimmed = tag.trim();
    return (trimmed.startsWith('W/') ? trimmed.slice(2) : trimmed) === etag;
  });
}
