import { type FastifyReply, type FastifyRequest, type FastifyServerOptions, LogController } from 'fastify';

type LoggerOptions = Exclude<NonNullable<FastifyServerOptions['logger']>, boolean>;

export type LogFormat = 'pretty' | 'json';

/** Query parameters that make a URL a credential: hotpath's own download signature and S3's. */
const SECRET_PARAMETERS =
  /([?&](?:signature|x-amz-signature|x-amz-credential|x-amz-security-token)=)[^&#]*/gi;

/** The URL as it may be written down: a signed download link loses what would let a reader use it. */
export function withoutSignatures(url: string): string {
  return url.includes('?') ? url.replace(SECRET_PARAMETERS, '$1[redacted]') : url;
}

/**
 * pino for the service. For a terminal, short readable lines (pino-pretty, in pino's worker thread
 * so formatting never runs on the request path); for anything else, one JSON object per line.
 */
export function loggerOptions(level: string, format: LogFormat): LoggerOptions {
  return {
    level,
    serializers: {
      req: (request: FastifyRequest) => ({ method: request.method, url: withoutSignatures(request.url) }),
    },
    ...(format === 'pretty'
      ? {
          transport: {
            target: 'pino-pretty',
            options: { translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname', singleLine: true },
          },
        }
      : {}),
  };
}

/**
 * Fastify's per-request lines: none at info (two per request would bury the banner and every
 * warning), one per answer at debug, and a failed answer at error whatever the level.
 */
export class RequestLog extends LogController {
  private readonly eachAnswer: boolean;

  constructor(level: string) {
    super();
    this.eachAnswer = level === 'debug' || level === 'trace';
  }

  override incomingRequest(): void {}

  override requestCompleted(error: Error | null, request: FastifyRequest, reply: FastifyReply): void {
    if (error) {
      request.log.error({ err: error, status: reply.statusCode }, 'request errored');
      return;
    }
    if (!this.eachAnswer) return;
    request.log.debug(
      {
        method: request.method,
        url: withoutSignatures(request.url),
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
      },
      'answered',
    );
  }
}
