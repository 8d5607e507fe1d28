import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import type { ImapFlow } from 'imapflow';
import { Kysely, PostgresDialect, sql } from 'kysely';
import { simpleParser } from 'mailparser';
import MailComposer from 'nodemailer/lib/mail-composer';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ingestionDepsOf } from '../../../src/app.ts';
import { ConfigError, loadConfig } from '../../../src/config.ts';
import type { IngestionDeps } from '../../../src/modules/worklist/ingestion/service.ts';
import {
  type MailboxIngestion,
  type MailboxIngestionOptions,
  type MailReport,
  startMailboxIngestion,
} from '../../../src/modules/worklist/operations/mailbox-ingestion.ts';
import {
  cdaDocument,
  documentId,
  type SampleDocument,
} from '../../../src/modules/worklist/operations/sample-messages.ts';
import { freePort } from '../../../src/platform/free-port.ts';
import { onePagePdf } from '../../../src/platform/pdf.ts';
import type { DB } from '../../../src/tables.ts';
import { startServeProcess } from '../../../testkit/serve-process.ts';
import { createTestContext, TEST_TOKEN_SECRET, type TestContext } from '../../support/harness.ts';
import {
  connectImapClient,
  DOVECOT,
  type ImapTestServer,
  type SmtpSink,
  startImapServer,
  startSmtpSink,
} from '../../support/imap-server.ts';
import {
  CAMILLE_DUPONT,
  CAMILLE_IN_MESSAGES,
  camilleLabReportPdf,
  createFacility,
} from '../../support/worklist.ts';
import { buildZip } from '../../support/zip-writer.ts';

const run = promisify(execFile);
const FACILITY = 'FAC-MAILBOX';
const MAILBOX = 'bal-applicative@hopital-b.mssante.fr';
const SENDER = 'dr.martin@labo-a.mssante.fr';

let counter = 0;

const reportPdf = () => camilleLabReportPdf(`mail-${++counter}-${process.pid}`);

const cdaReport = (): SampleDocument => ({
  id: documentId(`MAILBOX-${++counter}`),
  typeCode: '11502-2',
  title: "CR d'examens biologiques",
  procedureDate: '2026-11-19',
  pdf: onePagePdf('Ionogramme', 'Camille DUPONT'),
});

/** An IHE_XDM.zip whose METADATA.XML lists each CDA, as an MSSanté letter carries it. */
function xdmPackage(documents: SampleDocument[]): Buffer {
  const objects = documents.map(
    (document, index) => `
    <rim:ExtrinsicObject id="Document${index + 1}" mimeType="text/xml"
        objectType="urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1">
      <rim:Slot name="URI"><rim:ValueList><rim:Value>DOC000${index + 1}.XML</rim:Value></rim:ValueList></rim:Slot>
      <rim:Name><rim:LocalizedString xml:lang="fr-FR" value="${document.title.replace("'", '&apos;')}"/></rim:Name>
      <rim:ExternalIdentifier identificationScheme="urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
          value="${document.id.root}^${document.id.extension}" id="ei${index}" registryObject="Document${index + 1}">
        <rim:Name><rim:LocalizedString value="XDSDocumentEntry.uniqueId"/></rim:Name>
      </rim:ExternalIdentifier>
    </rim:ExtrinsicObject>`,
  );
  const metadata = `<?xml version="1.0" encoding="UTF-8"?>
<lcm:SubmitObjectsRequest xmlns:lcm="urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
    xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0">
  <rim:RegistryObjectList>${objects.join('')}
    <rim:RegistryPackage id="SubmissionSet01"/>
  </rim:RegistryObjectList>
</lcm:SubmitObjectsRequest>
`;
  return buildZip([
    { name: 'INDEX.HTM', content: '<html><body>Index</body></html>' },
    { name: 'README.TXT', content: 'hotpath test sender' },
    ...documents.map((document, index) => ({
      name: `IHE_XDM/SUBSET01/DOC000${index + 1}.XML`,
      content: cdaDocument({ patient: CAMILLE_IN_MESSAGES, document, facilityId: FACILITY }),
      method: 'deflate' as const,
    })),
    { name: 'IHE_XDM/SUBSET01/METADATA.XML', content: metadata, method: 'deflate' },
  ]);
}

interface BuiltMail {
  messageId: string;
  subject: string;
  raw: Buffer;
}

async function composeMail(options: {
  subject: string;
  attachments: Array<{ filename: string; content: Buffer; contentType: string }>;
  mdn?: boolean;
}): Promise<BuiltMail> {
  const messageId = `<mailbox-ingestion-${++counter}.${Date.now()}@labo-a.mssante.fr>`;
  const raw = await new MailComposer({
    from: { name: 'Dr Martin', address: SENDER },
    to: MAILBOX,
    subject: options.subject,
    messageId,
    text: 'Veuillez trouver ci-joint le compte rendu.',
    headers: options.mdn === false ? {} : { 'Disposition-Notification-To': SENDER },
    attachments: options.attachments,
  })
    .compile()
    .build();
  return { messageId, subject: options.subject, raw };
}

interface Mdn {
  subject: string;
  disposition: string | undefined;
  error: string | undefined;
  originalMessageId: string | undefined;
  human: string;
}

async function readMdn(raw: Buffer): Promise<Mdn> {
  const parsed = await simpleParser(raw);
  const part = parsed.attachments.find((entry) => entry.contentType === 'message/disposition-notification');
  expect(part, 'the MDN has a message/disposition-notification part').toBeDefined();
  const fields = await simpleParser(Buffer.concat([part!.content, Buffer.from('\r\n')]));
  const field = (name: string) => {
    const value = fields.headers.get(name);
    return value === undefined ? undefined : String(value);
  };
  return {
    subject: parsed.subject ?? '',
    disposition: field('disposition'),
    error: field('error'),
    originalMessageId: field('original-message-id'),
    human: parsed.text ?? '',
  };
}

/** Waits for a condition (never a fixed time): every 100 ms, up to a bound that only stops a hang. */
async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 180_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('the mailbox configuration of serve', () => {
  const base = { HOTPATH_TOKEN_SECRET: TEST_TOKEN_SECRET };
  const problemsOf = (env: Record<string, string>) => {
    try {
      loadConfig({ ...base, ...env });
    } catch (error) {
      if (error instanceof ConfigError) return error.problems;
      throw error;
    }
    return [];
  };

  it('is off by default, and takes the URL, the facility and the rest', () => {
    expect(loadConfig(base).mailbox).toBeUndefined();
    expect(
      loadConfig({
        ...base,
        HOTPATH_MAILBOX_IMAP_URL: 'imaps://bal%40hopital.mssante.fr@imap.hopital.fr/INBOX',
        HOTPATH_IMAP_PASSWORD: 'secret',
        HOTPATH_MAILBOX_FACILITY: 'FAC-1',
        HOTPATH_MAILBOX_SMTP_URL: 'smtps://smtp.hopital.fr',
        HOTPATH_MAILBOX_FROM: 'bal@hopital.mssante.fr',
        HOTPATH_MAILBOX_INTERVAL_SECONDS: '30',
        HOTPATH_MAILBOX_INSECURE_TLS: 'true',
      }).mailbox,
    ).toEqual({
      imapUrl: 'imaps://bal%40hopital.mssante.fr@imap.hopital.fr/INBOX',
      password: 'secret',
      facilityId: 'FAC-1',
      smtpUrl: 'smtps://smtp.hopital.fr',
      from: 'bal@hopital.mssante.fr',
      intervalSeconds: 30,
      processedFolder: undefined,
      failedFolder: undefined,
      insecureTls: true,
    });
    expect(
      loadConfig({
        ...base,
        HOTPATH_MAILBOX_IMAP_URL: 'imap://bal:pw@127.0.0.1:1143/INBOX',
        HOTPATH_MAILBOX_FACILITY: 'FAC-1',
      }).mailbox,
    ).toMatchObject({ intervalSeconds: 60, insecureTls: false, smtpUrl: undefined, from: undefined });
  });

  it('names each variable that is wrong or missing', () => {
    expect(problemsOf({ HOTPATH_MAILBOX_IMAP_URL: 'imap://bal:pw@host/INBOX' })).toEqual([
      "HOTPATH_MAILBOX_FACILITY must name the facility that receives the mailbox's documents",
    ]);
    expect(problemsOf({ HOTPATH_MAILBOX_FACILITY: 'FAC-1', HOTPATH_MAILBOX_INTERVAL_SECONDS: '30' })).toEqual(
      ['HOTPATH_MAILBOX_FACILITY, HOTPATH_MAILBOX_INTERVAL_SECONDS need HOTPATH_MAILBOX_IMAP_URL'],
    );
    const problems = problemsOf({
      HOTPATH_MAILBOX_IMAP_URL: 'https://bal:pw@host/INBOX',
      HOTPATH_MAILBOX_FACILITY: 'FAC-1',
      HOTPATH_MAILBOX_SMTP_URL: 'http://smtp',
      HOTPATH_MAILBOX_FROM: 'not an address',
      HOTPATH_MAILBOX_INTERVAL_SECONDS: '0',
      HOTPATH_MAILBOX_INSECURE_TLS: 'yes',
    });
    expect(problems).toEqual([
      "HOTPATH_MAILBOX_IMAP_URL must start with imap:// or imaps:// (got 'https://bal:***@host/INBOX')",
      "HOTPATH_MAILBOX_SMTP_URL must start with smtp:// or smtps:// (got 'http://smtp')",
      "HOTPATH_MAILBOX_INTERVAL_SECONDS must be an integer from 1 to 86400 (got '0')",
      "HOTPATH_MAILBOX_INSECURE_TLS must be one of true, false (got 'yes')",
      "HOTPATH_MAILBOX_FROM must be a mail address, as bal@hopital.mssante.fr (got 'not an address')",
    ]);
    expect(
      problemsOf({ HOTPATH_MAILBOX_IMAP_URL: 'imaps://host/INBOX', HOTPATH_MAILBOX_FACILITY: 'F' }),
    ).toEqual([
      "HOTPATH_MAILBOX_IMAP_URL must name its user, as imaps://user@host/INBOX (got 'imaps://host/INBOX')",
    ]);
    expect(
      problemsOf({ HOTPATH_MAILBOX_IMAP_URL: 'imaps://bal@host/INBOX', HOTPATH_MAILBOX_FACILITY: 'F' }),
    ).toEqual(['HOTPATH_MAILBOX_IMAP_URL has no password: put it in the URL or in HOTPATH_IMAP_PASSWORD']);
  });
});

// A real IMAP server: Debian's dovecot-imapd, which CI installs (and there the tests must run). A
// machine with only Node.js and npm skips them, saying why.
const dovecotMissing = !existsSync(DOVECOT) && !process.env.CI;
describe.skipIf(dovecotMissing)('an MSSanté mailbox into the worklist (needs dovecot-imapd)', () => {
  let context: TestContext;
  let deps: IngestionDeps;
  let imapServer: ImapTestServer;
  let smtp: SmtpSink;
  let client: ImapFlow;
  const started: MailboxIngestion[] = [];
  const warnings: string[] = [];

  beforeAll(async () => {
    context = await createTestContext();
    await createFacility(context, FACILITY, { patients: [{ ipp: 'IPP-1', ...CAMILLE_DUPONT }] });
    deps = ingestionDepsOf(context.runtime);
    [imapServer, smtp] = await Promise.all([startImapServer(), startSmtpSink()]);
    client = await connectImapClient(imapServer);
  });
  afterEach(async () => {
    await Promise.all(started.splice(0).map((ingestion) => ingestion.close()));
  });
  afterAll(async () => {
    await client?.logout().catch(() => {});
    await smtp?.close();
    await imapServer?.stop();
    await context?.close();
  });

  const startIngestion = (overrides: Partial<MailboxIngestionOptions> & { deps?: IngestionDeps } = {}) => {
    const { deps: own, ...options } = overrides;
    const ingestion = startMailboxIngestion(own ?? deps, {
      facilityId: FACILITY,
      imapUrl: imapServer.url,
      smtpUrl: smtp.url,
      from: MAILBOX,
      intervalSeconds: 0,
      log: { info: () => {}, warn: (message) => warnings.push(message) },
      ...options,
    });
    started.push(ingestion);
    return ingestion;
  };

  const append = (mail: BuiltMail) => client.append('INBOX', mail.raw);
  const messageIdsIn = async (path: string[]): Promise<string[]> => {
    const lock = await client.getMailboxLock(path);
    try {
      await client.noop();
      const uids = (await client.search({ all: true }, { uid: true })) || [];
      if (uids.length === 0) return [];
      const messages = await client.fetchAll(uids.join(','), { envelope: true }, { uid: true });
      return messages.map((message) => message.envelope?.messageId ?? '');
    } finally {
      lock.release();
    }
  };
  const inbox = () => messageIdsIn(['INBOX']);
  const processed = () => messageIdsIn(['hotpath', 'processed']);
  const failed = () => messageIdsIn(['hotpath', 'failed']);

  /** The MDN answering a mail, once the sink has it. */
  const mdnFor = async (mail: BuiltMail): Promise<Mdn[]> => {
    const mdns = await Promise.all(smtp.messages.map((message) => readMdn(message.raw)));
    return mdns.filter((mdn) => mdn.originalMessageId === mail.messageId);
  };

  const db = () => context.runtime.database.db;
  const requestCount = async () => {
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM integration_requests`.execute(
      db(),
    );
    return rows[0]!.n;
  };
  const requestsOf = async (ids: number[]) => {
    const { rows } = await sql<{
      request_id: number;
      source: string;
      listener: string;
      sender: string;
      subject: string | null;
      format: string;
    }>`SELECT r.request_id::int, r.source, m.listener, m.sender, m.subject, m.format
       FROM integration_requests r JOIN inbound_messages m ON m.message_id = r.message_id
       WHERE r.request_id = ANY(${ids}::bigint[]) ORDER BY r.request_id`.execute(db());
    return rows;
  };

  it('takes a PDF into one request from the sender, with the subject; moves the mail; answers processed', async () => {
    const ingestion = startIngestion();
    const mail = await composeMail({
      subject: 'CR biologie DUPONT Camille',
      attachments: [{ filename: 'cr-biologie.pdf', content: reportPdf(), contentType: 'application/pdf' }],
    });
    await append(mail);

    const result = await ingestion.pollOnce();

    expect(result.error).toBeUndefined();
    expect(result.mails).toEqual([
      expect.objectContaining({
        messageId: mail.messageId,
        from: SENDER,
        subject: mail.subject,
        outcome: 'processed',
        mdn: 'sent',
      }),
    ]);
    const requestIds = result.mails[0]!.requestIds;
    expect(requestIds).toHaveLength(1);
    expect(await requestsOf(requestIds)).toEqual([
      {
        request_id: requestIds[0],
        source: 'mssante',
        listener: 'mailbox',
        sender: SENDER,
        subject: mail.subject,
        format: 'pdf',
      },
    ]);
    expect(await inbox()).toEqual([]);
    expect(await processed()).toContain(mail.messageId);
    const [mdn, ...more] = await mdnFor(mail);
    expect(more).toEqual([]);
    expect(mdn!.disposition).toBe('automatic-action/MDN-sent-automatically; processed');
    expect(mdn!.error).toBeUndefined();
    expect(mdn!.human).toContain(`demandes ${requestIds[0]}`);
  });

  it('takes each document of an IHE_XDM.zip into a request; the same mail again makes none and is processed', async () => {
    const ingestion = startIngestion();
    const mail = await composeMail({
      subject: 'XDM/1.0/DDM+CR d’examens biologiques DUPONT Camille',
      attachments: [
        {
          filename: 'IHE_XDM.zip',
          content: xdmPackage([cdaReport(), cdaReport()]),
          contentType: 'application/zip',
        },
      ],
    });
    await append(mail);

    const first = await ingestion.pollOnce();

    expect(first.mails).toEqual([expect.objectContaining({ outcome: 'processed', mdn: 'sent' })]);
    const requestIds = first.mails[0]!.requestIds;
    expect(requestIds).toHaveLength(2);
    const requests = await requestsOf(requestIds);
    expect(
      requests.map(({ format, source, sender, subject }) => ({ format, source, sender, subject })),
    ).toEqual(Array(2).fill({ format: 'cda', source: 'mssante', sender: SENDER, subject: mail.subject }));
    expect(await processed()).toContain(mail.messageId);

    // Sent again (the sender's retry, or the mail given back after a crash before its move): the
    // documents are known, the mail is processed with the same requests, nothing is stored twice.
    const before = await requestCount();
    await append(mail);
    const again = await ingestion.pollOnce();

    expect(again.mails).toEqual([
      expect.objectContaining({ messageId: mail.messageId, outcome: 'processed', requestIds, mdn: 'sent' }),
    ]);
    expect(await requestCount()).toBe(before);
    expect(await inbox()).toEqual([]);
    expect(await failed()).not.toContain(mail.messageId);
    const mdns = await mdnFor(mail);
    expect(mdns.map((mdn) => mdn.disposition)).toEqual(
      Array(2).fill('automatic-action/MDN-sent-automatically; processed'),
    );
  });

  it('fails a mail whose PDF is no PDF: failed folder, an MDN naming the attachment and the reason', async () => {
    const ingestion = startIngestion();
    const mail = await composeMail({
      subject: 'CR illisible',
      attachments: [
        {
          filename: 'cr.pdf',
          content: Buffer.from('this is not a PDF at all'),
          contentType: 'application/pdf',
        },
      ],
    });
    await append(mail);
    const before = await requestCount();

    const result = await ingestion.pollOnce();

    expect(result.mails).toEqual([
      expect.objectContaining({ messageId: mail.messageId, outcome: 'failed', requestIds: [], mdn: 'sent' }),
    ]);
    expect(result.mails[0]!.reason).toMatch(/^cr\.pdf: PDF: not a readable PDF/);
    expect(await requestCount()).toBe(before);
    expect(await failed()).toContain(mail.messageId);
    expect(await inbox()).toEqual([]);
    const [mdn] = await mdnFor(mail);
    expect(mdn!.subject).toBe('[KO Intégration système !][102] CR illisible');
    expect(mdn!.disposition).toBe('automatic-action/MDN-sent-automatically; processed/error');
    expect(mdn!.error).toMatch(/^cr\.pdf: PDF: not a readable PDF/);
    expect(mdn!.human).toContain('cr.pdf');
  });

  it('says which document failed and which were received when a mail holds both', async () => {
    const ingestion = startIngestion();
    const mail = await composeMail({
      subject: 'Deux comptes rendus',
      attachments: [
        { filename: 'bon.pdf', content: reportPdf(), contentType: 'application/pdf' },
        { filename: 'abime.pdf', content: Buffer.from('%PDF-1.4 truncated'), contentType: 'application/pdf' },
      ],
    });
    await append(mail);

    const result = await ingestion.pollOnce();

    const [report] = result.mails as [MailReport];
    expect(report.outcome).toBe('failed');
    expect(report.requestIds).toHaveLength(1);
    expect(report.reason).toMatch(
      new RegExp(
        `^abime\\.pdf: PDF: .*; the other documents were received \\(requests ${report.requestIds[0]}\\)$`,
      ),
    );
    expect(await failed()).toContain(mail.messageId);
  });

  it('leaves a mail in the mailbox while the database is down, and takes it once it is back', async () => {
    // A database that refuses connections, for the first poll.
    const deadPort = await freePort();
    const dead = new Kysely<DB>({
      dialect: new PostgresDialect({
        pool: new pg.Pool({ connectionString: `postgres://hotpath@127.0.0.1:${deadPort}/none`, max: 1 }),
      }),
    });
    let databaseDown = true;
    const real = deps;
    const flaky: IngestionDeps = {
      ...real,
      get db() {
        return databaseDown ? dead : real.db;
      },
    };
    const ingestion = startIngestion({ deps: flaky });
    const mail = await composeMail({
      subject: 'Pendant la panne',
      attachments: [{ filename: 'cr.pdf', content: reportPdf(), contentType: 'application/pdf' }],
    });
    await append(mail);
    const before = await requestCount();
    const mdnsBefore = smtp.messages.length;

    try {
      const during = await ingestion.pollOnce();
      expect(during.error).toBeUndefined();
      expect(during.mails).toEqual([
        expect.objectContaining({ messageId: mail.messageId, outcome: 'left', requestIds: [] }),
      ]);
      expect(during.mails[0]!.reason).toMatch(/^cr\.pdf: .*ECONNREFUSED/);
      expect(await inbox()).toEqual([mail.messageId]);
      expect(smtp.messages).toHaveLength(mdnsBefore);
      expect(await requestCount()).toBe(before);
    } finally {
      databaseDown = false;
      await dead.destroy();
    }

    const after = await ingestion.pollOnce();
    expect(after.mails).toEqual([
      expect.objectContaining({ messageId: mail.messageId, outcome: 'processed', mdn: 'sent' }),
    ]);
    expect(after.mails[0]!.requestIds).toHaveLength(1);
    expect(await requestCount()).toBe(before + 1);
    expect(await inbox()).toEqual([]);
    expect(await mdnFor(mail)).toHaveLength(1);
  });

  it('leaves the mail of a facility that does not exist', async () => {
    const ingestion = startIngestion({ facilityId: 'FAC-NOBODY' });
    const mail = await composeMail({
      subject: 'Mauvais établissement',
      attachments: [{ filename: 'cr.pdf', content: reportPdf(), contentType: 'application/pdf' }],
    });
    await append(mail);

    const result = await ingestion.pollOnce();
    expect(result.mails).toEqual([expect.objectContaining({ outcome: 'left' })]);
    expect(result.mails[0]!.reason).toContain('no facility receives messages addressed to FAC-NOBODY');
    expect(await inbox()).toEqual([mail.messageId]);
    await ingestion.close();

    // Taken by the right facility's mailbox, so the next test starts from an empty one.
    expect((await startIngestion().pollOnce()).mails).toEqual([
      expect.objectContaining({ outcome: 'processed' }),
    ]);
  });

  describe('from the command line and from serve', () => {
    const env = () => {
      const { DATABASE_URL: _ignored, ...inherited } = process.env;
      return {
        ...inherited,
        DATABASE_URL: context.config.databaseUrl,
        HOTPATH_DATA_DIR: context.config.dataDir,
        HOTPATH_TOKEN_SECRET: TEST_TOKEN_SECRET,
        LOG_LEVEL: 'warn',
      };
    };
    // The CLI from its sources (tsx), so no build is needed first.
    const cli = ['--import', 'tsx', 'src/cli.ts'];

    it('hotpath ingest mailbox --once: a line per mail, exit 1 when one failed', async () => {
      const good = await composeMail({
        subject: 'Par la ligne de commande',
        attachments: [{ filename: 'cr.pdf', content: reportPdf(), contentType: 'application/pdf' }],
      });
      const bad = await composeMail({
        subject: 'Illisible',
        attachments: [
          { filename: 'x.pdf', content: Buffer.from('not a pdf'), contentType: 'application/pdf' },
        ],
      });
      await append(good);
      await append(bad);

      const args = [
        ...cli,
        'ingest',
        'mailbox',
        '--imap',
        imapServer.url,
        '--facility',
        FACILITY,
        '--smtp',
        smtp.url,
        '--from',
        MAILBOX,
        '--once',
      ];
      const outcome = await run(process.execPath, args, { env: env(), timeout: 300_000 }).then(
        ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
        (error: { code: number; stdout: string; stderr: string }) => error,
      );

      expect(outcome.code, outcome.stderr).toBe(1);
      const lines = outcome.stdout.trim().split('\n');
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(
        new RegExp(
          `^mail ${literal(good.messageId)} from ${literal(SENDER)}: processed, requests \\d+; MDN sent$`,
        ),
      );
      expect(lines[1]).toMatch(
        new RegExp(
          `^mail ${literal(bad.messageId)} from ${literal(SENDER)}: failed \\(x\\.pdf: PDF: not a readable PDF.*\\); MDN sent$`,
        ),
      );
      expect(await processed()).toContain(good.messageId);
      expect(await failed()).toContain(bad.messageId);

      // Nothing left: exit 0.
      const quiet = await run(process.execPath, args, { env: env(), timeout: 300_000 });
      expect(quiet.stdout).toBe('');
      expect(quiet.stderr).toContain('0 mails taken from');
    });

    it('hotpath ingest mailbox polls until Ctrl-C, then closes cleanly', async () => {
      const child = spawn(
        process.execPath,
        [...cli, 'ingest', 'mailbox', '--imap', imapServer.url, '--facility', FACILITY, '--interval', '1'],
        { env: env(), stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      try {
        await until(
          'the CLI polling',
          async () => stderr.includes('stop with Ctrl-C') || child.exitCode !== null,
        );
        expect(child.exitCode, stderr).toBeNull();
        // Appended while it runs: a later poll takes it. No SMTP server: the MDN asked for is not sent.
        const mail = await composeMail({
          subject: 'Pendant que la commande tourne',
          attachments: [{ filename: 'cr.pdf', content: reportPdf(), contentType: 'application/pdf' }],
        });
        await append(mail);
        await until('its line', async () => stdout.includes(mail.messageId));
        expect(stdout).toMatch(
          new RegExp(
            `mail ${literal(mail.messageId)} from ${literal(SENDER)}: processed, requests \\d+; MDN asked for, not sent \\(no SMTP server configured\\)\\n`,
          ),
        );
        expect(await processed()).toContain(mail.messageId);
        child.kill('SIGINT');
        expect(await exited, stderr).toBe(0);
        expect(stderr).toContain('stopping: the mail in hand finishes');
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    });

    it('serve polls the mailbox of HOTPATH_MAILBOX_IMAP_URL and closes it on SIGTERM', async () => {
      const server = await startServeProcess(
        {
          ...env(),
          HOTPATH_WORKERS: '1',
          HOTPATH_MAILBOX_IMAP_URL: imapServer.url,
          HOTPATH_MAILBOX_FACILITY: FACILITY,
          HOTPATH_MAILBOX_SMTP_URL: smtp.url,
          HOTPATH_MAILBOX_FROM: MAILBOX,
          HOTPATH_MAILBOX_INTERVAL_SECONDS: '1',
        },
        [...cli, 'serve'],
      );
      try {
        const mail = await composeMail({
          subject: 'Par le serveur',
          attachments: [{ filename: 'cr.pdf', content: reportPdf(), contentType: 'application/pdf' }],
        });
        await append(mail);
        await until('the mail in the processed folder', async () =>
          (await processed()).includes(mail.messageId),
        );
        const [mdn] = await until('its MDN', async () => {
          const mdns = await mdnFor(mail);
          return mdns.length > 0 && mdns;
        });
        expect(mdn!.disposition).toBe('automatic-action/MDN-sent-automatically; processed');
        const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM inbound_messages
          WHERE listener = 'mailbox' AND subject = ${mail.subject}`.execute(db());
        expect(rows[0]!.n).toBe(1);
      } finally {
        expect(await server.stop(), server.output()).toBe(0);
      }
    });
  });
});

function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
