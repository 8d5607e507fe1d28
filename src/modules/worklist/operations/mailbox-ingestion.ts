/**
 * An MSSanté mailbox into the worklist: the poller (`ingestion/mailbox.ts`) reads each mail and
 * unpacks its IHE_XDM.zip; here every document it found goes through the ingestion's one door,
 * `receive`, as a `mailbox` listener's delivery from the mail's sender, with the mail's subject and the
 * attachment's name, for one facility.
 *
 * - Every document accepted, or received before (the same bytes, a document id already known): the
 *   mail is `processed`, with the request ids of all of them. A mail given again after a crash between
 *   the ingestion and the move therefore answers the same ids, never `failed`.
 * - A document refused (unreadable, something required missing), a type hotpath does not read, or no
 *   document at all: the mail is `failed`, with the attachment and the problems in the reason and the
 *   HL7 table 0357 code of the first problem (`102` data type error…) as the MDN subject's code. The
 *   documents of the same mail that were accepted stay accepted, and the reason says so.
 * - A failure of ours (the database or the object store down, the facility missing): {@link RetryLater},
 *   the mail stays in the mailbox for the next poll, whole; what was committed before is a duplicate then.
 */
import { type Kysely, sql } from 'kysely';
import type { DB } from '../../../tables.ts';
import { type InboxKind, kindOfMediaType, type MessageOutcome, receive } from '../ingestion/inbox.ts';
import {
  type MailAttachment,
  type MailboxPoller,
  type MailOutcome,
  type PolledMessage,
  parseImapUrl,
  type ReceivedMail,
  RetryLater,
  startMailboxPoller,
} from '../ingestion/mailbox.ts';
import type { IngestionDeps } from '../ingestion/service.ts';

/** What a mail's documents may be: the poller hands over PDFs, CDAs and images only. */
const MAIL_KINDS: ReadonlySet<InboxKind> = new Set(['cda', 'pdf', 'scan', 'fhir']);
const NO_DOCUMENT = 'the message carries no document (PDF, CDA, image or IHE_XDM.zip)';

/** The `handle` of a facility's mailbox poller: each document through `receive`; idempotent. */
export function mailboxHandler(
  deps: IngestionDeps,
  options: { facilityId: string },
): (mail: ReceivedMail) => Promise<MailOutcome> {
  return async (mail) => {
    if (mail.attachments.length === 0) return { status: 'failed', reason: NO_DOCUMENT, code: '101' };
    const requestIds: number[] = [];
    const refusals: Array<{ attachment: MailAttachment; text: string; code: number }> = [];
    for (const attachment of mail.attachments) {
      const kind = kindOfMediaType(attachment.contentType);
      if (kind === undefined || !MAIL_KINDS.has(kind)) {
        refusals.push({
          attachment,
          text: `a document of type ${attachment.contentType} is not read`,
          code: 102,
        });
        continue;
      }
      let outcomes: MessageOutcome[];
      try {
        outcomes = await receive(
          deps,
          {
            listener: 'mailbox',
            facilityId: options.facilityId,
            sender: mail.from ?? 'unknown sender',
            source: 'mssante',
            fileName: attachment.fileName,
            subject: mail.subject,
          },
          kind,
          attachment.content,
        );
      } catch (error) {
        // Nothing of this mail is lost: what was committed is recognised when it comes again.
        throw new RetryLater(`${attachment.source}: ${(error as Error).message ?? String(error)}`);
      }
      for (const outcome of outcomes) {
        if (outcome.outcome === 'rejected') {
          refusals.push({
            attachment,
            text: outcome.problems.map((problem) => `${problem.location}: ${problem.text}`).join('; '),
            code: outcome.problems[0]?.code ?? 102,
          });
        } else {
          requestIds.push(...outcome.requestIds);
        }
      }
    }
    const unique = [...new Set(requestIds)];
    if (refusals.length === 0) return { status: 'processed', requestIds: unique };
    const reasons = refusals.map(({ attachment, text }) => `${attachment.source}: ${text || 'refused'}`);
    const taken =
      unique.length > 0 ? `; the other documents were received (requests ${unique.join(', ')})` : '';
    return {
      status: 'failed',
      reason: `${reasons.join('; ')}${taken}`,
      code: String(refusals[0]!.code),
      requestIds: unique,
    };
  };
}

export interface MailboxIngestionOptions {
  facilityId: string;
  /** `imaps://user@host/INBOX`; the password in the URL, `password` or HOTPATH_IMAP_PASSWORD. */
  imapUrl: string;
  password?: string | undefined;
  processedFolder?: string | undefined;
  failedFolder?: string | undefined;
  /** Where MDNs are sent from (`smtp://`, `smtps://`); without it, MDN requests are logged only. */
  smtpUrl?: string | undefined;
  /** The mailbox's address (the MDNs' From); default the IMAP user, `user@host` if it is no address. */
  from?: string | undefined;
  /** Between polls; 0 polls only when `pollOnce()` is called. */
  intervalSeconds: number;
  /** Accept any TLS certificate (test servers). */
  insecureTls?: boolean | undefined;
  /** The poller's own lines: IMAP and SMTP errors (warn), each mail (info, failed ones warn). */
  log: { info(message: string): void; warn(message: string): void };
  /** Each mail of each poll, with the requests it made. */
  report?: (mail: MailReport) => void;
  /** Test seam, passed to the poller: after `handle`, before the MDN and the move. */
  beforeMove?: (mail: ReceivedMail, outcome: MailOutcome) => void | Promise<void>;
}

export interface MailReport extends PolledMessage {
  from: string | undefined;
  subject: string | undefined;
  /** The requests its documents made, or made before (for a duplicate). */
  requestIds: number[];
}

export interface MailboxPollReport {
  mails: MailReport[];
  /** The IMAP or SMTP error that ended the poll early (already logged). */
  error?: string;
}

export interface MailboxIngestion {
  /** `user@host/INBOX`, for messages. */
  readonly mailbox: string;
  /** One poll now (after the one in hand). Never throws. */
  pollOnce(): Promise<MailboxPollReport>;
  /** Stops polling, waits for the poll in hand, logs out. */
  close(): Promise<void>;
}

const MAX_BACKOFF_MS = 5 * 60_000;

/**
 * Polls a facility's mailbox every `intervalSeconds` (the first poll at once), later and later while
 * the IMAP server cannot be reached (doubling, up to 5 minutes). Throws at once for an IMAP URL that
 * cannot be used (no user, no password).
 */
export function startMailboxIngestion(
  deps: IngestionDeps,
  options: MailboxIngestionOptions,
): MailboxIngestion {
  const target = parseImapUrl(options.imapUrl, options.password);
  const from = options.from ?? (target.user.includes('@') ? target.user : `${target.user}@${target.host}`);
  const handle = mailboxHandler(deps, { facilityId: options.facilityId });
  // What handle answered, by UID, until the poll's result reports it.
  const handled = new Map<number, { mail: ReceivedMail; outcome: MailOutcome }>();
  const poller: MailboxPoller = startMailboxPoller(
    {
      imapUrl: options.imapUrl,
      ...(options.password === undefined ? {} : { password: options.password }),
      ...(options.processedFolder ? { processedFolder: options.processedFolder } : {}),
      ...(options.failedFolder ? { failedFolder: options.failedFolder } : {}),
      // This module runs the timer, so that each poll's result is reported.
      pollIntervalMs: 0,
      maxBackoffMs: MAX_BACKOFF_MS,
      smtp: options.smtpUrl ? { url: options.smtpUrl } : undefined,
      from,
      tls: { rejectUnauthorized: options.insecureTls !== true },
      log: options.log,
      ...(options.beforeMove ? { beforeMove: options.beforeMove } : {}),
    },
    async (mail) => {
      const outcome = await handle(mail);
      handled.set(mail.uid, { mail, outcome });
      return outcome;
    },
  );

  const intervalMs = options.intervalSeconds * 1000;
  let failures = 0;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;

  async function pollOnce(): Promise<MailboxPollReport> {
    const result = await poller.pollOnce();
    const mails = result.messages.map((message): MailReport => {
      const seen = handled.get(message.uid);
      handled.delete(message.uid);
      return {
        ...message,
        from: seen?.mail.from,
        subject: seen?.mail.subject,
        requestIds: message.outcome === 'left' ? [] : (seen?.outcome.requestIds ?? []),
      };
    });
    // A mail the poll did not finish (the move or the MDN failed) is given to handle again next time.
    handled.clear();
    for (const mail of mails) {
      try {
        options.report?.(mail);
      } catch (error) {
        options.log.warn(`reporting mail ${mail.messageId ?? mail.uid}: ${(error as Error).message}`);
      }
    }
    return { mails, ...(result.error === undefined ? {} : { error: result.error }) };
  }

  const schedule = (ms: number) => {
    if (closed || intervalMs <= 0) return;
    timer = setTimeout(() => {
      void pollOnce().then((result) => {
        failures = result.error === undefined ? 0 : failures + 1;
        schedule(
          failures === 0
            ? intervalMs
            : Math.min(MAX_BACKOFF_MS, Math.max(intervalMs, 1000) * 2 ** (failures - 1)),
        );
      });
    }, ms);
  };
  schedule(0);

  return {
    mailbox: `${target.user}@${target.host}/${target.mailbox}`,
    pollOnce,
    async close() {
      closed = true;
      clearTimeout(timer);
      await poller.close();
    },
  };
}

/** Whether the facility exists: a mailbox for one that does not would leave every mail where it is. */
export async function facilityExists(db: Kysely<DB>, facilityId: string): Promise<boolean> {
  const { rows } = await sql<{ found: number }>`/* worklist.mailboxFacility */
    SELECT 1 AS found FROM facilities WHERE facility_id = ${facilityId}`.execute(db);
  return rows.length > 0;
}

/** A line for a mail: what became of it, its requests, its MDN. */
export function describeMail(mail: MailReport): string {
  const who = `${mail.messageId ?? `uid ${mail.uid}`}${mail.from ? ` from ${mail.from}` : ''}`;
  const requests = mail.requestIds.length > 0 ? `, requests ${mail.requestIds.join(', ')}` : '';
  const mdn = mail.mdn ? `; MDN ${MDN_WORDS[mail.mdn]}` : '';
  if (mail.outcome === 'processed') return `mail ${who}: processed${requests}${mdn}`;
  if (mail.outcome === 'failed')
    return `mail ${who}: failed (${mail.reason ?? 'not processed'})${requests}${mdn}`;
  return `mail ${who}: left for the next poll (${mail.reason ?? 'not decided'})`;
}

const MDN_WORDS: Record<NonNullable<PolledMessage['mdn']>, string> = {
  sent: 'sent',
  'already-sent': 'already sent',
  'not-requested': 'not asked for',
  'not-configured': 'asked for, not sent (no SMTP server configured)',
  'skipped-report': 'not sent (the mail is itself a report)',
};
