import { Readable } from 'node:stream';
import { sql } from 'kysely';
import { onePagePdf } from '../../../platform/pdf.ts';
import { progress } from '../../../platform/progress.ts';
import { seededRandom } from '../../../platform/seeded-random.ts';
import { legacyKey } from '../legacy-layout.ts';
import type { DocumentsDependencies } from '../routes.ts';
import { transitionVersion, uploadVersion, upsertDocument } from '../service.ts';

const STUDIES = [
  { studyId: 'ONC-2024-001', area: 'oncology' },
  { studyId: 'CARD-2023-114', area: 'cardiology' },
  { studyId: 'NEURO-2025-007', area: 'neurology' },
];
const SECTIONS = [
  { sectionId: 'csr-14-1', documentType: 'CSR', title: 'Demographic and baseline characteristics' },
  { sectionId: 'csr-14-2', documentType: 'CSR', title: 'Efficacy evaluation' },
  { sectionId: 'csr-14-3', documentType: 'CSR', title: 'Safety evaluation' },
  { sectionId: 'dsur-2025', documentType: 'DSUR', title: 'Development safety update' },
  { sectionId: 'plps-main', documentType: 'PLPS', title: 'Plain language summary' },
];
const DOCUMENTS_PER_SECTION = 20;
export const DEMO_LEGACY_PREFIX = 'studies/ONC-2024-001/CSR/legacy-11/';
const LEGACY_DOCUMENTS = 60;

/**
 * Loads the demo through the service layer, as real uploads and reviews, so the registry is built the
 * way production builds it; then writes one section in the legacy layout, for `import-bucket`.
 */
export async function loadDocumentsDemo(
  deps: DocumentsDependencies,
  options: { onlyIfAbsent: boolean },
): Promise<boolean> {
  const { db } = deps;
  if (options.onlyIfAbsent) {
    const { rows } = await sql`SELECT 1 FROM studies WHERE study_id = ${STUDIES[0]!.studyId}`.execute(db);
    if (rows.length > 0) return false;
  }
  const random = seededRandom(20241122);
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)] as T;
  const total = STUDIES.length * SECTIONS.length * DOCUMENTS_PER_SECTION;
  const bar = progress('demo documents', total, 'documents');
  const authors = ['a.martin', 'j.chen', 'r.okafor', 's.dubois'];
  const approvers = ['dr.keller', 'dr.nakamura', 'dr.silva'];

  for (const study of STUDIES) {
    for (const section of SECTIONS) {
      for (let n = 1; n <= DOCUMENTS_PER_SECTION; n++) {
        const logicalId = `${study.studyId}-${section.sectionId}-${String(n).padStart(3, '0')}`;
        const title = `${section.title} (${study.area}) part ${n}`;
        await upsertDocument(db, logicalId, {
          studyId: study.studyId,
          sectionId: section.sectionId,
          documentType: section.documentType,
          title,
        });
        const versions = 1 + Math.floor(random() * 6);
        for (let version = 1; version <= versions; version++) {
          const file = onePagePdf(title, `version ${version}`);
          await uploadVersion(db, deps.store, {
            logicalId,
            body: Readable.from([file]),
            contentType: 'application/pdf',
            contentLength: file.length,
            limitBytes: deps.config.uploadLimitBytes,
            uploadedBy: pick(authors),
          });
          const isLatest = version === versions;
          // The first document of each section always ends approved, so every section has an answer.
          const outcome = n === 1 && isLatest ? 0.1 : random();
          if (outcome < 0.6 || (!isLatest && outcome < 0.85)) {
            const approver = pick(approvers);
            await transitionVersion(db, {
              logicalId,
              version,
              action: 'approve',
              actor: approver,
              reason: undefined,
            });
            if (!isLatest && random() < 0.15) {
              await transitionVersion(db, {
                logicalId,
                version,
                action: 'withdraw',
                actor: approver,
                reason: 'superseded after data-cut correction',
              });
            }
          } else if (!isLatest || outcome < 0.8) {
            await transitionVersion(db, {
              logicalId,
              version,
              action: 'reject',
              actor: pick(approvers),
              reason: 'tables 14.2.3 and 14.2.4 disagree',
            });
          }
        }
        bar.advance(1);
      }
    }
  }
  bar.finish();
  await writeLegacySection(deps, random);
  process.stderr.write(
    `demo loaded: ${total} documents in ${STUDIES.length} studies, and ${DEMO_LEGACY_PREFIX} in the legacy layout (adopt it with \`hotpath import-bucket\`)\n`,
  );
  return true;
}

/** One section as the old system kept it: versions named by state, among working files that are not versions. */
async function writeLegacySection(deps: DocumentsDependencies, random: () => number): Promise<void> {
  const bar = progress('demo legacy section', LEGACY_DOCUMENTS, 'documents');
  for (let n = 1; n <= LEGACY_DOCUMENTS; n++) {
    const logicalId = `ONC-2024-001-legacy-11-${String(n).padStart(3, '0')}`;
    const versions = 1 + Math.floor(random() * 4);
    for (let version = 1; version <= versions; version++) {
      const state =
        version === versions && random() < 0.3 ? 'draft' : random() < 0.8 ? 'approved' : 'rejected';
      const file = onePagePdf(`Legacy listing ${n}`, `version ${version}`);
      const key = legacyKey({
        studyId: 'ONC-2024-001',
        documentType: 'CSR',
        sectionId: 'legacy-11',
        logicalId,
        version,
        state,
        extension: 'pdf',
      });
      await deps.store.put(key, Readable.from([file]), { contentType: 'application/pdf' });
    }
    const siblings = [
      `${DEMO_LEGACY_PREFIX}${logicalId}.working-copy.docx`,
      `${DEMO_LEGACY_PREFIX}review-notes/${logicalId}-comments.txt`,
      `${DEMO_LEGACY_PREFIX}attachments/${logicalId}-figure-1.png`,
    ];
    for (const sibling of siblings) {
      await deps.store.put(sibling, Readable.from([Buffer.from(`not a version: ${sibling}\n`)]), {
        contentType: 'application/octet-stream',
      });
    }
    bar.advance(1);
  }
  bar.finish();
}
