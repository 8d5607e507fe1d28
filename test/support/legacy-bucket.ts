import { Readable } from 'node:stream';
import { seededRandom } from '../../src/platform/seeded-random.ts';
import type { ObjectStore } from '../../src/platform/storage/object-store.ts';

/**
 * Writes a bucket in the legacy layout,
 *
 *   studies/{studyId}/{documentType}/{sectionId}/{logicalId}@{version}.{state}[.{extension}]
 *
 * deterministically from a seed, and returns the model of what it wrote. The model is built from the
 * generator's own decisions (which versions it made, in which states, under which names), never by
 * parsing keys, so it can judge the code that does parse them.
 *
 * What makes the bucket awkward, on purpose: versions are not zero-padded (doc@10 sorts before doc@2),
 * version numbers have gaps, an approval sometimes left the draft's object behind (one version, two
 * names), some documents have nothing approved, some ids are prefixes of others (doc-1, doc-10), and
 * about twice as many keys as there are versions are siblings that are not versions at all.
 */

export type LegacyState = 'draft' | 'approved' | 'rejected';

export interface ModelVersionName {
  version: number;
  state: LegacyState;
  key: string;
  sizeBytes: number;
}

export interface ModelDocument {
  logicalId: string;
  studyId: string;
  documentType: string;
  sectionId: string;
  prefix: string;
  /** The extension every name of this document carries, if any. */
  extension: string | undefined;
  /** Every version name written, in the order written. */
  names: ModelVersionName[];
  /** Distinct version numbers, ascending. */
  versions: number[];
  /** The newest version with an approved name: what "latest approved" must answer, or undefined. */
  approved: ModelVersionName | undefined;
  /** Every approved version, ascending. */
  approvedVersions: number[];
}

export interface ModelSection {
  studyId: string;
  documentType: string;
  sectionId: string;
  prefix: string;
  /** Every key under the prefix, versions and siblings (sub-folders included): what a listing returns. */
  keys: number;
  /** List pages of 1,000 keys a listing of the prefix takes. */
  pages: number;
}

export interface LegacyBucketModel {
  documents: Map<string, ModelDocument>;
  sections: ModelSection[];
  /** Keys written under `studies/`. */
  keys: number;
  /** Keys that are version names. */
  versionKeys: number;
  /** Keys under `studies/` that are not version names. */
  siblingKeys: number;
  /** Distinct (document, version) pairs: a version with two names counts once. */
  distinctVersions: number;
  /** Versions written under two names (approved, with the draft left behind). */
  doubleNamed: number;
  /** Keys written outside `studies/`, which an import of `studies/` must not list. */
  outsideKeys: number;
}

export interface SectionSpec {
  studyId: string;
  documentType: string;
  sectionId: string;
  /** Short tag for logical ids, unique across sections. */
  tag: string;
  documents: number;
}

/** Six sections in three studies; the first holds enough keys to need two list pages. */
export const DEFAULT_SECTIONS: SectionSpec[] = [
  { studyId: 'ST-001', documentType: 'CSR', sectionId: 'sec-14.2', tag: 'a', documents: 130 },
  { studyId: 'ST-001', documentType: 'CSR', sectionId: 'sec-16.1', tag: 'b', documents: 30 },
  { studyId: 'ST-001', documentType: 'DSUR', sectionId: 'annual_2023', tag: 'c', documents: 25 },
  // The same section id in another study is another section.
  { studyId: 'ST-002', documentType: 'CSR', sectionId: 'sec-14.2', tag: 'd', documents: 30 },
  { studyId: 'ST-002', documentType: 'IB', sectionId: 'IB.v3', tag: 'e', documents: 20 },
  { studyId: 'ST.003', documentType: 'PROTOCOL', sectionId: 'amendments', tag: 'f', documents: 15 },
];

const EXTENSIONS = ['pdf', 'pdf', 'pdf', 'docx', 'xml', 'PDF', undefined] as const;
const PAGE_SIZE = 1000;

export async function writeLegacyBucket(
  store: ObjectStore,
  options: { seed: number; sections?: SectionSpec[]; concurrency?: number } = { seed: 1 },
): Promise<LegacyBucketModel> {
  const random = seededRandom(options.seed);
  const int = (min: number, max: number) => min + Math.floor(random() * (max - min + 1));
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;

  const objects = new Map<string, number>();
  const put = (key: string, sizeBytes: number) => {
    if (objects.has(key)) throw new Error(`generator wrote ${key} twice`);
    objects.set(key, sizeBytes);
  };

  const documents = new Map<string, ModelDocument>();
  const sections: ModelSection[] = [];
  let versionKeys = 0;
  let siblingKeys = 0;
  let distinctVersions = 0;
  let doubleNamed = 0;

  for (const spec of options.sections ?? DEFAULT_SECTIONS) {
    const prefix = `studies/${spec.studyId}/${spec.documentType}/${spec.sectionId}/`;
    let sectionKeys = 0;
    // Two of the section's files that belong to no document.
    for (const name of ['.DS_Store', 'index.xlsx']) {
      put(`${prefix}${name}`, int(10, 500));
      sectionKeys += 1;
      siblingKeys += 1;
    }
    for (let n = 1; n <= spec.documents; n++) {
      // Not zero-padded, so doc-1 is a prefix of doc-10; some ids carry dots, underscores and capitals.
      const logicalId =
        n % 9 === 0 ? `${spec.tag}-Memo_${n}` : n % 7 === 0 ? `${spec.tag}-doc.${n}` : `${spec.tag}-doc-${n}`;
      // Mostly a few versions; some run past 10, where names stop sorting by version.
      const highest = random() < 0.7 ? int(1, 4) : int(5, 14);
      const versions: number[] = [];
      for (let version = 1; version <= highest; version++) {
        if (version === highest || random() < 0.72) versions.push(version);
      }
      const nothingApproved = random() < 0.15;
      const extension = pick(EXTENSIONS);
      const names: ModelVersionName[] = [];
      for (const version of versions) {
        const roll = random();
        const state: LegacyState = nothingApproved
          ? roll < 0.7
            ? 'draft'
            : 'rejected'
          : roll < 0.5
            ? 'approved'
            : roll < 0.62
              ? 'rejected'
              : 'draft';
        const nameOf = (s: LegacyState) =>
          `${prefix}${logicalId}@${version}.${s}${extension ? `.${extension}` : ''}`;
        const sizeBytes = int(1, 4096);
        names.push({ version, state, key: nameOf(state), sizeBytes });
        // The legacy approval copied the draft to its approved name and left the draft behind.
        if (state === 'approved' && random() < 0.3) {
          names.push({ version, state: 'draft', key: nameOf('draft'), sizeBytes: int(1, 4096) });
          doubleNamed += 1;
        }
      }
      for (const name of names) put(name.key, name.sizeBytes);
      versionKeys += names.length;
      sectionKeys += names.length;
      distinctVersions += versions.length;

      const approvedVersions = names.filter((name) => name.state === 'approved').map((name) => name.version);
      const newest = Math.max(0, ...approvedVersions);
      documents.set(logicalId, {
        logicalId,
        studyId: spec.studyId,
        documentType: spec.documentType,
        sectionId: spec.sectionId,
        prefix,
        extension,
        names,
        versions,
        approved: names.find((name) => name.state === 'approved' && name.version === newest),
        approvedVersions,
      });

      // About two siblings per version name, none of them a version by the layout's definition.
      const above = highest + 1;
      const siblings = (k: number): string[] => [
        `${prefix}${logicalId}.working-copy-${k}.docx`,
        `${prefix}~$${logicalId}-${k}.docx`,
        `${prefix}review-notes/${logicalId}-${k}.txt`,
        `${prefix}attachments/${logicalId}-figure-${k}.png`,
        `${prefix}${logicalId}@x${k}.approved`,
        `${prefix}${logicalId}@${above + k}.final.pdf`,
        `${prefix}${logicalId}@${above + k}.approved.pdf.bak`,
        // A version name, but in a sub-folder: not a version of this section.
        `${prefix}archive/${logicalId}@${above + k}.approved.pdf`,
      ];
      for (let k = 0; k < 2 * names.length; k++) {
        put(pick(siblings(k)), int(0, 2048));
        sectionKeys += 1;
        siblingKeys += 1;
      }
    }
    sections.push({
      studyId: spec.studyId,
      documentType: spec.documentType,
      sectionId: spec.sectionId,
      prefix,
      keys: sectionKeys,
      pages: Math.max(1, Math.ceil(sectionKeys / PAGE_SIZE)),
    });
  }

  // Keys outside the imported prefix.
  const outside = ['exports/2023/ST-001.zip', 'tmp/a-doc-1@1.approved.pdf', 'studies-old/README.txt'];
  for (const key of outside) put(key, 100);

  const entries = [...objects];
  let next = 0;
  const workers = Array.from({ length: options.concurrency ?? 16 }, async () => {
    while (next < entries.length) {
      const [key, sizeBytes] = entries[next++]!;
      await store.put(key, Readable.from([bytes(key, sizeBytes)]), {
        contentType: 'application/octet-stream',
        contentLength: sizeBytes,
      });
    }
  });
  await Promise.all(workers);

  return {
    documents,
    sections,
    keys: versionKeys + siblingKeys,
    versionKeys,
    siblingKeys,
    distinctVersions,
    doubleNamed,
    outsideKeys: outside.length,
  };
}

/** Bytes of exactly this size, different per key. */
function bytes(key: string, sizeBytes: number): Buffer {
  const buffer = Buffer.alloc(sizeBytes);
  buffer.write(key.repeat(Math.ceil(sizeBytes / Math.max(key.length, 1))).slice(0, sizeBytes));
  return buffer;
}
