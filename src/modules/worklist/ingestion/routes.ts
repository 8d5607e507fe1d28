import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { principalOf, type RoutesPlugin } from '../../../platform/http/app.ts';
import { HttpProblem, notFound, problemResponses } from '../../../platform/http/problems.ts';
import { canSee, facilityScope } from '../access.ts';
import { FacilityId, Source } from '../schemas.ts';
import { INBOX_MEDIA_TYPES, type MessageOutcome, receive } from './inbox.ts';
import type { IngestionDeps } from './service.ts';
import { UnknownFacility } from './service.ts';

const Problem = Type.Object({ location: Type.String(), code: Type.Integer(), text: Type.String() });
const MessageResult = Type.Object({
  format: Type.Enum(['hl7v2', 'cda', 'fhir', 'pdf', 'scan']),
  controlId: Type.Union([Type.String(), Type.Null()], { description: 'MSH-10, for HL7 v2' }),
  messageType: Type.Union([Type.String(), Type.Null()]),
  outcome: Type.Enum(['accepted', 'duplicate', 'rejected']),
  acknowledgment: Type.Enum(['AA', 'AE', 'AR'], {
    description: 'What an MLLP sender would have been answered',
  }),
  requestIds: Type.Array(Type.Integer()),
  problems: Type.Array(Problem),
});
const InboxResult = Type.Object({
  requestIds: Type.Array(Type.Integer(), {
    description: 'Every request the body made (or, resent, made before)',
  }),
  messages: Type.Array(MessageResult),
});

/** A problem read from the body: code 100 (its structure) means it could not be read at all. */
function unreadable(outcome: MessageOutcome): HttpProblem {
  const unreadableAtAll = outcome.problems.some((problem) => problem.code === 100);
  const status = unreadableAtAll ? 400 : 422;
  const first = outcome.problems[0];
  return new HttpProblem(
    status,
    unreadableAtAll ? 'Bad Request' : 'Unprocessable Content',
    first ? `${first.location}: ${first.text}` : 'the message cannot be accepted',
    {
      type: unreadableAtAll ? 'unreadable-message' : 'unacceptable-message',
      errors: outcome.problems.map((problem) => ({
        field: problem.location,
        message: `${problem.text} (HL7 table 0357 code ${problem.code})`,
      })),
    },
  );
}

/**
 * `POST /v2/inbox`: a document as a hospital's partners send it, in the body as sent. The same
 * reading, checks and storage as the MLLP listener; the answer says, per message, what an MLLP sender
 * would have been acknowledged.
 */
export function inboxRoutes(deps: IngestionDeps & { uploadLimitBytes: number }): RoutesPlugin {
  return async (app) => {
    await app.register(async (scope) => {
      scope.addContentTypeParser(
        Object.keys(INBOX_MEDIA_TYPES),
        { parseAs: 'buffer', bodyLimit: deps.uploadLimitBytes },
        (_request, body, done) => done(null, body),
      );
      scope.withTypeProvider<TypeBoxTypeProvider>().post(
        '/v2/inbox',
        {
          schema: {
            tags: ['worklist'],
            summary: 'Receive an HL7 v2 message or batch, a CDA R2 document, or a FHIR DocumentReference',
            description:
              'The body as sent: `application/hl7-v2` or `x-application/hl7-v2+er7` (a message, or a batch with FHS/BHS), `application/xml` or `text/xml` (a CDA R2 ClinicalDocument), `application/fhir+json` (a DocumentReference with its attachment inline, or a Bundle of DocumentReference, Binary and Patient). 202 with the requests made; 200 when everything in it was received before (the same requests); 400 when it cannot be read, 422 when something required is missing or wrong, naming the segment and field or the XML path. Each message is committed before it is answered, within 4 SQL statements (7 for a deletion of a document already in the EHR).',
            consumes: Object.keys(INBOX_MEDIA_TYPES),
            querystring: Type.Object(
              { facilityId: FacilityId, source: Type.Optional(Source) },
              { additionalProperties: false },
            ),
            body: Type.Unknown(),
            response: {
              200: InboxResult,
              202: InboxResult,
              ...problemResponses(400, 401, 403, 404, 413, 415, 422),
            },
          },
          // Each message is judged against a budget of its own (see inbox.ts); nothing else runs here.
          config: { access: 'author', queryBudget: 0 },
        },
        async (request, reply) => {
          const { facilityId, source } = request.query;
          const principal = principalOf(request);
          if (!canSee(facilityScope(principal), facilityId))
            throw notFound(`facility ${facilityId} does not exist`);
          const mediaType = String(request.headers['content-type'] ?? '')
            .split(';')[0]
            ?.trim()
            .toLowerCase();
          const format = mediaType === undefined ? undefined : INBOX_MEDIA_TYPES[mediaType];
          if (!format || !Buffer.isBuffer(request.body)) {
            throw new HttpProblem(
              415,
              'Unsupported Media Type',
              `send one of ${Object.keys(INBOX_MEDIA_TYPES).join(', ')}`,
              { type: 'unsupported-media-type' },
            );
          }
          let outcomes: MessageOutcome[];
          try {
            outcomes = await receive(
              deps,
              { listener: 'http', facilityId, sender: principal.subject, source },
              format,
              request.body,
            );
          } catch (error) {
            if (error instanceof UnknownFacility) throw notFound(`facility ${facilityId} does not exist`);
            throw error;
          }
          const [only] = outcomes;
          if (only && outcomes.length === 1 && only.outcome === 'rejected') throw unreadable(only);
          const status = outcomes.some((outcome) => outcome.outcome === 'accepted')
            ? 202
            : outcomes.every((outcome) => outcome.outcome === 'duplicate')
              ? 200
              : 422;
          if (status === 422)
            throw unreadable(outcomes.find((outcome) => outcome.outcome === 'rejected') ?? only!);
          return reply.code(status).send({
            requestIds: [...new Set(outcomes.flatMap((outcome) => outcome.requestIds))],
            messages: outcomes.map((outcome) => ({
              format: outcome.format,
              controlId: outcome.controlId ?? null,
              messageType: outcome.messageType ?? null,
              outcome: outcome.outcome,
              acknowledgment: outcome.acknowledgment,
              requestIds: outcome.requestIds,
              problems: outcome.problems,
            })),
          });
        },
      );
    });
  };
}
