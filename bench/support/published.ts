import type { Comparison } from './scenario.ts';

export type LatencyMetric = 'mean' | 'p50' | 'p90' | 'p95' | 'p99';

export interface PublishedSide {
  /** Milliseconds, as the write-up states them. */
  latency: Partial<Record<LatencyMetric, number>>;
  /** Counts as the write-up states them ("200+", "6–8"). */
  sql?: string;
  storage?: string;
  external?: string;
}

export interface PublishedTable {
  source: string;
  what: string;
  before: PublishedSide;
  after: PublishedSide;
}

/** The write-ups' before-and-after tables (../shared/seeds), the figures hotpath is held to. */
export const PUBLISHED: Partial<Record<Comparison, PublishedTable>> = {
  documents: {
    source: '000-document-registry',
    what: 'retrieval of the latest approved document, production',
    before: { latency: { p50: 6100, p95: 7800, p99: 9200 }, storage: '6–8' },
    after: { latency: { p50: 42, p95: 58, p99: 71 }, storage: '0' },
  },
  worklist: {
    source: '001-integration-worklist',
    what: 'integration worklist, production average and p90',
    before: { latency: { mean: 1175, p90: 1900 }, sql: '200+', external: 'per item' },
    after: { latency: { mean: 225, p90: 524 }, sql: '<10', external: '1 batch' },
  },
  'dashboard-miss': {
    source: '003-merchant-dashboard',
    what: 'merchant dashboard, cache miss, 100 concurrent users',
    before: { latency: { p50: 2134, p95: 4823, p99: 6102 }, sql: '~3,600' },
    after: { latency: { p50: 78, p95: 142, p99: 234 }, sql: '5' },
  },
  'dashboard-hit': {
    source: '003-merchant-dashboard',
    what: 'merchant dashboard, cache hit, 100 concurrent users',
    before: { latency: { p50: 2134, p95: 4823, p99: 6102 }, sql: '~3,600' },
    after: { latency: { p50: 3, p95: 8, p99: 15 }, sql: '0' },
  },
};
