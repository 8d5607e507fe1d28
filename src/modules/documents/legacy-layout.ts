import type { ListedObject, ObjectStore } from '../../platform/storage/object-store.ts';

/**
 * The bucket layout hotpath replaces: every version of every document of a section under one prefix,
 *
 *   studies/{studyId}/{documentType}/{sectionId}/{logicalId}@{version}.{state}[.{extension}]
 *
 * with state draft, approved or rejected, among siblings that are not versions at all (working copies,
 * review notes, attachments) and do not parse.
 */
export type LegacyState = 'draft' | 'approved' | 'rejected';

export interface LegacyVersionKey {
  key: string;
  studyId: string;
  documentType: string;
  sectionId: string;
  logicalId: string;
  version: number;
  state: LegacyState;
  extension: string | undefined;
}

const LEGACY_KEY =
  /^studies\/(?<studyId>[A-Za-z0-9][A-Za-z0-9._-]{0,63})\/(?<documentType>[A-Z][A-Z0-9_]{1,31})\/(?<sectionId>[A-Za-z0-9][A-Za-z0-9._-]{0,63})\/(?<logicalId>[A-Za-z0-9][A-Za-z0-9._-]{0,127})@(?<version>[1-9]\d{0,8})\.(?<state>draft|approved|rejected)(?:\.(?<extension>[A-Za-z0-9]{1,16}))?$/;

export function parseLegacyKey(key: string): LegacyVersionKey | undefined {
  const groups = LEGACY_KEY.exec(key)?.groups;
  if (!groups) return undefined;
  return {
    key,
    studyId: groups.studyId!,
    documentType: groups.documentType!,
    sectionId: groups.sectionId!,
    logicalId: groups.logicalId!,
    version: Number(groups.version),
    state: groups.state as LegacyState,
    extension: groups.extension,
  };
}

export function legacySectionPrefix(studyId: string, documentType: string, sectionId: string): string {
  return `studies/${studyId}/${documentType}/${sectionId}/`;
}

export function legacyKey(
  input: Omit<LegacyVersionKey, 'key' | 'extension'> & { extension?: string | undefined },
): string {
  const name = `${input.logicalId}@${input.version}.${input.state}${input.extension ? `.${input.extension}` : ''}`;
  return `${legacySectionPrefix(input.studyId, input.documentType, input.sectionId)}${name}`;
}

/** Every object under a prefix, a page (one request) at a time. */
export async function* listPages(store: ObjectStore, prefix: string): AsyncGenerator<ListedObject[]> {
  let continuationToken: string | undefined;
  do {
    const page = await store.listPage(prefix, continuationToken ? { continuationToken } : {});
    yield page.objects;
    continuationToken = page.nextContinuationToken;
  } while (continuationToken);
}

export interface ListingAnswer {
  key: string;
  version: number;
  sizeBytes: number;
}

/**
 * The old read path: list the whole section prefix, page by page, and keep each document's newest
 * approved name. Versions are not zero-padded, so names do not sort by version and every page must be
 * read. Returns the answer for every document in the section, and how many pages it took.
 */
export async function latestApprovedByListing(
  store: ObjectStore,
  prefix: string,
): Promise<{ answers: Map<string, ListingAnswer>; pages: number }> {
  const answers = new Map<string, ListingAnswer>();
  let pages = 0;
  for await (const objects of listPages(store, prefix)) {
    pages += 1;
    for (const object of objects) {
      const parsed = parseLegacyKey(object.key);
      if (parsed?.state !== 'approved' || !object.key.startsWith(prefix)) continue;
      const best = answers.get(parsed.logicalId);
      if (!best || parsed.version > best.version) {
        answers.set(parsed.logicalId, {
          key: object.key,
          version: parsed.version,
          sizeBytes: object.sizeBytes,
        });
      }
    }
  }
  return { answers, pages };
}
