/**
 * An MSSanté application mailbox (BAL applicative) polled over IMAP: each mail is parsed, its
 * documents (PDF, CDA XML, images, and the documents of an IHE_XDM.zip) are given to `handle`, then
 * the mail is moved to the processed folder, or the failed folder, and a disposition-notification
 * request is answered with an RFC 8098 MDN over SMTP.
 *
 * **The contract with `handle`: it must be idempotent.** A mail is moved only after `handle`
 * resolved (and its MDN, if one is asked for, was sent). If the process dies, or the IMAP connection
 * drops, between the two, the mail is still in the mailbox and the next poll gives it to `handle`
 * again, whole and unchanged. The ingestion recognises a document it already has (by content hash,
 * document id) and must answer the same outcome as the first time, `processed` with the same
 * request ids, never `failed` for being a duplicate. An MDN is sent once per mail: the mail gets the
 * `$MDNSent` keyword (RFC 3503) when its MDN was accepted by the SMTP server, and a mail that has it
 * is not answered again.
 *
 * `handle` can throw {@link RetryLater} when it cannot decide now (the database is down): the mail
 * stays in the mailbox, no MDN, and the next poll tries again. Any other error thrown is the mail's
 * failure: failed folder, MDN `processed/error` with the error's message.
 *
 * Every message in the mailbox is taken, seen or not (the mailbox is the application's, a person
 * opening a mail in a webmail must not hide it), oldest UID first. IMAP and SMTP errors are logged,
 * never thrown: the poll ends, the connection is dropped and the next poll, later and later (doubling
 * up to `maxBackoffMs`), connects again.
 */
import { ImapFlow } from 'imapflow';
import { type AddressObject, type Attachment, type ParsedMail, simpleParser } from 'mailparser';
import { createTransport, type Transporter } from 'nodemailer';
import { foldLines } from 'nodemailer/lib/mime-funcs';
import MimeNode from 'nodemailer/lib/mime-node';
import { readXdm, XdmError, type XdmLimits, type XdmMetadata } from './xdm.ts';

export interface MailAttachment {
  fileName: string;
  contentType: string;
  content: Buffer;
  /** Where it was found: `report.pdf`, `IHE_XDM.zip!IHE_XDM/SUBSET01/DOC0001.XML`. */
  source: string;
  /** For a document of an XDM package: what its METADATA.XML says of it. */
  xdm?: XdmMetadata;
}

export interface ReceivedMail {
  /** The IMAP UID in the polled mailbox (it changes when the mail is moved). */
  uid: number;
  /** The Message-ID header, angle brackets included, as sent. */
  messageId: string | undefined;
  /** The sender's address (From), lower case. */
  from: string | undefined;
  fromName: string | undefined;
  subject: string;
  date: Date | undefined;
  /** The plain-text body, where there is one. */
  text: string | undefined;
  attachments: MailAttachment[];
  /** The addresses of the Disposition-Notification-To header: the sender asks for an MDN. */
  dispositionNotificationTo?: string;
  /** What a person may need to know about how the mail was read (an XDM without METADATA.XML…). */
  notes: string[];
}

export interface MailOutcome {
  status: 'processed' | 'failed';
  /** For `failed`: the reason, sent in the MDN's Error field and its human-readable part. */
  reason?: string;
  /** For `failed`: a short error code, in the MDN's subject `[KO Intégration système !][code]`. */
  code?: string;
  requestIds?: number[];
}

/** Thrown by `handle` when the mail cannot be decided now: it stays in the mailbox for the next poll. */
export class RetryLater extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RetryLater';
  }
}

export type MdnState = 'sent' | 'already-sent' | 'not-requested' | 'not-configured' | 'skipped-report';

export interface PolledMessage {
  uid: number;
  messageId: string | undefined;
  /** `left`: still in the mailbox for the next poll (RetryLater, the MDN could not be sent). */
  outcome: 'processed' | 'failed' | 'left';
  reason?: string;
  mdn?: MdnState;
}

export interface PollResult {
  messages: PolledMessage[];
  /** The IMAP (or SMTP) error that ended the poll early, already logged. */
  error?: string;
  /** When the next poll is due: the interval, or the backoff after consecutive errors. */
  retryInMs: number;
}

export interface MailboxPollerOptions {
  /** `imaps://user:password@host:993/INBOX` or `imap://…` (then STARTTLS when the server offers it). */
  imapUrl: string;
  /** When the URL has none: this, else the HOTPATH_IMAP_PASSWORD environment variable. */
  password?: string;
  /** A `/`-separated path, created when missing. */
  processedFolder?: string;
  failedFolder?: string;
  /** Time between polls; 0 polls only when `pollOnce()` is called. */
  pollIntervalMs: number;
  /** The longest wait after consecutive errors. Default 5 minutes. */
  maxBackoffMs?: number;
  /** Where MDNs are sent from; without it, MDN requests are logged and not answered. */
  smtp: { url: string } | undefined;
  /** The mailbox's address: the MDN's From and Final-Recipient. */
  from: string;
  tls: { rejectUnauthorized: boolean };
  log: { info(message: string): void; warn(message: string): void };
  /** A larger mail is failed unread (its headers still get an MDN). Default 50 MB. */
  maxMessageBytes?: number;
  /** Limits for each IHE_XDM.zip. Default 1,000 entries, 200 MB. */
  xdmLimits?: XdmLimits;
  /** Mails taken per poll, oldest first. Default 100. */
  maxMessagesPerPoll?: number;
  /** Reporting-UA product. Default `hotpath`. */
  reportingUa?: string;
  /**
   * Test seam: runs after `handle` resolved and before the MDN and the move. A throw here is what
   * the process dying at that point looks like: the mail stays in the mailbox.
   */
  beforeMove?: (mail: ReceivedMail, outcome: MailOutcome) => void | Promise<void>;
}

export interface MailboxPoller {
  /** Stops the timer, waits for the poll in hand, logs out. */
  close(): Promise<void>;
  /** One poll now (after the one in hand, if any). Never throws. */
  pollOnce(): Promise<PollResult>;
}

const DEFAULTS = {
  processedFolder: 'hotpath/processed',
  failedFolder: 'hotpath/failed',
  maxBackoffMs: 5 * 60_000,
  maxMessageBytes: 50 * 1024 * 1024,
  xdmLimits: { maxEntries: 1000, maxBytes: 200 * 1024 * 1024 },
  maxMessagesPerPoll: 100,
};
const MDN_SENT = '$MDNSent';
const PARSER_OPTIONS = {
  skipTextToHtml: true,
  skipImageLinks: true,
  keepCidLinks: true,
  maxHtmlLengthToParse: 2 * 1024 * 1024,
};

/** Attachment types taken as documents; a zip is read as an IHE XDM package. */
const DOCUMENT_TYPES = new Set([
  'application/pdf',
  'text/xml',
  'application/xml',
  'application/hl7-v3+xml',
  'application/hl7-cda+xml',
  'image/tiff',
  'image/png',
  'image/jpeg',
]);
const ZIP_TYPES = new Set(['application/zip', 'application/x-zip-compressed', 'application/x-zip']);
const TYPE_BY_EXTENSION: Record<string, string> = {
  pdf: 'application/pdf',
  xml: 'text/xml',
  tif: 'image/tiff',
  tiff: 'image/tiff',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  zip: 'application/zip',
};

interface ImapTarget {
  host: string;
  port: number;
  secure: boolean;
  user: string;
  password: string;
  mailbox: string;
}

/** Parses `imaps://user:pass@host:port/INBOX`; the user may be an address (`%40` for its `@`). */
export function parseImapUrl(url: string, password?: string): ImapTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`not an IMAP URL: ${JSON.stringify(url.replace(/:[^:@/]*@/, ':***@'))}`);
  }
  const secure = parsed.protocol === 'imaps:';
  if (!secure && parsed.protocol !== 'imap:') {
    throw new Error(`an IMAP URL starts with imap:// or imaps://, not ${parsed.protocol}//`);
  }
  const user = decodeURIComponent(parsed.username);
  if (!user) throw new Error('the IMAP URL names no user (imaps://user@host/INBOX)');
  const pass = parsed.password
    ? decodeURIComponent(parsed.password)
    : (password ?? process.env.HOTPATH_IMAP_PASSWORD);
  if (!pass) {
    throw new Error('no IMAP password: put it in the URL, the password option or HOTPATH_IMAP_PASSWORD');
  }
  return {
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: parsed.port ? Number(parsed.port) : secure ? 993 : 143,
    secure,
    user,
    password: pass,
    mailbox: decodeURIComponent(parsed.pathname.replace(/^\//, '')) || 'INBOX',
  };
}

export function startMailboxPoller(
  options: MailboxPollerOptions,
  handle: (mail: ReceivedMail) => Promise<MailOutcome>,
): MailboxPoller {
  const target = parseImapUrl(options.imapUrl, options.password);
  const settings = { ...DEFAULTS, ...definedOf(options) };
  const folders = {
    processed: settings.processedFolder.split('/').filter(Boolean),
    failed: settings.failedFolder.split('/').filter(Boolean),
  };
  const log = options.log;
  let client: ImapFlow | undefined;
  let foldersReady = false;
  let transporter: Transporter | undefined;
  let failures = 0;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let chain: Promise<unknown> = Promise.resolve();
  let warnedNoSmtp = false;

  const delay = () =>
    failures === 0
      ? options.pollIntervalMs
      : Math.min(settings.maxBackoffMs, Math.max(options.pollIntervalMs, 1000) * 2 ** (failures - 1));

  const schedule = (ms: number) => {
    if (closed || options.pollIntervalMs <= 0) return;
    clearTimeout(timer);
    timer = setTimeout(() => void pollOnce(), ms);
    timer.unref?.();
  };

  async function connection(): Promise<ImapFlow> {
    if (client?.usable) return client;
    dropConnection();
    const fresh = new ImapFlow({
      host: target.host,
      port: target.port,
      secure: target.secure,
      auth: { user: target.user, pass: target.password },
      tls: { rejectUnauthorized: options.tls.rejectUnauthorized },
      logger: false,
      disableAutoIdle: true,
      connectionTimeout: 30_000,
      greetingTimeout: 30_000,
      socketTimeout: 120_000,
    });
    // An 'error' event with no listener would crash the process.
    fresh.on('error', (error: Error) => log.warn(`IMAP ${target.host}:${target.port}: ${error.message}`));
    try {
      await fresh.connect();
    } catch (error) {
      fresh.close();
      throw error;
    }
    client = fresh;
    foldersReady = false;
    return fresh;
  }

  function dropConnection(): void {
    if (!client) return;
    const old = client;
    client = undefined;
    try {
      old.close();
    } catch {
      // already closed
    }
  }

  async function ensureFolders(imap: ImapFlow): Promise<void> {
    if (foldersReady) return;
    for (const path of [folders.processed, folders.failed]) {
      try {
        // An existing folder is no error when the server says ALREADYEXISTS (RFC 5530)…
        await imap.mailboxCreate(path);
      } catch (error) {
        // …and a server that only says NO is asked whether the folder is there.
        const there = await imap.status(path, { messages: true }).catch(() => false);
        if (!there) throw error;
      }
    }
    foldersReady = true;
  }

  function mdnTransport(): Transporter | undefined {
    if (!options.smtp) return undefined;
    transporter ??= createTransport({
      url: options.smtp.url,
      tls: { rejectUnauthorized: options.tls.rejectUnauthorized },
      connectionTimeout: 30_000,
      greetingTimeout: 30_000,
      socketTimeout: 60_000,
    });
    return transporter;
  }

  async function poll(): Promise<PollResult> {
    const messages: PolledMessage[] = [];
    try {
      const imap = await connection();
      await ensureFolders(imap);
      const lock = await imap.getMailboxLock(target.mailbox);
      try {
        // The mailbox stays selected between polls: NOOP makes the server report what arrived since.
        await imap.noop();
        const found = (await imap.search({ deleted: false }, { uid: true })) || [];
        const uids = [...found].sort((a, b) => a - b).slice(0, settings.maxMessagesPerPoll);
        for (const uid of uids) {
          if (closed) break;
          const taken = await takeMessage(imap, uid);
          if (taken) messages.push(taken);
        }
      } finally {
        lock.release();
      }
      failures = 0;
      return { messages, retryInMs: delay() };
    } catch (error) {
      failures += 1;
      dropConnection();
      const message = error instanceof Error ? error.message : String(error);
      const retryInMs = delay();
      log.warn(
        `mailbox ${target.user}@${target.host}: ${message}; next try in ${Math.round(retryInMs / 1000)} s`,
      );
      return { messages, error: message, retryInMs };
    }
  }

  /** One message, from fetch to move. IMAP and SMTP errors are thrown: they end the poll. */
  async function takeMessage(imap: ImapFlow, uid: number): Promise<PolledMessage | undefined> {
    const header = await imap.fetchOne(String(uid), { uid: true, flags: true, size: true }, { uid: true });
    if (!header) return undefined;
    const tooLarge = (header.size ?? 0) > settings.maxMessageBytes;
    const fetched = await imap.fetchOne(
      String(uid),
      tooLarge ? { uid: true, headers: true } : { uid: true, source: true },
      { uid: true },
    );
    if (!fetched) return undefined;
    const raw = (tooLarge ? fetched.headers : fetched.source) ?? Buffer.alloc(0);
    const parsed = await simpleParser(raw, PARSER_OPTIONS);
    const { mail, problem } = await receivedMail(uid, parsed, tooLarge, header.size ?? 0);

    let outcome: MailOutcome;
    if (problem) {
      outcome = { status: 'failed', reason: problem };
    } else {
      try {
        outcome = await handle(mail);
      } catch (error) {
        if (error instanceof RetryLater) {
          log.info(`mail ${describe(mail)} left for the next poll: ${error.message}`);
          return { uid, messageId: mail.messageId, outcome: 'left', reason: error.message };
        }
        outcome = { status: 'failed', reason: error instanceof Error ? error.message : String(error) };
      }
    }
    if (outcome.status === 'failed' && !outcome.reason) outcome = { ...outcome, reason: 'not processed' };
    await options.beforeMove?.(mail, outcome);

    const mdn = await answerMdn(imap, uid, header.flags, parsed, raw, tooLarge, outcome);
    await move(imap, uid, outcome.status === 'processed' ? folders.processed : folders.failed);
    const line = `mail ${describe(mail)}: ${outcome.status}${outcome.reason ? ` (${outcome.reason})` : ''}`;
    if (outcome.status === 'processed') log.info(line);
    else log.warn(line);
    return { uid, messageId: mail.messageId, outcome: outcome.status, reason: outcome.reason, mdn };
  }

  async function receivedMail(
    uid: number,
    parsed: ParsedMail,
    tooLarge: boolean,
    size: number,
  ): Promise<{ mail: ReceivedMail; problem?: string }> {
    const sender = firstAddress(parsed.from);
    const mail: ReceivedMail = {
      uid,
      messageId: parsed.messageId,
      from: sender?.address?.toLowerCase(),
      fromName: sender?.name || undefined,
      subject: parsed.subject ?? '',
      date: parsed.date,
      text: parsed.text,
      attachments: [],
      notes: [],
    };
    const notificationTo = addressesOf(parsed.headers.get('disposition-notification-to'));
    if (notificationTo.length > 0) mail.dispositionNotificationTo = notificationTo.join(', ');
    if (tooLarge) {
      return {
        mail,
        problem: `the message is ${size} bytes, more than the ${settings.maxMessageBytes} accepted`,
      };
    }
    try {
      mail.attachments = await documentsOf(parsed.attachments, mail.notes);
    } catch (error) {
      if (error instanceof XdmError) return { mail, problem: error.message };
      throw error;
    }
    if (mail.attachments.length === 0) {
      return { mail, problem: 'the message carries no document (PDF, CDA, image or IHE_XDM.zip)' };
    }
    return { mail };
  }

  /**
   * The documents among a mail's attachments; `within` names the forwarded mail (`message/rfc822`
   * attachment) they were found in, read up to two levels deep.
   */
  async function documentsOf(
    attachments: Attachment[],
    notes: string[],
    within = '',
    depth = 0,
  ): Promise<MailAttachment[]> {
    const documents: MailAttachment[] = [];
    for (const [index, attachment] of attachments.entries()) {
      const extension = /\.([a-z0-9]+)$/i.exec(attachment.filename ?? '')?.[1]?.toLowerCase() ?? '';
      let contentType = attachment.contentType.toLowerCase();
      if (contentType === 'application/octet-stream' && TYPE_BY_EXTENSION[extension]) {
        contentType = TYPE_BY_EXTENSION[extension];
      }
      const fileName = attachment.filename ?? `attachment-${index + 1}${extension ? `.${extension}` : ''}`;
      const source = `${within}${fileName}`;
      // An image shown inside the HTML body (a logo in a signature) is not a document.
      if (attachment.related && contentType.startsWith('image/')) continue;
      if (ZIP_TYPES.has(contentType) || extension === 'zip') {
        const xdm = await readXdm(attachment.content, settings.xdmLimits);
        if (xdm.some((document) => document.located === 'extension')) {
          notes.push(`${source} has no METADATA.XML: its documents were found by their file extension`);
        }
        for (const document of xdm) {
          documents.push({
            fileName: document.fileName,
            contentType: document.contentType,
            content: document.content,
            source: `${source}!${document.path}`,
            xdm: document.metadata,
          });
        }
      } else if (DOCUMENT_TYPES.has(contentType)) {
        documents.push({ fileName, contentType, content: attachment.content, source });
      } else if (contentType === 'message/rfc822' && depth < 2) {
        // A mail forwarded as an attachment (from the service's mailbox to the application's).
        const forwarded = await simpleParser(attachment.content, PARSER_OPTIONS);
        documents.push(...(await documentsOf(forwarded.attachments, notes, `${source}!`, depth + 1)));
      } else if (!contentType.startsWith('message/')) {
        notes.push(`${source} (${contentType}) was not read: not a document type hotpath takes`);
      }
    }
    return documents;
  }

  async function answerMdn(
    imap: ImapFlow,
    uid: number,
    flags: Set<string> | undefined,
    parsed: ParsedMail,
    raw: Buffer,
    headersOnly: boolean,
    outcome: MailOutcome,
  ): Promise<MdnState> {
    const to = addressesOf(parsed.headers.get('disposition-notification-to'));
    if (to.length === 0) return 'not-requested';
    if (flags?.has(MDN_SENT)) return 'already-sent';
    // Never answer a report (an MDN, a DSN) with an MDN: two robots would answer each other.
    if (/^multipart\/report/i.test(headerText(parsed, 'content-type'))) return 'skipped-report';
    const transport = mdnTransport();
    if (!transport) {
      if (!warnedNoSmtp) log.warn('an MDN is asked for, but no SMTP server is configured: none is sent');
      warnedNoSmtp = true;
      return 'not-configured';
    }
    const message = await composeMdn({
      from: options.from,
      to,
      reportingUa: `${domainOf(options.from)}; ${settings.reportingUa ?? 'hotpath'}`,
      original: {
        messageId: parsed.messageId,
        subject: parsed.subject ?? '',
        originalRecipient: headerText(parsed, 'original-recipient') || undefined,
        raw,
        headersOnly,
      },
      outcome,
    });
    // RFC 8098 §3: the envelope sender of an MDN should be null, so that nothing answers it.
    await transport.sendMail({ envelope: { from: false, to }, raw: message });
    await imap.messageFlagsAdd(String(uid), [MDN_SENT], { uid: true });
    return 'sent';
  }

  async function move(imap: ImapFlow, uid: number, folder: string[]): Promise<void> {
    const moved = await imap.messageMove(String(uid), folder, { uid: true });
    if (!moved) throw new Error(`the message could not be moved to ${folder.join('/')}`);
  }

  function pollOnce(): Promise<PollResult> {
    const run = chain.then(async () => {
      if (closed) return { messages: [], retryInMs: 0 };
      clearTimeout(timer);
      const result = await poll();
      schedule(result.retryInMs);
      return result;
    });
    chain = run.catch(() => {});
    return run;
  }

  schedule(0);
  return {
    pollOnce,
    async close() {
      closed = true;
      clearTimeout(timer);
      await chain;
      const imap = client;
      client = undefined;
      if (imap) await imap.logout().catch(() => imap.close());
      transporter?.close();
    },
  };
}

export interface MdnInput {
  /** The mailbox that received the mail: From, and Final-Recipient. */
  from: string;
  to: string[];
  /** `host; product`. */
  reportingUa: string;
  original: {
    messageId: string | undefined;
    subject: string;
    /** The Original-Recipient header of the mail, as sent (`rfc822;user@host`). */
    originalRecipient: string | undefined;
    raw: Buffer;
    /** `raw` is only the header block (the mail was too large to fetch). */
    headersOnly: boolean;
  };
  outcome: MailOutcome;
}

/**
 * An RFC 8098 MDN (RFC 6522 multipart/report), as the CI-SIS MSSanté volet shapes it: a text part
 * for a person, the `message/disposition-notification` part, and the original mail (`message/rfc822`,
 * or `text/rfc822-headers` when only its headers were read). A failure is the `processed` type with
 * the `error` modifier and the reason in the `Error` field (RFC 8098 has no `failed` type and no
 * `Failure` field any more).
 */
export async function composeMdn(input: MdnInput): Promise<Buffer> {
  const failed = input.outcome.status === 'failed';
  const reason = oneLine(input.outcome.reason ?? 'not processed');
  const subject = failed
    ? `[KO Intégration système !]${input.outcome.code ? `[${oneLine(input.outcome.code)}]` : ''} ${input.original.subject}`
    : input.original.subject || 'Accusé de traitement';
  const root = new MimeNode('multipart/report; report-type=disposition-notification');
  root.setHeader({
    From: input.from,
    To: input.to.join(', '),
    Subject: subject.trim(),
    'Auto-Submitted': 'auto-replied',
  });
  if (input.original.messageId) {
    root.setHeader('In-Reply-To', input.original.messageId);
    root.setHeader('References', input.original.messageId);
  }
  const human = failed
    ? `Le message ci-dessous n'a pas pu être intégré automatiquement pour la raison suivante : ${reason}\r\n`
    : `Le message ci-dessous a été intégré automatiquement${
        input.outcome.requestIds?.length ? ` (demandes ${input.outcome.requestIds.join(', ')})` : ''
      }.\r\n`;
  root.createChild('text/plain; charset=utf-8').setContent(human);

  const fields = [
    `Reporting-UA: ${asciiField(input.reportingUa)}`,
    ...(input.original.originalRecipient
      ? [`Original-Recipient: ${asciiField(input.original.originalRecipient)}`]
      : []),
    `Final-Recipient: rfc822;${input.from}`,
    ...(input.original.messageId ? [`Original-Message-ID: ${asciiField(input.original.messageId)}`] : []),
    `Disposition: automatic-action/MDN-sent-automatically; processed${failed ? '/error' : ''}`,
    ...(failed ? [`Error: ${asciiField(reason)}`] : []),
  ];
  root
    .createChild('message/disposition-notification')
    .setHeader('Content-Transfer-Encoding', '7bit')
    .setContent(`${fields.map((field) => foldLines(field, 76)).join('\r\n')}\r\n`);

  const original = root.createChild(input.original.headersOnly ? 'text/rfc822-headers' : 'message/rfc822');
  original.setHeader('Content-Transfer-Encoding', isAscii(input.original.raw) ? '7bit' : '8bit');
  original.setContent(input.original.raw);
  return root.build();
}

/**
 * A field value on one line, in US-ASCII. RFC 8098 §3.1.1 allows RFC 2047 encoded words only in
 * comments, and UTF-8 only in message/global-disposition-notification (RFC 6533), which MSSanté
 * tools do not expect: accents are dropped (`identité` → `identite`), typographic quotes made plain,
 * anything else non-ASCII becomes `?`. The human-readable part keeps the exact text.
 */
export function asciiField(value: string): string {
  return oneLine(value)
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .replace(/[\u2018\u2019\u02bc]/g, "'")
    .replace(/[\u201c\u201d\u00ab\u00bb]/g, '"')
    .replace(/[\u2013\u2014]/g, '-')
    .replace(/\u0153/g, 'oe')
    .replace(/\u0152/g, 'OE')
    .replace(/\u00e6/g, 'ae')
    .replace(/\u00c6/g, 'AE')
    .replace(/[^\x20-\x7e]/g, '?');
}

function oneLine(value: string): string {
  return value.replace(/\s+/g, ' ').trim();
}

function isAscii(buffer: Buffer): boolean {
  for (const byte of buffer) if (byte > 0x7f) return false;
  return true;
}

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1) || 'localhost';
}

function firstAddress(object: AddressObject | AddressObject[] | undefined) {
  const list = Array.isArray(object) ? object.flatMap((entry) => entry.value) : (object?.value ?? []);
  return list.find((entry) => entry.address);
}

function addressesOf(value: unknown): string[] {
  if (!value || typeof value !== 'object' || !('value' in value)) return [];
  const entries = (value as AddressObject).value.flatMap((entry) => entry.group ?? [entry]);
  return entries.map((entry) => entry.address).filter((address): address is string => Boolean(address));
}

function headerText(parsed: ParsedMail, name: string): string {
  const value = parsed.headers.get(name);
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && 'value' in value && typeof value.value === 'string') {
    return value.value;
  }
  return '';
}

function describe(mail: ReceivedMail): string {
  return `${mail.messageId ?? `uid ${mail.uid}`} from ${mail.from ?? 'an unknown sender'}`;
}

function definedOf<T extends object>(object: T): Partial<T> {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined)) as Partial<T>;
}
