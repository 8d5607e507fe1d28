import { availableParallelism } from 'node:os';
import path from 'node:path';
import type { LogFormat } from './platform/http/logging.ts';

export type DocumentsReadPath = 'registry' | 'listing' | 'shadow';

export interface Config {
  /** Unset: hotpath starts an embedded PostgreSQL under the data dir. */
  databaseUrl: string | undefined;
  /** Unset: objects live on the file system under the data dir. */
  storageUrl: string | undefined;
  redisUrl: string | undefined;
  port: number;
  /** Processes `serve` runs (node:cluster); 1 serves in the command's own process. */
  workers: number;
  host: string;
  /** Base of the download URLs the file-system store signs; defaults to this server's address. */
  publicUrl: string;
  dataDir: string;
  /** Unset: generated once and kept in the data dir, so the CLI and the server agree. */
  tokenSecret: string | undefined;
  uploadLimitBytes: number;
  downloadUrlTtlSeconds: number;
  documentsReadPath: DocumentsReadPath;
  db: {
    poolMax: number;
    connectionTimeoutMs: number;
    idleTimeoutMs: number;
    statementTimeoutMs: number;
    /** Named statements each connection keeps prepared; 0 prepares none (a pooler that cannot keep them). */
    preparedStatements: number;
  };
  fhir: {
    /** Per request to a facility's FHIR server; past it, the detail page answers without enrichment. */
    timeoutMs: number;
    /** How long a FHIR Patient read stays cached. */
    cacheTtlSeconds: number;
  };
  /** How long a merchant's dashboard is cached; writes invalidate it sooner. */
  dashboardCacheTtlSeconds: number;
  integration: {
    /** Run the integration worker in `serve` (off for a read-only replica of the API). */
    workerEnabled: boolean;
    retryLimit: number;
    retryDelaySeconds: number;
  };
  /** The OCR job that reads scans (it runs where the integration worker runs). */
  ocr: {
    /** A page over this is abandoned and the attempt fails (retried, then left for a person). */
    pageTimeoutSeconds: number;
    /** Pages of a scan read at most; the rest are left to the person. */
    maxPages: number;
    retryLimit: number;
  };
  /** How long a client may take, so slow or stalled clients do not hold connections. */
  http: {
    /** From the connection (or the end of the previous request) to the end of the headers. */
    headersTimeoutMs: number;
    /** Silence on a connection while a request is being read or an answer written. */
    idleTimeoutMs: number;
    /** An idle keep-alive connection between requests. */
    keepAliveTimeoutMs: number;
    /** A whole request, body included (a large upload must fit in it). */
    requestTimeoutMs: number;
  };
  /** HL7 v2 over MLLP beside HTTP. */
  mllp: {
    /** Unset: no MLLP listener (`serve --demo` opens one on PORT+2). */
    port: number | undefined;
    /** A connection silent this long is closed. */
    idleTimeoutMs: number;
  };
  /** An MSSanté mailbox polled over IMAP by `serve` (in worker 1), its documents into one facility. */
  mailbox:
    | {
        /** `imaps://user@host/INBOX`; the password in it or in `password`. */
        imapUrl: string;
        /** HOTPATH_IMAP_PASSWORD, when the URL has none. */
        password: string | undefined;
        facilityId: string;
        /** Where MDNs are sent; unset: MDN requests are logged, not answered. */
        smtpUrl: string | undefined;
        /** The mailbox's address (the MDNs' From); unset: the IMAP user. */
        from: string | undefined;
        intervalSeconds: number;
        processedFolder: string | undefined;
        failedFolder: string | undefined;
        /** Accept any TLS certificate (test servers). */
        insecureTls: boolean;
      }
    | undefined;
  /**
   * A folder `serve` watches (in worker 1), its files into one facility, as `hotpath ingest watch` does;
   * the demo watches `<data dir>/drop` for its first facility when none is set.
   */
  watch: { directory: string; facilityId: string; source: 'paper' | 'lab' | 'device' } | undefined;
  /** Fail a request that overruns its query budget or repeats a statement (tests turn this on). */
  strictQueryBudgets: boolean;
  logLevel: string;
  logFormat: LogFormat;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/** Reads the environment into one typed object; every problem is reported at once, by variable name. */
export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const text = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === '' ? undefined : value;
  };
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = text(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!/^-?\d+$/.test(raw) || !Number.isSafeInteger(value) || value < min || value > max) {
      problems.push(`${name} must be an integer from ${min} to ${max} (got '${raw}')`);
      return fallback;
    }
    return value;
  };
  const oneOf = <T extends string>(name: string, allowed: readonly T[], fallback: T): T => {
    const raw = text(name);
    if (raw === undefined) return fallback;
    if (!(allowed as readonly string[]).includes(raw)) {
      problems.push(`${name} must be one of ${allowed.join(', ')} (got '${raw}')`);
      return fallback;
    }
    return raw as T;
  };
  const url = (name: string, protocols: string[]): string | undefined => {
    const raw = text(name);
    if (raw === undefined) return undefined;
    let parsed: URL;
    try {
      parsed = new URL(raw);
    } catch {
      problems.push(`${name} is not a URL (got '${redact(raw)}')`);
      return undefined;
    }
    if (!protocols.includes(parsed.protocol)) {
      problems.push(
        `${name} must start with ${protocols.map((p) => `${p}//`).join(' or ')} (got '${redact(raw)}')`,
      );
      return undefined;
    }
    return raw;
  };

  const port = integer('PORT', 3000, 0, 65535);
  const host = text('HOST') ?? '127.0.0.1';
  const tokenSecret = text('HOTPATH_TOKEN_SECRET');
  if (tokenSecret !== undefined && tokenSecret.length < 32) {
    problems.push('HOTPATH_TOKEN_SECRET must be at least 32 characters');
  }
  const storageUrl = url('STORAGE_URL', ['s3:', 'file:']);
  if (storageUrl?.startsWith('s3:') && new URL(storageUrl).hostname === '') {
    problems.push(`STORAGE_URL must name a bucket, as s3://bucket?region=…&endpoint=… (got '${storageUrl}')`);
  }
  const publicUrl = url('HOTPATH_PUBLIC_URL', ['http:', 'https:']);
  const config: Config = {
    databaseUrl: url('DATABASE_URL', ['postgres:', 'postgresql:']),
    storageUrl,
    redisUrl: url('REDIS_URL', ['redis:', 'rediss:']),
    port,
    host,
    publicUrl: (publicUrl ?? `http://${host.includes(':') ? `[${host}]` : host}:${port}`).replace(/\/+$/, ''),
    dataDir: path.resolve(text('HOTPATH_DATA_DIR') ?? '.hotpath'),
    tokenSecret,
    uploadLimitBytes: integer('HOTPATH_UPLOAD_LIMIT_BYTES', 100 * 1024 * 1024, 1, 5 * 1024 ** 4),
    downloadUrlTtlSeconds: integer('HOTPATH_DOWNLOAD_URL_TTL_SECONDS', 300, 60, 7 * 24 * 3600),
    documentsReadPath: oneOf('DOCUMENTS_READ_PATH', ['registry', 'listing', 'shadow'] as const, 'registry'),
    db: {
      poolMax: integer('DB_POOL_MAX', 10, 1, 500),
      connectionTimeoutMs: integer('DB_CONNECTION_TIMEOUT_MS', 5000, 100, 120_000),
      idleTimeoutMs: integer('DB_IDLE_TIMEOUT_MS', 30_000, 1000, 3_600_000),
      statementTimeoutMs: integer('DB_STATEMENT_TIMEOUT_MS', 15_000, 100, 3_600_000),
      preparedStatements: integer('DB_PREPARED_STATEMENTS', 200, 0, 10_000),
    },
    fhir: {
      timeoutMs: integer('HOTPATH_FHIR_TIMEOUT_MS', 1500, 50, 60_000),
      // At least a second: bentocache reads a TTL of 0 as never expiring.
      cacheTtlSeconds: integer('HOTPATH_FHIR_CACHE_TTL_SECONDS', 300, 1, 86_400),
    },
    dashboardCacheTtlSeconds: integer('HOTPATH_DASHBOARD_CACHE_TTL_SECONDS', 120, 1, 86_400),
    integration: {
      workerEnabled: oneOf('HOTPATH_INTEGRATION_WORKER', ['true', 'false'] as const, 'true') === 'true',
      retryLimit: integer('HOTPATH_INTEGRATION_RETRY_LIMIT', 5, 0, 100),
      retryDelaySeconds: integer('HOTPATH_INTEGRATION_RETRY_DELAY_SECONDS', 5, 1, 3600),
    },
    ocr: {
      pageTimeoutSeconds: integer('HOTPATH_OCR_PAGE_TIMEOUT_SECONDS', 120, 5, 3600),
      maxPages: integer('HOTPATH_OCR_MAX_PAGES', 30, 1, 1000),
      retryLimit: integer('HOTPATH_OCR_RETRY_LIMIT', 2, 0, 20),
    },
    http: {
      headersTimeoutMs: integer('HOTPATH_HEADERS_TIMEOUT_MS', 10_000, 100, 600_000),
      idleTimeoutMs: integer('HOTPATH_IDLE_TIMEOUT_MS', 20_000, 100, 600_000),
      keepAliveTimeoutMs: integer('HOTPATH_KEEP_ALIVE_TIMEOUT_MS', 5_000, 100, 600_000),
      requestTimeoutMs: integer('HOTPATH_REQUEST_TIMEOUT_MS', 600_000, 1_000, 24 * 3_600_000),
    },
    mllp: {
      port: text('HOTPATH_MLLP_PORT') === undefined ? undefined : integer('HOTPATH_MLLP_PORT', 0, 0, 65535),
      idleTimeoutMs: integer('HOTPATH_MLLP_IDLE_TIMEOUT_MS', 300_000, 1_000, 24 * 3_600_000),
    },
    mailbox: mailboxOf(text, integer, oneOf, url, problems),
    watch: watchOf(text, oneOf, problems),
    strictQueryBudgets: oneOf('HOTPATH_STRICT_QUERY_BUDGETS', ['true', 'false'] as const, 'false') === 'true',
    logLevel: oneOf(
      'LOG_LEVEL',
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const,
      'info',
    ),
    workers: integer('HOTPATH_WORKERS', availableParallelism(), 1, 256),
    // auto: readable lines on a terminal, JSON when stdout is a file, a pipe or a log collector.
    logFormat: logFormatOf(oneOf('HOTPATH_LOG_FORMAT', ['auto', 'pretty', 'json'] as const, 'auto')),
  };
  if (config.http.headersTimeoutMs > config.http.requestTimeoutMs) {
    problems.push('HOTPATH_HEADERS_TIMEOUT_MS must not be longer than HOTPATH_REQUEST_TIMEOUT_MS');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/**
 * HOTPATH_MAILBOX_*: all or nothing. The IMAP URL and the facility go together; the URL must name its
 * user and have a password (in it or in HOTPATH_IMAP_PASSWORD); the other variables need the URL.
 */
function watchOf(
  text: (name: string) => string | undefined,
  oneOf: <T extends string>(name: string, allowed: readonly T[], fallback: T) => T,
  problems: string[],
): Config['watch'] {
  const directory = text('HOTPATH_WATCH_DIR');
  const facilityId = text('HOTPATH_WATCH_FACILITY');
  const source = oneOf('HOTPATH_WATCH_SOURCE', ['paper', 'lab', 'device'] as const, 'paper');
  if (directory === undefined && facilityId === undefined) return undefined;
  if (directory === undefined || facilityId === undefined) {
    problems.push(
      'HOTPATH_WATCH_DIR and HOTPATH_WATCH_FACILITY go together: the folder and the facility its files are for',
    );
    return undefined;
  }
  return { directory: path.resolve(directory), facilityId, source };
}

function mailboxOf(
  text: (name: string) => string | undefined,
  integer: (name: string, fallback: number, min: number, max: number) => number,
  oneOf: <T extends string>(name: string, allowed: readonly T[], fallback: T) => T,
  url: (name: string, protocols: string[]) => string | undefined,
  problems: string[],
): Config['mailbox'] {
  const imapUrl = url('HOTPATH_MAILBOX_IMAP_URL', ['imap:', 'imaps:']);
  const facilityId = text('HOTPATH_MAILBOX_FACILITY');
  const smtpUrl = url('HOTPATH_MAILBOX_SMTP_URL', ['smtp:', 'smtps:']);
  const from = text('HOTPATH_MAILBOX_FROM');
  const intervalSeconds = integer('HOTPATH_MAILBOX_INTERVAL_SECONDS', 60, 1, 86_400);
  const insecureTls = oneOf('HOTPATH_MAILBOX_INSECURE_TLS', ['true', 'false'] as const, 'false') === 'true';
  const processedFolder = text('HOTPATH_MAILBOX_PROCESSED_FOLDER');
  const failedFolder = text('HOTPATH_MAILBOX_FAILED_FOLDER');
  const password = text('HOTPATH_IMAP_PASSWORD');
  if (from !== undefined && !/^[^\s@<>]+@[^\s@<>]+$/.test(from)) {
    problems.push(`HOTPATH_MAILBOX_FROM must be a mail address, as bal@hopital.mssante.fr (got '${from}')`);
  }
  if (text('HOTPATH_MAILBOX_IMAP_URL') === undefined) {
    const orphans = [
      'HOTPATH_MAILBOX_FACILITY',
      'HOTPATH_MAILBOX_SMTP_URL',
      'HOTPATH_MAILBOX_FROM',
      'HOTPATH_MAILBOX_INTERVAL_SECONDS',
      'HOTPATH_MAILBOX_INSECURE_TLS',
      'HOTPATH_MAILBOX_PROCESSED_FOLDER',
      'HOTPATH_MAILBOX_FAILED_FOLDER',
    ].filter((name) => text(name) !== undefined);
    if (orphans.length > 0) problems.push(`${orphans.join(', ')} need HOTPATH_MAILBOX_IMAP_URL`);
    return undefined;
  }
  if (facilityId === undefined) {
    problems.push("HOTPATH_MAILBOX_FACILITY must name the facility that receives the mailbox's documents");
  }
  if (imapUrl === undefined || facilityId === undefined) return undefined;
  const parsed = new URL(imapUrl);
  if (parsed.username === '') {
    problems.push(
      `HOTPATH_MAILBOX_IMAP_URL must name its user, as imaps://user@host/INBOX (got '${redact(imapUrl)}')`,
    );
  } else if (parsed.password === '' && password === undefined) {
    problems.push('HOTPATH_MAILBOX_IMAP_URL has no password: put it in the URL or in HOTPATH_IMAP_PASSWORD');
  }
  return {
    imapUrl,
    password,
    facilityId,
    smtpUrl,
    from,
    intervalSeconds,
    processedFolder,
    failedFolder,
    insecureTls,
  };
}

/** Hides a password in a URL before it is echoed into an error message. */
function redact(raw: string): string {
  return raw.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}

function logFormatOf(chosen: 'auto' | LogFormat): LogFormat {
  if (chosen !== 'auto') return chosen;
  return process.stdout.isTTY ? 'pretty' : 'json';
}
