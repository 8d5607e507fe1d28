import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { ImapFlow } from 'imapflow';
import { type Attachment, simpleParser } from 'mailparser';
import MailComposer from 'nodemailer/lib/mail-composer';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type MailboxPoller,
  type MailboxPollerOptions,
  type MailOutcome,
  type ReceivedMail,
  RetryLater,
  startMailboxPoller,
} from '../../../src/modules/worklist/ingestion/mailbox.ts';
import { readXdm, XdmError, type XdmErrorReason } from '../../../src/modules/worklist/ingestion/xdm.ts';
import {
  cdaDocument,
  documentId,
  type SampleDocument,
} from '../../../src/modules/worklist/operations/sample-messages.ts';
import { freePort } from '../../../src/platform/free-port.ts';
import { onePagePdf } from '../../../src/platform/pdf.ts';
import {
  connectImapClient,
  DOVECOT,
  type ImapTestServer,
  type SmtpSink,
  startImapServer,
  startSmtpSink,
} from '../../support/imap-server.ts';
import { CAMILLE_DUPONT, CAMILLE_IN_MESSAGES } from '../../support/worklist.ts';
import { buildZip, type ZipEntryInput } from '../../support/zip-writer.ts';

const MAILBOX = 'bal-applicative@hopital-b.mssante.fr';
const SENDER = 'dr.martin@labo-a.mssante.fr';
const LIMITS = { maxEntries: 100, maxBytes: 1024 * 1024 };
const INS_OID = '1.2.250.1.213.1.4.8';

const camille = CAMILLE_IN_MESSAGES;
let counter = 0;
const report = (): SampleDocument => ({
  id: documentId(`MAIL-${++counter}`),
  typeCode: '11502-2',
  title: "CR d'examens biologiques",
  procedureDate: '2026-11-19',
  pdf: onePagePdf('Ionogramme', 'Camille DUPONT'),
});

/** An ebRIM SubmitObjectsRequest as an XDM METADATA.XML carries it, one ExtrinsicObject per document. */
function metadataXml(documents: Array<{ uri: string; uniqueId: string; mimeType: string; title: string }>) {
  const objects = documents.map(
    (document, index) => `
    <rim:ExtrinsicObject id="Document${index + 1}" mimeType="${document.mimeType}"
        objectType="urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1">
      <rim:Slot name="creationTime"><rim:ValueList><rim:Value>20261119093000</rim:Value></rim:ValueList></rim:Slot>
      <rim:Slot name="sourcePatientId"><rim:ValueList><rim:Value>IPP-1^^^&amp;1.2.250.1.71.4.2.7.LABO&amp;ISO</rim:Value></rim:ValueList></rim:Slot>
      <rim:Slot name="URI"><rim:ValueList><rim:Value>${document.uri}</rim:Value></rim:ValueList></rim:Slot>
      <rim:Name><rim:LocalizedString xml:lang="fr-FR" value="${document.title}"/></rim:Name>
      <rim:Classification classificationScheme="urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
          classifiedObject="Document${index + 1}" nodeRepresentation="11" id="cl${index}a"/>
      <rim:Classification classificationScheme="urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
          classifiedObject="Document${index + 1}" nodeRepresentation="11502-2" id="cl${index}b">
        <rim:Slot name="codingScheme"><rim:ValueList><rim:Value>2.16.840.1.113883.6.1</rim:Value></rim:ValueList></rim:Slot>
      </rim:Classification>
      <rim:ExternalIdentifier identificationScheme="urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
          value="${CAMILLE_DUPONT.ins}^^^&amp;${INS_OID}&amp;ISO" id="ei${index}a" registryObject="Document${index + 1}">
        <rim:Name><rim:LocalizedString value="XDSDocumentEntry.patientId"/></rim:Name>
      </rim:ExternalIdentifier>
      <rim:ExternalIdentifier identificationScheme="urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
          value="${document.uniqueId}" id="ei${index}b" registryObject="Document${index + 1}">
        <rim:Name><rim:LocalizedString value="XDSDocumentEntry.uniqueId"/></rim:Name>
      </rim:ExternalIdentifier>
    </rim:ExtrinsicObject>`,
  );
  return `<?xml version="1.0" encoding="UTF-8"?>
<lcm:SubmitObjectsRequest xmlns:lcm="urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
    xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0">
  <rim:RegistryObjectList>${objects.join('')}
    <rim:RegistryPackage id="SubmissionSet01"/>
  </rim:RegistryObjectList>
</lcm:SubmitObjectsRequest>
`;
}

/** An IHE_XDM.zip holding one CDA (and its stylesheet, INDEX.HTM and README.TXT beside it). */
function xdmPackage(document = report(), options: { metadata?: boolean } = {}) {
  const cda = cdaDocument({ patient: camille, document, facilityId: 'FAC-MAIL' });
  const uniqueId = `${document.id.root}^${document.id.extension}`;
  const entries: ZipEntryInput[] = [
    { name: 'INDEX.HTM', content: '<html><body>Index</body></html>' },
    { name: 'README.TXT', content: 'hotpath test sender' },
    { name: 'IHE_XDM/', content: '' },
    { name: 'IHE_XDM/SUBSET01/', content: '' },
    { name: 'IHE_XDM/SUBSET01/DOC0001.XML', content: cda, method: 'deflate' },
    { name: 'IHE_XDM/SUBSET01/CDA_FR.XSL', content: '<xsl:stylesheet/>' },
  ];
  if (options.metadata !== false) {
    entries.push({
      name: 'IHE_XDM/SUBSET01/METADATA.XML',
      content: metadataXml([{ uri: 'DOC0001.XML', uniqueId, mimeType: 'text/xml', title: document.title }]),
      method: 'deflate',
    });
  }
  return { zip: buildZip(entries), cda, uniqueId };
}

async function xdmFailure(zip: Buffer, limits = LIMITS): Promise<XdmError> {
  const error = await readXdm(zip, limits).then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(XdmError);
  return error as XdmError;
}

describe('readXdm', () => {
  it('takes the documents METADATA.XML lists, with what it says of them', async () => {
    const document = report();
    const { zip, cda, uniqueId } = xdmPackage(document);
    const documents = await readXdm(zip, LIMITS);
    expect(documents).toHaveLength(1);
    expect(documents[0]).toMatchObject({
      fileName: 'DOC0001.XML',
      path: 'IHE_XDM/SUBSET01/DOC0001.XML',
      contentType: 'text/xml',
      located: 'metadata',
      metadata: {
        uniqueId,
        patientId: `${CAMILLE_DUPONT.ins}^^^&${INS_OID}&ISO`,
        sourcePatientId: 'IPP-1^^^&1.2.250.1.71.4.2.7.LABO&ISO',
        typeCode: '11502-2',
        classCode: '11',
        title: document.title,
        creationTime: '20261119093000',
      },
    });
    expect(documents[0]!.content.equals(cda)).toBe(true);
  });

  it('without METADATA.XML, takes the documents by extension and says so', async () => {
    const pdf = onePagePdf('Compte rendu');
    const zip = buildZip([
      { name: 'INDEX.HTM', content: '<html/>' },
      { name: 'README.TXT', content: 'readme' },
      { name: 'IHE_XDM/SUBSET01/DOC0001.PDF', content: pdf, method: 'deflate' },
      { name: 'IHE_XDM/SUBSET01/DOC0002.XML', content: '<ClinicalDocument/>' },
      { name: 'IHE_XDM/SUBSET01/STYLE.XSL', content: '<xsl:stylesheet/>' },
    ]);
    const documents = await readXdm(zip, LIMITS);
    expect(documents.map(({ path, contentType, located }) => ({ path, contentType, located }))).toEqual([
      { path: 'IHE_XDM/SUBSET01/DOC0001.PDF', contentType: 'application/pdf', located: 'extension' },
      { path: 'IHE_XDM/SUBSET01/DOC0002.XML', contentType: 'text/xml', located: 'extension' },
    ]);
    expect(documents[0]!.content.equals(pdf)).toBe(true);
    expect(documents[0]!.metadata).toEqual({});
  });

  it('rejects what is not a zip, or is a truncated one', async () => {
    expect((await xdmFailure(Buffer.from('%PDF-1.4 not a zip'))).reason).toBe('not-a-zip');
    expect((await xdmFailure(Buffer.alloc(0))).reason).toBe('not-a-zip');
    const { zip } = xdmPackage();
    const truncated = await xdmFailure(zip.subarray(0, zip.length - 30));
    expect(['not-a-zip', 'corrupt']).toContain(truncated.reason);
    expect(truncated.message).toMatch(/^IHE XDM package: /);
  });

  it('refuses zip bombs: too many bytes once inflated, sizes that lie, too many entries', async () => {
    const zeros = Buffer.alloc(20 * 1024 * 1024);
    const bomb = buildZip([{ name: 'IHE_XDM/SUBSET01/DOC0001.XML', content: zeros, method: 'deflate' }]);
    expect(bomb.length).toBeLessThan(100 * 1024);
    expect((await xdmFailure(bomb)).reason).toBe('too-large');

    // The directory says 1 KB, the data inflates to 20 MB: stopped while inflating.
    const liar = buildZip([
      { name: 'IHE_XDM/SUBSET01/DOC0001.XML', content: zeros, method: 'deflate', declaredSize: 1024 },
    ]);
    expect((await xdmFailure(liar)).reason).toBe('too-large');

    // Many small entries, each within the limit, together over it.
    const many = buildZip(
      Array.from({ length: 8 }, (_, index) => ({
        name: `IHE_XDM/SUBSET01/DOC${index}.XML`,
        content: Buffer.alloc(200 * 1024),
        method: 'deflate' as const,
      })),
    );
    expect((await xdmFailure(many)).reason).toBe('too-large');

    const crowded = buildZip(
      Array.from({ length: 101 }, (_, index) => ({ name: `IHE_XDM/SUBSET01/F${index}.TXT`, content: 'x' })),
    );
    expect((await xdmFailure(crowded)).reason).toBe('too-many-entries');
  });

  it('refuses entry names that climb out, are absolute or repeat', async () => {
    const reasons: XdmErrorReason[] = [];
    for (const name of ['../../etc/cron.d/evil.xml', '/etc/passwd', 'IHE_XDM\\..\\evil.pdf', 'C:/evil.pdf']) {
      reasons.push((await xdmFailure(buildZip([{ name, content: 'x' }]))).reason);
    }
    expect(reasons).toEqual(Array(4).fill('unsafe-entry-name'));
    const twice = buildZip([
      { name: 'IHE_XDM/SUBSET01/DOC0001.XML', content: 'a' },
      { name: 'IHE_XDM/SUBSET01/doc0001.xml', content: 'b' },
    ]);
    expect((await xdmFailure(twice)).reason).toBe('duplicate-entry');
  });

  it('refuses metadata that lists a missing document, declares a DOCTYPE or is not XML', async () => {
    const listed = metadataXml([
      { uri: 'DOC0009.XML', uniqueId: '1.2.3', mimeType: 'text/xml', title: 'CR' },
    ]);
    const missing = buildZip([
      { name: 'IHE_XDM/SUBSET01/METADATA.XML', content: listed },
      { name: 'IHE_XDM/SUBSET01/DOC0001.XML', content: '<ClinicalDocument/>' },
    ]);
    const error = await xdmFailure(missing);
    expect(error.reason).toBe('missing-document');
    expect(error.message).toContain('DOC0009.XML');

    const entities = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]>${listed.replace(/^<\?xml[^>]*>/, '')}`;
    const withDoctype = buildZip([{ name: 'IHE_XDM/SUBSET01/METADATA.XML', content: entities }]);
    expect((await xdmFailure(withDoctype)).reason).toBe('invalid-metadata');

    const broken = buildZip([
      { name: 'IHE_XDM/SUBSET01/METADATA.XML', content: '<lcm:SubmitObjectsRequest>' },
    ]);
    expect((await xdmFailure(broken)).reason).toBe('invalid-metadata');
  });
});

interface BuiltMail {
  messageId: string;
  raw: Buffer;
}

async function composeMail(options: {
  subject: string;
  attachments: Array<{ filename: string; content: Buffer; contentType: string; contentDisposition?: string }>;
  mdn?: boolean;
  from?: string;
}): Promise<BuiltMail> {
  const messageId = `<mail-${++counter}.${Date.now()}@labo-a.mssante.fr>`;
  const raw = await new MailComposer({
    from: { name: 'Dr Martin', address: options.from ?? SENDER },
    to: MAILBOX,
    subject: options.subject,
    messageId,
    text: 'Veuillez trouver ci-joint le compte rendu.',
    headers: options.mdn
      ? { 'Disposition-Notification-To': SENDER, 'Original-Recipient': `rfc822;${MAILBOX}` }
      : {},
    attachments: options.attachments,
  })
    .compile()
    .build();
  return { messageId, raw };
}

/** The handle the tests give the poller: records every call, dedups by content hash as ingestion does. */
class RecordingHandle {
  readonly calls: ReceivedMail[] = [];
  private readonly stored = new Map<string, number>();
  private nextRequestId = 1;
  /** By Message-ID: what to answer instead of processing. */
  readonly behaviour = new Map<string, MailOutcome | Error>();

  readonly handle = async (mail: ReceivedMail): Promise<MailOutcome> => {
    this.calls.push(mail);
    const special = mail.messageId ? this.behaviour.get(mail.messageId) : undefined;
    if (special instanceof Error) throw special;
    if (special) return special;
    const requestIds = mail.attachments.map((attachment) => {
      const hash = createHash('sha256').update(attachment.content).digest('hex');
      let id = this.stored.get(hash);
      if (id === undefined) {
        id = this.nextRequestId++;
        this.stored.set(hash, id);
      }
      return id;
    });
    return { status: 'processed', requestIds };
  };

  callsFor(messageId: string): ReceivedMail[] {
    return this.calls.filter((mail) => mail.messageId === messageId);
  }
}

interface MdnReport {
  mailFrom: string;
  rcptTo: string[];
  subject: string;
  contentType: string;
  reportType: string | undefined;
  human: string;
  fields: Map<string, string>;
  original: Attachment | undefined;
}

async function readMdn(captured: { mailFrom: string; rcptTo: string[]; raw: Buffer }): Promise<MdnReport> {
  const parsed = await simpleParser(captured.raw);
  const contentType = parsed.headers.get('content-type') as { value: string; params: Record<string, string> };
  const notification = parsed.attachments.find(
    (part) => part.contentType === 'message/disposition-notification',
  );
  expect(notification, 'the MDN has a message/disposition-notification part').toBeDefined();
  // The fields are a header block: mailparser reads them (and decodes RFC 2047 words) as headers.
  const fieldBlock = await simpleParser(Buffer.concat([notification!.content, Buffer.from('\r\n')]));
  const fields = new Map<string, string>();
  for (const line of fieldBlock.headerLines) {
    const value = fieldBlock.headers.get(line.key);
    fields.set(
      line.key,
      typeof value === 'string' ? value : String((value as { value?: unknown })?.value ?? value),
    );
  }
  return {
    mailFrom: captured.mailFrom,
    rcptTo: captured.rcptTo,
    subject: parsed.subject ?? '',
    contentType: contentType.value,
    reportType: contentType.params['report-type'],
    human: parsed.text ?? '',
    fields,
    original: parsed.attachments.find((part) => part.contentType === 'message/rfc822'),
  };
}

// A real IMAP server: Debian's dovecot-imapd, which CI installs (and there the tests must run). A
// machine with only Node.js and npm skips them, saying why.
const dovecotMissing = !existsSync(DOVECOT) && !process.env.CI;
describe.skipIf(dovecotMissing)('the MSSanté mailbox poller (needs dovecot-imapd)', () => {
  let imapServer: ImapTestServer;
  let smtp: SmtpSink;
  let client: ImapFlow;
  const pollers: MailboxPoller[] = [];
  const logs: string[] = [];

  beforeAll(async () => {
    imapServer = await startImapServer();
    smtp = await startSmtpSink();
    client = await connectImapClient(imapServer);
  });
  afterEach(async () => {
    await Promise.all(pollers.splice(0).map((poller) => poller.close()));
  });
  afterAll(async () => {
    await client?.logout().catch(() => {});
    await smtp?.close();
    await imapServer?.stop();
  });

  const startPoller = (
    handle: (mail: ReceivedMail) => Promise<MailOutcome>,
    overrides: Partial<MailboxPollerOptions> = {},
  ) => {
    const poller = startMailboxPoller(
      {
        imapUrl: imapServer.url,
        pollIntervalMs: 0,
        smtp: { url: smtp.url },
        from: MAILBOX,
        tls: { rejectUnauthorized: true },
        log: { info: (message) => logs.push(message), warn: (message) => logs.push(message) },
        ...overrides,
      },
      handle,
    );
    pollers.push(poller);
    return poller;
  };

  const append = async (mail: BuiltMail, flags: string[] = []) => {
    await client.append('INBOX', mail.raw, flags);
  };

  /** The Message-IDs in a folder (dovecot's separator here is `.`: the poller must not assume `/`). */
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

  it('gives handle the PDF and the CDA of the IHE_XDM.zip, moves the mail, answers the MDN request', async () => {
    const recorder = new RecordingHandle();
    const poller = startPoller(recorder.handle);
    const pdf = onePagePdf('Ionogramme', 'Camille DUPONT');
    const { zip, cda, uniqueId } = xdmPackage();
    const subject = 'XDM/1.0/DDM+CR d’examens biologiques DUPONT Camille 12/03/1979';
    const mail = await composeMail({
      subject,
      mdn: true,
      attachments: [
        { filename: '20261119_CR biologie_DUPONT_Camille.pdf', content: pdf, contentType: 'application/pdf' },
        { filename: 'IHE_XDM.zip', content: zip, contentType: 'application/zip' },
      ],
    });
    await append(mail);
    const sentBefore = smtp.messages.length;

    const result = await poller.pollOnce();

    expect(result.error).toBeUndefined();
    expect(result.messages).toEqual([
      expect.objectContaining({ messageId: mail.messageId, outcome: 'processed', mdn: 'sent' }),
    ]);
    const [received] = recorder.callsFor(mail.messageId);
    expect(received).toMatchObject({
      messageId: mail.messageId,
      from: SENDER,
      fromName: 'Dr Martin',
      subject,
      dispositionNotificationTo: SENDER,
      notes: [],
    });
    expect(received!.date).toBeInstanceOf(Date);
    expect(
      received!.attachments.map(({ fileName, contentType, source }) => ({ fileName, contentType, source })),
    ).toEqual([
      {
        fileName: '20261119_CR biologie_DUPONT_Camille.pdf',
        contentType: 'application/pdf',
        source: '20261119_CR biologie_DUPONT_Camille.pdf',
      },
      {
        fileName: 'DOC0001.XML',
        contentType: 'text/xml',
        source: 'IHE_XDM.zip!IHE_XDM/SUBSET01/DOC0001.XML',
      },
    ]);
    expect(received!.attachments[0]!.content.equals(pdf)).toBe(true);
    expect(received!.attachments[1]!.content.equals(cda)).toBe(true);
    expect(received!.attachments[1]!.xdm).toMatchObject({ uniqueId, typeCode: '11502-2' });

    expect(await inbox()).toEqual([]);
    expect(await processed()).toContain(mail.messageId);

    expect(smtp.messages).toHaveLength(sentBefore + 1);
    const mdn = await readMdn(smtp.messages.at(-1)!);
    expect(mdn.mailFrom).toBe('');
    expect(mdn.rcptTo).toEqual([SENDER]);
    expect(mdn.contentType).toBe('multipart/report');
    expect(mdn.reportType).toBe('disposition-notification');
    expect(mdn.subject).toBe(subject);
    expect(mdn.fields.get('disposition')).toBe('automatic-action/MDN-sent-automatically; processed');
    expect(mdn.fields.get('original-message-id')).toBe(mail.messageId);
    expect(mdn.fields.get('final-recipient')).toBe(`rfc822;${MAILBOX}`);
    expect(mdn.fields.get('original-recipient')).toBe(`rfc822;${MAILBOX}`);
    expect(mdn.fields.get('reporting-ua')).toBe('hopital-b.mssante.fr; hotpath');
    expect(mdn.fields.has('error')).toBe(false);
    expect(mdn.human).toContain('intégré automatiquement');
    // The original mail travels back whole, attachments included (the CI-SIS MSSanté volet).
    expect(mdn.original).toBeDefined();
    const original = await simpleParser(mdn.original!.content);
    expect(original.messageId).toBe(mail.messageId);
    expect(original.attachments.map((part) => part.filename)).toContain('IHE_XDM.zip');
  });

  it('sends no MDN when none is asked for, and takes seen mail too, oldest first', async () => {
    const recorder = new RecordingHandle();
    const poller = startPoller(recorder.handle);
    const first = await composeMail({
      subject: 'Premier',
      attachments: [{ filename: 'a.pdf', content: onePagePdf('A'), contentType: 'application/pdf' }],
    });
    const second = await composeMail({
      subject: 'Second',
      attachments: [{ filename: 'b.pdf', content: onePagePdf('B'), contentType: 'application/octet-stream' }],
    });
    await append(first, ['\\Seen']);
    await append(second);
    const sentBefore = smtp.messages.length;

    const result = await poller.pollOnce();

    expect(result.messages.map(({ messageId, outcome, mdn }) => ({ messageId, outcome, mdn }))).toEqual([
      { messageId: first.messageId, outcome: 'processed', mdn: 'not-requested' },
      { messageId: second.messageId, outcome: 'processed', mdn: 'not-requested' },
    ]);
    expect(recorder.calls.map((mail) => mail.subject)).toEqual(['Premier', 'Second']);
    // application/octet-stream named .pdf is a PDF.
    expect(recorder.calls[1]!.attachments[0]!.contentType).toBe('application/pdf');
    expect(smtp.messages).toHaveLength(sentBefore);
    expect(await processed()).toEqual(expect.arrayContaining([first.messageId, second.messageId]));
    expect(await inbox()).toEqual([]);
  });

  it('moves a mail handle fails to the failed folder and answers processed/error with the reason', async () => {
    const recorder = new RecordingHandle();
    const poller = startPoller(recorder.handle);
    const mail = await composeMail({
      subject: 'XDM/1.0/DDM+CR DUPONT Camille',
      mdn: true,
      attachments: [{ filename: 'cr.pdf', content: onePagePdf('CR'), contentType: 'application/pdf' }],
    });
    const reason = '902^Identifiant de patient inconnu : aucune identité qualifiée ne correspond à l’INS';
    recorder.behaviour.set(mail.messageId, { status: 'failed', reason, code: '902' });
    await append(mail);

    const result = await poller.pollOnce();

    expect(result.messages).toEqual([
      expect.objectContaining({ messageId: mail.messageId, outcome: 'failed', reason, mdn: 'sent' }),
    ]);
    expect(await failed()).toContain(mail.messageId);
    expect(await inbox()).toEqual([]);
    const mdn = await readMdn(smtp.messages.at(-1)!);
    expect(mdn.subject).toBe('[KO Intégration système !][902] XDM/1.0/DDM+CR DUPONT Camille');
    expect(mdn.fields.get('disposition')).toBe('automatic-action/MDN-sent-automatically; processed/error');
    // Fields are US-ASCII (RFC 8098 §3.1.1): accents dropped there, kept in the human-readable part.
    expect(mdn.fields.get('error')).toBe(
      "902^Identifiant de patient inconnu : aucune identite qualifiee ne correspond a l'INS",
    );
    expect(mdn.fields.get('original-message-id')).toBe(mail.messageId);
    expect(mdn.human).toContain(reason);
  });

  it('fails a mail whose handle throws, and one whose IHE_XDM.zip is no zip, without calling handle', async () => {
    const recorder = new RecordingHandle();
    const poller = startPoller(recorder.handle);
    const throwing = await composeMail({
      subject: 'Throws',
      mdn: true,
      attachments: [{ filename: 'cr.pdf', content: onePagePdf('CR'), contentType: 'application/pdf' }],
    });
    recorder.behaviour.set(throwing.messageId, new Error('the document store refused the file'));
    const notZip = await composeMail({
      subject: 'Not a zip',
      mdn: true,
      attachments: [
        { filename: 'IHE_XDM.zip', content: Buffer.from('garbage'), contentType: 'application/zip' },
      ],
    });
    await append(throwing);
    await append(notZip);
    const sentBefore = smtp.messages.length;

    const result = await poller.pollOnce();

    expect(result.messages.map(({ messageId, outcome }) => ({ messageId, outcome }))).toEqual([
      { messageId: throwing.messageId, outcome: 'failed' },
      { messageId: notZip.messageId, outcome: 'failed' },
    ]);
    expect(recorder.callsFor(notZip.messageId)).toEqual([]);
    expect(await failed()).toEqual(expect.arrayContaining([throwing.messageId, notZip.messageId]));
    const [first, second] = await Promise.all(smtp.messages.slice(sentBefore).map(readMdn));
    expect(first!.fields.get('error')).toBe('the document store refused the file');
    expect(second!.fields.get('error')).toMatch(/^IHE XDM package: the attachment is not a zip file/);
    expect(second!.fields.get('disposition')).toMatch(/processed\/error$/);
  });

  it('gives a mail to handle again after a restart between handle and the move; one MDN', async () => {
    const recorder = new RecordingHandle();
    let dieBeforeMove = true;
    const mail = await composeMail({
      subject: 'Restart',
      mdn: true,
      attachments: [{ filename: 'cr.pdf', content: onePagePdf('Restart'), contentType: 'application/pdf' }],
    });
    await append(mail);
    const sentBefore = smtp.messages.length;
    const outcomes: MailOutcome[] = [];
    const handle = async (received: ReceivedMail) => {
      const outcome = await recorder.handle(received);
      outcomes.push(outcome);
      return outcome;
    };

    const dying = startPoller(handle, {
      beforeMove: () => {
        if (dieBeforeMove) throw new Error('the process died before the move');
      },
    });
    const first = await dying.pollOnce();
    expect(first.error).toBe('the process died before the move');
    expect(await inbox()).toEqual([mail.messageId]);
    expect(smtp.messages).toHaveLength(sentBefore);
    await dying.close();

    dieBeforeMove = false;
    const restarted = startPoller(handle);
    const second = await restarted.pollOnce();

    expect(second.messages).toEqual([
      expect.objectContaining({ messageId: mail.messageId, outcome: 'processed', mdn: 'sent' }),
    ]);
    // handle saw the mail twice, whole both times, and (idempotent) answered the same request ids.
    const calls = recorder.callsFor(mail.messageId);
    expect(calls).toHaveLength(2);
    expect(calls[1]!.attachments[0]!.content.equals(calls[0]!.attachments[0]!.content)).toBe(true);
    expect(outcomes[1]).toEqual(outcomes[0]);
    expect(await inbox()).toEqual([]);
    expect(await processed()).toContain(mail.messageId);
    expect(smtp.messages).toHaveLength(sentBefore + 1);
  });

  it('does not send an MDN twice for a mail marked $MDNSent (died after the MDN, before the move)', async () => {
    const recorder = new RecordingHandle();
    const poller = startPoller(recorder.handle);
    // A first poll with nothing to take: the mailbox stays selected, what arrives next is still seen.
    expect((await poller.pollOnce()).messages).toEqual([]);
    const mail = await composeMail({
      subject: 'Already answered',
      mdn: true,
      attachments: [{ filename: 'cr.pdf', content: onePagePdf('Once'), contentType: 'application/pdf' }],
    });
    await append(mail, ['$MDNSent']);
    const sentBefore = smtp.messages.length;

    const result = await poller.pollOnce();

    expect(result.messages).toEqual([
      expect.objectContaining({ messageId: mail.messageId, outcome: 'processed', mdn: 'already-sent' }),
    ]);
    expect(smtp.messages).toHaveLength(sentBefore);
    expect(await processed()).toContain(mail.messageId);
  });

  it('leaves a mail for the next poll when the MDN cannot be sent, and sends it then', async () => {
    const recorder = new RecordingHandle();
    const closedPort = await freePort();
    const unreachable = startPoller(recorder.handle, { smtp: { url: `smtp://127.0.0.1:${closedPort}` } });
    const mail = await composeMail({
      subject: 'SMTP down',
      mdn: true,
      attachments: [{ filename: 'cr.pdf', content: onePagePdf('SMTP'), contentType: 'application/pdf' }],
    });
    await append(mail);

    const first = await unreachable.pollOnce();
    expect(first.error).toBeDefined();
    expect(await inbox()).toEqual([mail.messageId]);
    await unreachable.close();

    const poller = startPoller(recorder.handle);
    const second = await poller.pollOnce();
    expect(second.messages).toEqual([
      expect.objectContaining({ messageId: mail.messageId, outcome: 'processed', mdn: 'sent' }),
    ]);
    expect(recorder.callsFor(mail.messageId)).toHaveLength(2);
    expect(await inbox()).toEqual([]);
  });

  it('leaves a mail in the mailbox when handle throws RetryLater, and takes it at the next poll', async () => {
    const recorder = new RecordingHandle();
    const poller = startPoller(recorder.handle);
    const mail = await composeMail({
      subject: 'Database down',
      mdn: true,
      attachments: [{ filename: 'cr.pdf', content: onePagePdf('Later'), contentType: 'application/pdf' }],
    });
    recorder.behaviour.set(mail.messageId, new RetryLater('the database is unavailable'));
    await append(mail);
    const sentBefore = smtp.messages.length;

    const first = await poller.pollOnce();
    expect(first.error).toBeUndefined();
    expect(first.messages).toEqual([
      expect.objectContaining({
        messageId: mail.messageId,
        outcome: 'left',
        reason: 'the database is unavailable',
      }),
    ]);
    expect(await inbox()).toEqual([mail.messageId]);
    expect(smtp.messages).toHaveLength(sentBefore);

    recorder.behaviour.delete(mail.messageId);
    const second = await poller.pollOnce();
    expect(second.messages).toEqual([expect.objectContaining({ outcome: 'processed', mdn: 'sent' })]);
    expect(smtp.messages).toHaveLength(sentBefore + 1);
    expect(await inbox()).toEqual([]);
  });

  it('fails a mail that carries no document, without calling handle', async () => {
    const recorder = new RecordingHandle();
    const poller = startPoller(recorder.handle);
    const mail = await composeMail({
      subject: 'Rappelez-moi',
      mdn: true,
      attachments: [
        { filename: 'notes.docx', content: Buffer.from('PK'), contentType: 'application/msword' },
      ],
    });
    await append(mail);

    const result = await poller.pollOnce();

    expect(result.messages).toEqual([
      expect.objectContaining({
        outcome: 'failed',
        reason: 'the message carries no document (PDF, CDA, image or IHE_XDM.zip)',
        mdn: 'sent',
      }),
    ]);
    expect(recorder.calls).toEqual([]);
    expect(await failed()).toContain(mail.messageId);
  });

  it('polls by itself every pollIntervalMs', async () => {
    let resolveHandled: (mail: ReceivedMail) => void = () => {};
    const handled = new Promise<ReceivedMail>((resolve) => {
      resolveHandled = resolve;
    });
    const mail = await composeMail({
      subject: 'Timer',
      attachments: [{ filename: 'cr.pdf', content: onePagePdf('Timer'), contentType: 'application/pdf' }],
    });
    startPoller(
      async (received) => {
        resolveHandled(received);
        return { status: 'processed', requestIds: [] };
      },
      { pollIntervalMs: 100 },
    );
    await append(mail);
    expect((await handled).messageId).toBe(mail.messageId);
  });

  it('takes the documents of a mail forwarded as an attachment', async () => {
    const recorder = new RecordingHandle();
    const poller = startPoller(recorder.handle);
    const pdf = onePagePdf('Transféré');
    const inner = await composeMail({
      subject: 'Original',
      attachments: [{ filename: 'cr.pdf', content: pdf, contentType: 'application/pdf' }],
    });
    const mail = await composeMail({
      subject: 'TR: Original',
      // Disposition `attachment`: mailparser keeps it a message/rfc822 part, which the poller opens.
      attachments: [
        {
          filename: 'original.eml',
          content: inner.raw,
          contentType: 'message/rfc822',
          contentDisposition: 'attachment',
        },
      ],
    });
    await append(mail);

    await poller.pollOnce();

    const [received] = recorder.callsFor(mail.messageId);
    expect(received!.attachments.map(({ source, contentType }) => ({ source, contentType }))).toEqual([
      { source: 'original.eml!cr.pdf', contentType: 'application/pdf' },
    ]);
    expect(received!.attachments[0]!.content.equals(pdf)).toBe(true);
  });

  it('tells handle when an IHE_XDM.zip had no METADATA.XML', async () => {
    const recorder = new RecordingHandle();
    const poller = startPoller(recorder.handle);
    const { zip } = xdmPackage(report(), { metadata: false });
    const mail = await composeMail({
      subject: 'No metadata',
      attachments: [{ filename: 'IHE_XDM.zip', content: zip, contentType: 'application/zip' }],
    });
    await append(mail);

    await poller.pollOnce();

    const [received] = recorder.callsFor(mail.messageId);
    expect(received!.attachments.map((attachment) => attachment.source)).toEqual([
      'IHE_XDM.zip!IHE_XDM/SUBSET01/DOC0001.XML',
    ]);
    expect(received!.notes).toEqual([
      'IHE_XDM.zip has no METADATA.XML: its documents were found by their file extension',
    ]);
  });

  it('survives an IMAP server that is down: logged, no throw, a growing backoff', async () => {
    const port = await freePort();
    const recorder = new RecordingHandle();
    const warnings: string[] = [];
    const poller = startPoller(recorder.handle, {
      imapUrl: `imap://hotpath@127.0.0.1:${port}/INBOX`,
      password: 'unused',
      maxBackoffMs: 3000,
      log: { info: () => {}, warn: (message) => warnings.push(message) },
    });
    const delays: number[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      const result = await poller.pollOnce();
      expect(result.error).toBeDefined();
      expect(result.messages).toEqual([]);
      delays.push(result.retryInMs);
    }
    expect(delays).toEqual([1000, 2000, 3000]);
    expect(warnings).toHaveLength(3);
    expect(warnings[0]).toMatch(/^mailbox hotpath@127\.0\.0\.1: .*next try in 1 s$/);
    expect(recorder.calls).toEqual([]);
  });

  it('reads the password from the option or HOTPATH_IMAP_PASSWORD when the URL has none', async () => {
    const recorder = new RecordingHandle();
    const url = `imap://${imapServer.user}@127.0.0.1:${imapServer.port}/INBOX`;
    const withOption = startPoller(recorder.handle, { imapUrl: url, password: imapServer.password });
    expect((await withOption.pollOnce()).error).toBeUndefined();
    process.env.HOTPATH_IMAP_PASSWORD = imapServer.password;
    try {
      const fromEnvironment = startPoller(recorder.handle, { imapUrl: url });
      expect((await fromEnvironment.pollOnce()).error).toBeUndefined();
    } finally {
      delete process.env.HOTPATH_IMAP_PASSWORD;
    }
    expect(() => startPoller(recorder.handle, { imapUrl: url })).toThrow(/no IMAP password/);
  });
});
