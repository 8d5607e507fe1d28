import { createHash, randomUUID } from 'node:crypto';
import Fastify, { type FastifyReply, type FastifyRequest, type RouteGenericInterface } from 'fastify';
import type {
  Bundle,
  BundleEntry,
  BundleLink,
  CapabilityStatement,
  DocumentReference,
  FhirResource,
  OperationOutcome,
  Patient,
} from 'fhir/r4.js';

const FHIR_JSON = 'application/fhir+json';
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
const DEFAULT_PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 1000;

export const FHIR_INTERACTIONS = [
  'metadata',
  'patient-read',
  'patient-search',
  'patient-update',
  'binary-create',
  'documentreference-create',
  'documentreference-search',
  'documentreference-read',
  'documentreference-update',
  'unknown',
] as const;
export type FhirInteraction = (typeof FHIR_INTERACTIONS)[number];

/** What each FHIR route is, for the stats. */
type RouteConfig = { interaction: FhirInteraction };

export interface StoredBinary {
  id: string;
  contentType: string;
  data: Buffer;
}

export interface FhirDevServerStats {
  /** FHIR requests received, by interaction, those answered with an injected fault included. */
  requests: Record<FhirInteraction, number>;
  /** What each Patient search (each page of one) asked for, in order of arrival. */
  patientSearches: Array<{ ids: string[]; offset: number }>;
  /** Requests answered with an injected fault. */
  faults: number;
  /** Requests held by the injected latency right now. */
  waiting: number;
}

export interface FhirDevServerOptions {
  host?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Added to every FHIR request. */
  latencyMs?: number;
  /** Answer any Patient id with a made-up Patient derived from it, so demo data needs no loading. */
  synthesizePatients?: boolean;
}

export interface FhirDevServer {
  /** `http://host:port/fhir`. */
  readonly baseUrl: string;
  /** Patients stored with PUT; they take precedence over synthesized ones. */
  readonly patients: Map<string, Patient>;
  readonly binaries: Map<string, StoredBinary>;
  readonly documentReferences: Map<string, DocumentReference>;
  setLatency(ms: number): void;
  /** The next `count` FHIR requests answer `status`, after the latency. */
  failNext(count: number, status?: number): void;
  stats(): FhirDevServerStats;
  close(): Promise<void>;
}

/**
 * A small in-memory FHIR R4 server for development, tests and the benchmark: Patient read, search by
 * `_id` (paged with `next` links) and update; Binary create (raw bytes); DocumentReference create
 * (honouring `If-None-Exist: identifier=…`), search by identifier, read and update of an existing one
 * (honouring `If-Match`); a CapabilityStatement. Versioned reads answer an ETag (`W/"versionId"`).
 * Latency and faults can be injected, here or over HTTP under `/_dev` from another process.
 */
export async function startFhirDevServer(options: FhirDevServerOptions = {}): Promise<FhirDevServer> {
  const host = options.host ?? '127.0.0.1';
  const synthesize = options.synthesizePatients ?? false;
  const patients = new Map<string, Patient>();
  const binaries = new Map<string, StoredBinary>();
  const documentReferences = new Map<string, DocumentReference>();
  let latencyMs = options.latencyMs ?? 0;
  const fault = { remaining: 0, status: 503 };
  const counters = {
    requests: Object.fromEntries(FHIR_INTERACTIONS.map((name) => [name, 0])) as Record<
      FhirInteraction,
      number
    >,
    patientSearches: [] as Array<{ ids: string[]; offset: number }>,
    faults: 0,
  };
  // Released on close, so a request held by a long latency does not keep the server (or a test) waiting.
  const held = new Set<() => void>();
  const hold = (ms: number) =>
    new Promise<void>((resolve) => {
      const release = () => {
        clearTimeout(timer);
        held.delete(release);
        resolve();
      };
      const timer = setTimeout(release, ms);
      held.add(release);
    });

  const app = Fastify({ logger: false, bodyLimit: 256 * 1024 * 1024, forceCloseConnections: true });
  app.addContentTypeParser(FHIR_JSON, { parseAs: 'string' }, app.getDefaultJsonParser('error', 'error'));

  app.addHook('onRequest', async (request, reply) => {
    if (!request.url.startsWith('/fhir/')) return;
    const interaction = (request.routeOptions.config as Partial<RouteConfig>).interaction;
    counters.requests[interaction ?? 'unknown'] += 1;
    if (latencyMs > 0) await hold(latencyMs);
    if (fault.remaining > 0) {
      fault.remaining -= 1;
      counters.faults += 1;
      return answer(reply, fault.status, outcome('transient', `injected fault (HTTP ${fault.status})`));
    }
  });

  app.setErrorHandler((error: { statusCode?: number; message: string }, _request, reply) => {
    const status = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500;
    return answer(reply, status, outcome(status < 500 ? 'invalid' : 'exception', error.message));
  });
  app.setNotFoundHandler((request, reply) =>
    answer(reply, 404, outcome('not-supported', `no interaction at ${request.method} ${request.url}`)),
  );

  app.get<RouteGenericInterface, RouteConfig>(
    '/fhir/metadata',
    { config: { interaction: 'metadata' } },
    (_request, reply) => answer(reply, 200, capabilityStatement()),
  );

  app.get<{ Params: { id: string } }, RouteConfig>(
    '/fhir/Patient/:id',
    { config: { interaction: 'patient-read' } },
    (request, reply) => {
      const patient = findPatient(request.params.id);
      return patient
        ? answer(reply, 200, patient)
        : answer(reply, 404, outcome('not-found', `Patient/${request.params.id} is not known`));
    },
  );

  app.get<{ Querystring: Record<string, string | string[] | undefined> }, RouteConfig>(
    '/fhir/Patient',
    { config: { interaction: 'patient-search' } },
    (request, reply) => {
      const count = whole(request.query._count, DEFAULT_PAGE_SIZE);
      const offset = whole(request.query._offset, 0);
      if (count === undefined || count < 1 || count > MAX_PAGE_SIZE || offset === undefined) {
        return answer(reply, 400, outcome('invalid', `_count must be 1 to ${MAX_PAGE_SIZE}, _offset ≥ 0`));
      }
      const ids = request.query._id === undefined ? undefined : [...new Set(tokens(request.query._id))];
      counters.patientSearches.push({ ids: ids ?? [], offset });
      const matches = ids
        ? ids.flatMap((id) => findPatient(id) ?? [])
        : [...patients.values()].sort((a, b) => (a.id ?? '').localeCompare(b.id ?? ''));
      const base = baseOf(request);
      const pageUrl = (at: number) => {
        const query = new URLSearchParams({ _count: String(count), _offset: String(at) });
        if (ids) query.set('_id', ids.join(','));
        return `${base}/Patient?${query}`;
      };
      const links: BundleLink[] = [{ relation: 'self', url: pageUrl(offset) }];
      if (offset + count < matches.length) links.push({ relation: 'next', url: pageUrl(offset + count) });
      return answer(
        reply,
        200,
        searchset(base, matches.length, matches.slice(offset, offset + count), links),
      );
    },
  );

  app.put<{ Params: { id: string }; Body: Patient | undefined }, RouteConfig>(
    '/fhir/Patient/:id',
    { config: { interaction: 'patient-update' } },
    (request, reply) => {
      const { id } = request.params;
      const body = request.body;
      if (
        body?.resourceType !== 'Patient' ||
        !FHIR_ID.test(id) ||
        (body.id !== undefined && body.id !== id)
      ) {
        return answer(
          reply,
          400,
          outcome('invalid', 'the body must be a Patient whose id is the one in the URL'),
        );
      }
      const previous = patients.get(id);
      const versionId = String(Number(previous?.meta?.versionId ?? 0) + 1);
      const patient: Patient = { ...body, id, meta: { ...body.meta, versionId, lastUpdated: now() } };
      patients.set(id, patient);
      reply.header('location', `${baseOf(request)}/Patient/${id}/_history/${versionId}`);
      return answer(reply, previous ? 200 : 201, patient);
    },
  );

  // Binary bodies are the document's bytes, whatever their type: they get a parser of their own.
  await app.register(async (binaryRoutes) => {
    binaryRoutes.removeAllContentTypeParsers();
    binaryRoutes.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
    binaryRoutes.post<{ Body: Buffer | undefined }, RouteConfig>(
      '/fhir/Binary',
      { config: { interaction: 'binary-create' } },
      (request, reply) => {
        const contentType = request.headers['content-type'];
        if (!contentType || !Buffer.isBuffer(request.body)) {
          return answer(
            reply,
            400,
            outcome('invalid', 'a Binary is created from a body with a Content-Type'),
          );
        }
        const binary: StoredBinary = { id: randomUUID(), contentType, data: request.body };
        binaries.set(binary.id, binary);
        return created(request, reply, {
          resourceType: 'Binary',
          id: binary.id,
          meta: { versionId: '1', lastUpdated: now() },
          contentType,
          data: binary.data.toString('base64'),
        });
      },
    );
  });

  app.post<{ Body: DocumentReference | undefined }, RouteConfig>(
    '/fhir/DocumentReference',
    { config: { interaction: 'documentreference-create' } },
    (request, reply) => {
      const body = request.body;
      const problem = problemWithDocumentReference(body);
      if (problem || !body) return answer(reply, 400, outcome('invalid', problem ?? 'no body'));
      const condition = request.headers['if-none-exist'];
      if (typeof condition === 'string') {
        const criteria = new URLSearchParams(condition);
        const identifier = criteria.get('identifier');
        if (!identifier || [...criteria.keys()].some((name) => name !== 'identifier')) {
          return answer(
            reply,
            400,
            outcome('not-supported', 'If-None-Exist supports identifier=system|value'),
          );
        }
        // Looked up and created in one synchronous step: concurrent pushes of one request make one resource.
        const existing = findDocumentReferences(identifier);
        if (existing.length > 1) {
          return answer(reply, 412, outcome('duplicate', `${existing.length} DocumentReferences match`));
        }
        const [found] = existing;
        if (found) return respond(request, reply, 200, found);
      }
      const id = randomUUID();
      const documentReference: DocumentReference = {
        ...body,
        id,
        meta: { versionId: '1', lastUpdated: now() },
      };
      documentReferences.set(id, documentReference);
      return created(request, reply, documentReference);
    },
  );

  app.get<{ Querystring: { identifier?: string | string[] } }, RouteConfig>(
    '/fhir/DocumentReference',
    { config: { interaction: 'documentreference-search' } },
    (request, reply) => {
      const identifiers =
        request.query.identifier === undefined ? undefined : tokensOf(request.query.identifier);
      const matches = identifiers
        ? [...new Set(identifiers.flatMap(findDocumentReferences))]
        : [...documentReferences.values()];
      const base = baseOf(request);
      const self: BundleLink = { relation: 'self', url: `${base}${request.url.slice('/fhir'.length)}` };
      return answer(reply, 200, searchset(base, matches.length, matches, [self]));
    },
  );

  app.get<{ Params: { id: string } }, RouteConfig>(
    '/fhir/DocumentReference/:id',
    { config: { interaction: 'documentreference-read' } },
    (request, reply) => {
      const found = documentReferences.get(request.params.id);
      if (!found) {
        return answer(
          reply,
          404,
          outcome('not-found', `DocumentReference/${request.params.id} is not known`),
        );
      }
      return answer(reply.header('etag', etagOf(found)), 200, found);
    },
  );

  // An update of a DocumentReference this server holds; it does not create one under a client's id.
  app.put<{ Params: { id: string }; Body: DocumentReference | undefined }, RouteConfig>(
    '/fhir/DocumentReference/:id',
    { config: { interaction: 'documentreference-update' } },
    (request, reply) => {
      const { id } = request.params;
      const body = request.body;
      const problem =
        problemWithDocumentReference(body) ??
        (body?.id !== undefined && body.id !== id
          ? 'the id in the body must be the one in the URL'
          : undefined);
      if (problem || !body) return answer(reply, 400, outcome('invalid', problem ?? 'no body'));
      const previous = documentReferences.get(id);
      if (!previous) return answer(reply, 404, outcome('not-found', `DocumentReference/${id} is not known`));
      const condition = request.headers['if-match'];
      if (typeof condition === 'string' && versionOf(condition) !== previous.meta?.versionId) {
        return answer(
          reply,
          412,
          outcome('conflict', `If-Match ${condition} is not the current version ${etagOf(previous)}`),
        );
      }
      const versionId = String(Number(previous.meta?.versionId ?? 0) + 1);
      const documentReference: DocumentReference = {
        ...body,
        id,
        meta: { ...body.meta, versionId, lastUpdated: now() },
      };
      documentReferences.set(id, documentReference);
      return respond(request, reply, 200, documentReference);
    },
  );

  app.post<{ Body: { failNext?: unknown; status?: unknown } }>('/_dev/faults', (request, reply) => {
    const { failNext: count, status = 503 } = request.body ?? {};
    if (!isWhole(count) || !isWhole(status) || status < 400 || status > 599) {
      return reply.code(400).send({ error: 'expected {"failNext": n ≥ 0, "status": 400 to 599}' });
    }
    fault.remaining = count;
    fault.status = status;
    return { failNext: count, status };
  });
  app.post<{ Body: { ms?: unknown } }>('/_dev/latency', (request, reply) => {
    const ms = request.body?.ms;
    if (!isWhole(ms)) return reply.code(400).send({ error: 'expected {"ms": n ≥ 0}' });
    latencyMs = ms;
    return { ms };
  });
  app.get('/_dev/stats', () => stats());

  await app.listen({ host, port: options.port ?? 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const reachableHost =
    host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;

  function findPatient(id: string): Patient | undefined {
    return patients.get(id) ?? (synthesize && FHIR_ID.test(id) ? synthesizedPatient(id) : undefined);
  }

  function findDocumentReferences(token: string): DocumentReference[] {
    const separator = token.indexOf('|');
    const system = separator < 0 ? undefined : token.slice(0, separator);
    const value = separator < 0 ? token : token.slice(separator + 1);
    return [...documentReferences.values()].filter((resource) =>
      resource.identifier?.some(
        (identifier) =>
          identifier.value === value &&
          (system === undefined || (system === '' ? !identifier.system : identifier.system === system)),
      ),
    );
  }

  function stats(): FhirDevServerStats {
    return {
      requests: { ...counters.requests },
      patientSearches: counters.patientSearches.map((search) => ({ ...search, ids: [...search.ids] })),
      faults: counters.faults,
      waiting: held.size,
    };
  }

  return {
    baseUrl: `http://${reachableHost}:${port}/fhir`,
    patients,
    binaries,
    documentReferences,
    setLatency(ms) {
      latencyMs = ms;
    },
    failNext(count, status = 503) {
      fault.remaining = count;
      fault.status = status;
    },
    stats,
    async close() {
      for (const release of held) release();
      await app.close();
    },
  };
}

/** The base URL as the client reached it, so links work through whatever name or port it used. */
function baseOf(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}/fhir`;
}

function answer(reply: FastifyReply, status: number, resource: FhirResource) {
  return reply.code(status).type(FHIR_JSON).send(resource);
}

/** Honours `Prefer: return=minimal` (Location only), otherwise answers the resource. */
function respond(request: FastifyRequest, reply: FastifyReply, status: number, resource: FhirResource) {
  reply.header(
    'location',
    `${baseOf(request)}/${resource.resourceType}/${resource.id}/_history/${resource.meta?.versionId ?? '1'}`,
  );
  reply.header('etag', etagOf(resource));
  if (request.headers.prefer === 'return=minimal') return reply.code(status).send();
  return answer(reply, status, resource);
}

function created(request: FastifyRequest, reply: FastifyReply, resource: FhirResource) {
  return respond(request, reply, 201, resource);
}

/** The weak ETag FHIR servers answer for a version: `W/"3"`. */
function etagOf(resource: FhirResource): string {
  return `W/"${resource.meta?.versionId ?? '1'}"`;
}

/** The version an `If-Match` names: `W/"3"`, `"3"` or `3`. */
function versionOf(condition: string): string {
  return condition
    .trim()
    .replace(/^W\//, '')
    .replace(/^"(.*)"$/, '$1');
}

function searchset(base: string, total: number, resources: FhirResource[], link: BundleLink[]): Bundle {
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total,
    link,
    entry: resources.map(
      (resource): BundleEntry => ({
        fullUrl: `${base}/${resource.resourceType}/${resource.id}`,
        resource,
        search: { mode: 'match' },
      }),
    ),
  };
}

function outcome(
  code: 'invalid' | 'not-found' | 'not-supported' | 'duplicate' | 'conflict' | 'transient' | 'exception',
  diagnostics: string,
): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics }] };
}

function problemWithDocumentReference(resource: DocumentReference | undefined): string | undefined {
  if (resource?.resourceType !== 'DocumentReference') return 'the body must be a DocumentReference';
  if (!['current', 'superseded', 'entered-in-error'].includes(resource.status)) {
    return 'status must be current, superseded or entered-in-error';
  }
  const subject = resource.subject?.reference;
  if (subject !== undefined && !/^Patient\/[A-Za-z0-9\-.]{1,64}$/.test(subject)) {
    return `subject must reference Patient/{id} (got '${subject.slice(0, 100)}')`;
  }
  if (!resource.content?.length || resource.content.some((content) => !content.attachment)) {
    return 'content must hold at least one attachment';
  }
  return undefined;
}

/** Search values: repeated parameters and comma-separated lists alike. */
function tokens(value: string | string[]): string[] {
  return tokensOf(value).flatMap((token) => token.split(','));
}

function tokensOf(value: string | string[]): string[] {
  return (Array.isArray(value) ? value : [value]).filter((token) => token !== '');
}

function whole(value: string | string[] | undefined, fallback: number): number | undefined {
  if (value === undefined) return fallback;
  return typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : undefined;
}

function isWhole(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function now(): string {
  return new Date().toISOString();
}

const FAMILY_NAMES = [
  'MARTIN',
  'BERNARD',
  'DUBOIS',
  'THOMAS',
  'ROBERT',
  'RICHARD',
  'PETIT',
  'DURAND',
  'LEROY',
  'MOREAU',
  'SIMON',
  'LAURENT',
];
const FEMALE_NAMES = ['Marie', 'Camille', 'Léa', 'Chloé', 'Manon', 'Inès', 'Louise', 'Jeanne'];
const MALE_NAMES = ['Jean', 'Lucas', 'Hugo', 'Louis', 'Gabriel', 'Arthur', 'Paul', 'Jules'];

/** A Patient made up from its id alone: the same id always gives the same Patient. */
function synthesizedPatient(id: string): Patient {
  const digest = createHash('sha256').update(id).digest();
  const pick = (names: readonly string[], at: number) => names[digest.readUInt16BE(at) % names.length]!;
  const gender = digest[0]! % 2 === 0 ? 'female' : 'male';
  const day = 86_400_000;
  const birthDate = new Date(Date.UTC(1935, 0, 1) + (digest.readUInt32BE(2) % (85 * 365)) * day);
  const lastUpdated = new Date(Date.UTC(2024, 0, 1) + (digest.readUInt32BE(6) % (365 * 86_400)) * 1000);
  const phone = Array.from({ length: 4 }, (_, n) => String(digest[10 + n]! % 100).padStart(2, '0')).join(' ');
  return {
    resourceType: 'Patient',
    id,
    meta: { versionId: '1', lastUpdated: lastUpdated.toISOString() },
    active: true,
    name: [
      {
        use: 'official',
        family: pick(FAMILY_NAMES, 14),
        given: [pick(gender === 'female' ? FEMALE_NAMES : MALE_NAMES, 16)],
      },
    ],
    gender,
    birthDate: birthDate.toISOString().slice(0, 10),
    telecom: [{ system: 'phone', value: `+33 6 ${phone}`, use: 'mobile' }],
    generalPractitioner: [{ display: `Dr ${pick(MALE_NAMES, 18)} ${pick(FAMILY_NAMES, 20)}` }],
  };
}

function capabilityStatement(): CapabilityStatement {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2024-01-01',
    kind: 'instance',
    software: { name: 'hotpath FHIR dev server' },
    fhirVersion: '4.0.1',
    format: ['json'],
    rest: [
      {
        mode: 'server',
        resource: [
          {
            type: 'Patient',
            interaction: [{ code: 'read' }, { code: 'search-type' }, { code: 'update' }],
            updateCreate: true,
            searchParam: [{ name: '_id', type: 'token' }],
          },
          { type: 'Binary', interaction: [{ code: 'create' }] },
          {
            type: 'DocumentReference',
            interaction: [{ code: 'create' }, { code: 'search-type' }, { code: 'read' }, { code: 'update' }],
            conditionalCreate: true,
            updateCreate: false,
            versioning: 'versioned-update',
            searchParam: [{ name: 'identifier', type: 'token' }],
          },
        ],
      },
    ],
  };
}
