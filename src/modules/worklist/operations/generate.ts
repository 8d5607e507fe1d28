import { type Kysely, sql } from 'kysely';
import type { DB } from '../../../tables.ts';
import { generateWorklistDataset, progressBars, type WorklistDatasetResult } from './dataset.ts';

export interface LargeWorklistOptions {
  facilities: number;
  requests: number;
  patientsPerFacility: number;
  days: number;
  seed: number;
  /** Add to a database that already has worklist data (new facilities, numbered after the last). */
  append: boolean;
  fhirBaseUrl?: string | null;
  showProgress: boolean;
}

export class WorklistNotEmptyError extends Error {
  constructor(facilities: number, requests: number) {
    super(
      `the database already has worklist data (${facilities} facilities, ${requests} requests); pass --append to add to it`,
    );
    this.name = 'WorklistNotEmptyError';
  }
}

/**
 * The benchmark-scale worklist (800 facilities, a million requests by default), with progress on
 * stderr. Refuses a database that already has worklist data unless told to append, so a second run
 * cannot silently double a benchmark's data.
 */
export async function generateLargeWorklist(
  db: Kysely<DB>,
  options: LargeWorklistOptions,
): Promise<WorklistDatasetResult & { requestsPerSecond: number }> {
  if (!options.append) {
    const { rows } = await sql<{ facilities: number; requests: number }>`
      SELECT (SELECT count(*) FROM facilities)::int AS facilities,
             (SELECT count(*) FROM integration_requests)::int AS requests`.execute(db);
    const existing = rows[0] ?? { facilities: 0, requests: 0 };
    if (existing.facilities > 0 || existing.requests > 0) {
      throw new WorklistNotEmptyError(existing.facilities, existing.requests);
    }
  }
  const result = await generateWorklistDataset(db, {
    facilities: options.facilities,
    patientsPerFacility: options.patientsPerFacility,
    requests: options.requests,
    days: options.days,
    seed: options.seed,
    fhirBaseUrl: options.fhirBaseUrl ?? null,
    // Two chunks at once: each statement keeps one PostgreSQL core busy (measured on two cores).
    parallelism: 2,
    onProgress: options.showProgress ? progressBars('worklist') : undefined,
  });
  return { ...result, requestsPerSecond: Math.round(result.requests / Math.max(result.seconds, 0.001)) };
}
