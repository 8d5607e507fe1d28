import { createRoute } from '@tanstack/react-router';
import { requireSignIn } from '../app/guard.ts';
import { rootRoute } from '../app/root.tsx';
import { RequestPane } from './RequestPane.tsx';
import { WorklistPage } from './WorklistPage.tsx';
import { SOURCES, type Source, STATUSES, type Status } from './words.ts';

/** The worklist's filters, kept in the address: a link shares them, the back button undoes them. */
export interface WorklistSearch {
  /** One facility; absent, every facility the token sees. */
  facility?: string;
  status?: Status;
  source?: Source;
  /** A LOINC document type. */
  type?: string;
  /** Received on or after this day (YYYY-MM-DD, the reader's day). */
  from?: string;
  /** Received on or before this day. */
  to?: string;
  /** Patient names and titles; searched from 3 characters. */
  q?: string;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const text = (value: unknown) => (typeof value === 'string' && value.trim() ? value.trim() : undefined);

export function worklistSearchOf(search: Record<string, unknown>): WorklistSearch {
  const facility = text(search.facility);
  const status = STATUSES.find((one) => one === search.status);
  const source = SOURCES.find((one) => one === search.source);
  const type = text(search.type);
  const from = text(search.from);
  const to = text(search.to);
  const q = text(search.q)?.slice(0, 100);
  return {
    ...(facility && /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(facility) ? { facility } : {}),
    ...(status ? { status } : {}),
    ...(source ? { source } : {}),
    ...(type && /^\d{1,7}-\d$/.test(type) ? { type } : {}),
    ...(from && DAY.test(from) ? { from } : {}),
    ...(to && DAY.test(to) ? { to } : {}),
    ...(q ? { q } : {}),
  };
}

export const worklistRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/worklist',
  validateSearch: worklistSearchOf,
  beforeLoad: requireSignIn,
  component: WorklistPage,
});

/** One request beside the list (on a phone, a screen of its own): `/worklist/48213?…filters`. */
export const requestRoute = createRoute({
  getParentRoute: () => worklistRoute,
  path: '$id',
  params: {
    parse: (params: { id: string }) => ({ id: Number(params.id) }),
    stringify: (params: { id: number }) => ({ id: String(params.id) }),
  },
  component: RequestPane,
});
