import * as ToggleGroup from '@radix-ui/react-toggle-group';
import { useQuery } from '@tanstack/react-query';
import { Outlet, useChildMatches } from '@tanstack/react-router';
import { useEffect, useId, useRef, useState } from 'react';
import { formatInteger } from '../app/format.ts';
import { QueryProblem } from '../app/problems.tsx';
import { usePageTitle } from '../app/title.ts';
import { Button } from '../app/ui/Button.tsx';
import { ProblemScreen } from '../app/ui/ProblemScreen.tsx';
import { countsQuery, type Facility, facilitiesQuery, SEARCH_MIN } from './queries.ts';
import { type WorklistSearch, worklistRoute } from './route.tsx';
import { WorklistTable } from './WorklistTable.tsx';
import { DOCUMENT_TYPES, SOURCE_WORDS, SOURCES, STATUS_WORDS, STATUSES, type Status } from './words.ts';
import './worklist.css';

/**
 * The worklist: filters, counts per status and the list, with the request opened beside it (on a
 * phone, instead of it: `/worklist/$id` is a screen of its own there, and the back button closes it).
 */
export function WorklistPage() {
  usePageTitle('Worklist');
  const facilities = useQuery(facilitiesQuery);
  const detailOpen = useChildMatches({ select: (matches) => matches.length > 0 });
  if (facilities.isPending) {
    return (
      <div className="worklist">
        <div className="worklist-head">
          <h1>Worklist</h1>
        </div>
        <p className="loading" role="status">
          Loading your facilities…
        </p>
      </div>
    );
  }
  if (facilities.isError)
    return <QueryProblem error={facilities.error} retry={() => void facilities.refetch()} />;
  const list = facilities.data.data.facilities;
  if (list.length === 0) {
    return (
      <ProblemScreen title="This token sees no facility">
        <p>
          A worklist token names the facilities it may see: ask for one minted with{' '}
          <code>hotpath token create --role reader --facility FAC-0001</code>.
        </p>
      </ProblemScreen>
    );
  }
  return <Worklist facilities={list} detailOpen={detailOpen} />;
}

function Worklist({ facilities, detailOpen }: { facilities: Facility[]; detailOpen: boolean }) {
  const search = worklistRoute.useSearch();
  const navigate = worklistRoute.useNavigate();
  const unknownFacility =
    search.facility !== undefined && !facilities.some((facility) => facility.id === search.facility);
  if (unknownFacility) {
    return (
      <ProblemScreen
        title="This token does not see that facility"
        actions={
          <Button variant="primary" onClick={() => void navigate({ search: {} })}>
            Show every facility it sees
          </Button>
        }
      >
        <p>
          It sees {facilities.map((facility) => facility.id).join(', ')}, not {search.facility}.
        </p>
      </ProblemScreen>
    );
  }
  return (
    <div className={detailOpen ? 'worklist worklist-detail-open' : 'worklist'}>
      <div className="worklist-head">
        <h1>Worklist</h1>
        <p className="page-sub worklist-scope">{scopeWords(search, facilities)}</p>
      </div>
      <div className="worklist-panes">
        <section className="worklist-list" aria-label="Documents">
          <Filters facilities={facilities} />
          <StatusFilter />
          <WorklistTable facilities={facilities} />
        </section>
        <Outlet />
      </div>
    </div>
  );
}

function scopeWords(search: WorklistSearch, facilities: Facility[]): string {
  if (search.facility) return facilities.find((f) => f.id === search.facility)?.name ?? search.facility;
  if (facilities.length === 1) return facilities[0]?.name ?? '';
  return `All ${facilities.length} facilities you see`;
}

/** The filters: each applies as it changes (the search as typing pauses) and goes into the address. */
function Filters({ facilities }: { facilities: Facility[] }) {
  const search = worklistRoute.useSearch();
  const navigate = worklistRoute.useNavigate();
  const ids = {
    facility: useId(),
    source: useId(),
    type: useId(),
    from: useId(),
    to: useId(),
    q: useId(),
    qHint: useId(),
    more: useId(),
  };
  const [open, setOpen] = useState(false);
  const set = (patch: Partial<WorklistSearch>, replace = false) =>
    void navigate({
      search: (previous) => {
        const next: Record<string, unknown> = { ...previous, ...patch };
        for (const key of Object.keys(next))
          if (next[key] === undefined || next[key] === '') delete next[key];
        return next as WorklistSearch;
      },
      replace,
    });

  // The search box applies 300 ms after typing stops; the address (back button, a shared link) sets it.
  const [q, setQ] = useState(search.q ?? '');
  const applied = useRef(search.q ?? '');
  useEffect(() => {
    if ((search.q ?? '') !== applied.current) {
      applied.current = search.q ?? '';
      setQ(search.q ?? '');
    }
  }, [search.q]);
  useEffect(() => {
    const value = q.trim();
    if (value === applied.current) return;
    const timer = window.setTimeout(() => {
      applied.current = value;
      set({ q: value || undefined }, true);
    }, 300);
    return () => window.clearTimeout(timer);
  });
  const tooShort = q.trim().length > 0 && q.trim().length < SEARCH_MIN;
  const extra = [search.source, search.type, search.from, search.to].filter(Boolean).length;
  const anything = extra > 0 || Boolean(search.q) || Boolean(search.facility) || Boolean(search.status);

  return (
    <search aria-label="Filters">
      <form
        className="filters"
        onSubmit={(event) => {
          // Enter in the search box applies it at once.
          event.preventDefault();
          const value = q.trim();
          applied.current = value;
          set({ q: value || undefined }, true);
        }}
      >
        <div className="filters-main">
          <div className="field filter-q">
            <label htmlFor={ids.q}>Search a patient or a title</label>
            <input
              id={ids.q}
              type="search"
              value={q}
              autoComplete="off"
              spellCheck={false}
              placeholder="e.g. dupont"
              aria-describedby={ids.qHint}
              onChange={(event) => setQ(event.target.value)}
            />
            <p id={ids.qHint} className={tooShort ? 'hint hint-warning' : 'hint'} aria-live="polite">
              {tooShort
                ? `Type at least ${SEARCH_MIN} characters: “${q.trim()}” is not searched yet.`
                : 'Names and titles, accents and case ignored.'}
            </p>
          </div>
          {facilities.length > 1 ? (
            <div className="field">
              <label htmlFor={ids.facility}>Facility</label>
              <select
                id={ids.facility}
                value={search.facility ?? ''}
                onChange={(event) => set({ facility: event.target.value || undefined })}
              >
                <option value="">All facilities ({facilities.length})</option>
                {facilities.map((facility) => (
                  <option key={facility.id} value={facility.id}>
                    {facility.name}
                  </option>
                ))}
              </select>
            </div>
          ) : null}
          <button
            type="button"
            className="button button-secondary filters-toggle"
            aria-expanded={open}
            aria-controls={ids.more}
            onClick={() => setOpen(!open)}
          >
            {open ? 'Fewer filters' : `More filters${extra > 0 ? ` (${extra})` : ''}`}
          </button>
        </div>
        <div id={ids.more} className={open ? 'filters-more filters-more-open' : 'filters-more'}>
          <div className="field">
            <label htmlFor={ids.source}>Source</label>
            <select
              id={ids.source}
              value={search.source ?? ''}
              onChange={(event) =>
                set({ source: (event.target.value || undefined) as WorklistSearch['source'] })
              }
            >
              <option value="">Any source</option>
              {SOURCES.map((source) => (
                <option key={source} value={source}>
                  {SOURCE_WORDS[source]}
                </option>
              ))}
            </select>
          </div>
          <div className="field">
            <label htmlFor={ids.type}>Document type</label>
            <select
              id={ids.type}
              value={search.type ?? ''}
              onChange={(event) => set({ type: event.target.value || undefined })}
            >
              <option value="">Any type</option>
              {search.type && !DOCUMENT_TYPES.some((type) => type.code === search.type) ? (
                <option value={search.type}>LOINC {search.type}</option>
              ) : null}
              {DOCUMENT_TYPES.map((type) => (
                <option key={type.code} value={type.code}>
                  {type.label}
                </option>
              ))}
            </select>
          </div>
          <fieldset className="filter-days">
            <legend>Received</legend>
            <div className="field-inline">
              <label htmlFor={ids.from}>from</label>
              <input
                id={ids.from}
                type="date"
                value={search.from ?? ''}
                max={search.to}
                onChange={(event) => set({ from: event.target.value || undefined })}
              />
            </div>
            <div className="field-inline">
              <label htmlFor={ids.to}>to</label>
              <input
                id={ids.to}
                type="date"
                value={search.to ?? ''}
                min={search.from}
                onChange={(event) => set({ to: event.target.value || undefined })}
              />
            </div>
          </fieldset>
        </div>
        {anything ? (
          <div className="filters-clear">
            <Button
              variant="quiet"
              onClick={() => {
                applied.current = '';
                setQ('');
                void navigate({ search: {} });
              }}
            >
              Clear the filters
            </Button>
          </div>
        ) : null}
      </form>
    </search>
  );
}

/** Status as a filter, each with how many requests are in it (for the facility, or every facility). */
function StatusFilter() {
  const search = worklistRoute.useSearch();
  const navigate = worklistRoute.useNavigate();
  const counts = useQuery(countsQuery(search.facility));
  const countOf = (status: Status) => {
    const found = counts.data?.data.counts.find((count) => count.status === status);
    if (!found) return undefined;
    return found.capped ? `${formatInteger(found.count)}+` : formatInteger(found.count);
  };
  return (
    <div className="status-filter">
      <span className="status-filter-label" id="status-filter-label">
        Status
      </span>
      <ToggleGroup.Root
        type="single"
        className="status-chips"
        aria-labelledby="status-filter-label"
        value={search.status ?? 'all'}
        onValueChange={(value) => {
          if (!value) return;
          void navigate({
            search: (previous) => {
              const { status: _drop, ...rest } = previous;
              return value === 'all' ? rest : { ...rest, status: value as Status };
            },
          });
        }}
      >
        <ToggleGroup.Item value="all" className="status-chip">
          All
        </ToggleGroup.Item>
        {STATUSES.map((status) => {
          const count = countOf(status);
          return (
            <ToggleGroup.Item
              key={status}
              value={status}
              className={`status-chip status-chip-${STATUS_WORDS[status].tone}`}
              title={STATUS_WORDS[status].hint}
            >
              <span className={`dot dot-${STATUS_WORDS[status].tone}`} aria-hidden="true" />
              {STATUS_WORDS[status].label}
              {count !== undefined ? <span className="status-chip-count">{count}</span> : null}
            </ToggleGroup.Item>
          );
        })}
      </ToggleGroup.Root>
      {counts.isError ? (
        <span className="hint">
          Counts unavailable.{' '}
          <button type="button" className="link-button" onClick={() => void counts.refetch()}>
            Retry
          </button>
        </span>
      ) : null}
    </div>
  );
}
