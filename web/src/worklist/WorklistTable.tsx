import { useInfiniteQuery } from '@tanstack/react-query';
import { Link, useChildMatches, useNavigate } from '@tanstack/react-router';
import { type KeyboardEvent, useEffect, useRef } from 'react';
import type { Timing } from '../app/api.ts';
import { formatDay, plural } from '../app/format.ts';
import { Button } from '../app/ui/Button.tsx';
import { Badge } from './Badge.tsx';
import { type Facility, worklistQuery } from './queries.ts';
import { worklistRoute } from './route.tsx';
import { IDENTITY_WORDS, patientName, SOURCE_WORDS, STATUS_WORDS, type WorklistItem } from './words.ts';

const DOCUMENTS = { one: 'document', other: 'documents' };

/** The focus target of a row: its title's link, found again after the rows change. */
export const rowLinkSelector = (id: number) => `a[data-row-link="${id}"]`;

/**
 * The list, newest first, a page at a time ("Show older"). Keyboard: ↑ and ↓ (Home, End) move through the
 * rows, Enter opens one, Escape closes it again (RequestPane); only the current row is in the Tab order.
 */
export function WorklistTable({ facilities }: { facilities: Facility[] }) {
  const search = worklistRoute.useSearch();
  const list = useInfiniteQuery(worklistQuery(search));
  const selectedId = useChildMatches({
    select: (matches) => (matches[0]?.params as { id?: number } | undefined)?.id,
  });
  const body = useRef<HTMLTableSectionElement>(null);
  const navigate = useNavigate();

  const items = list.data?.pages.flatMap((page) => page.data.items) ?? [];
  const timing = list.data?.pages.at(-1)?.timing;
  const several = facilities.length > 1 && !search.facility;
  const facilityName = (id: string) => facilities.find((facility) => facility.id === id)?.name ?? id;
  const activeId = items.some((item) => item.id === selectedId) ? selectedId : items[0]?.id;

  // Show older: keep the keyboard where it was reading, on the first of the new rows.
  const firstOfNewPage = useRef<number | undefined>(undefined);
  useEffect(() => {
    const id = firstOfNewPage.current;
    if (id === undefined || !body.current) return;
    const link = body.current.querySelector<HTMLAnchorElement>(rowLinkSelector(id));
    if (link) {
      firstOfNewPage.current = undefined;
      link.focus();
    }
  });

  if (list.isPending) return <TableSkeleton />;
  if (list.isError && items.length === 0) {
    return (
      <div className="list-problem" role="alert">
        <p>
          <strong>The list could not be loaded.</strong> {list.error.message}
        </p>
        <Button variant="primary" onClick={() => void list.refetch()}>
          Try again
        </Button>
      </div>
    );
  }
  if (items.length === 0) return <EmptyList />;

  const onKeyDown = (event: KeyboardEvent<HTMLAnchorElement>) => {
    const links = [...(body.current?.querySelectorAll<HTMLAnchorElement>('a[data-row-link]') ?? [])];
    const at = links.indexOf(event.currentTarget);
    const to = (index: number) => {
      const link = links[Math.max(0, Math.min(links.length - 1, index))];
      if (!link) return;
      event.preventDefault();
      for (const other of links) other.tabIndex = other === link ? 0 : -1;
      link.focus();
    };
    if (event.key === 'ArrowDown') {
      if (at === links.length - 1 && list.hasNextPage) {
        event.preventDefault();
        loadOlder();
      } else to(at + 1);
    } else if (event.key === 'ArrowUp') to(at - 1);
    else if (event.key === 'Home') to(0);
    else if (event.key === 'End') to(links.length - 1);
  };

  const loadOlder = () => {
    const before = items.length;
    void list.fetchNextPage().then((result) => {
      const fresh = result.data?.pages.flatMap((page) => page.data.items)[before];
      if (fresh) firstOfNewPage.current = fresh.id;
    });
  };

  return (
    <div className="worklist-table">
      <p className="list-summary" role="status">
        {plural(items.length, DOCUMENTS)} shown{list.hasNextPage ? ', newest first; older ones below' : ''}
        {timing ? <TimingWords timing={timing} /> : null}
        {list.isRefetching ? ' · refreshing…' : ''}
      </p>
      <div className="table-frame">
        <table className="table rows-table">
          <caption className="visually-hidden">
            Documents received, newest first. Up and down arrows move through the rows, Enter opens one.
          </caption>
          <thead>
            <tr>
              <th scope="col">Document</th>
              <th scope="col" className="col-patient">
                Patient
              </th>
              <th scope="col" className="col-received">
                Received
              </th>
              <th scope="col" className="col-source">
                Source
              </th>
              <th scope="col" className="col-status">
                Status
              </th>
            </tr>
          </thead>
          <tbody ref={body}>
            {items.map((item) => (
              <Row
                key={item.id}
                item={item}
                selected={item.id === selectedId}
                tabbable={item.id === activeId}
                facility={several ? facilityName(item.facilityId) : undefined}
                onKeyDown={onKeyDown}
                onOpen={() =>
                  void navigate({
                    to: '/worklist/$id',
                    params: { id: item.id },
                    search: (previous) => previous,
                  })
                }
              />
            ))}
          </tbody>
        </table>
      </div>
      <div className="list-foot">
        {list.hasNextPage ? (
          <Button busy={list.isFetchingNextPage} onClick={loadOlder}>
            {list.isFetchingNextPage ? 'Loading older documents…' : 'Show older documents'}
          </Button>
        ) : (
          <p className="muted">That is everything that matches.</p>
        )}
        <Button variant="quiet" busy={list.isRefetching} onClick={() => void list.refetch()}>
          Refresh
        </Button>
        {list.isError ? (
          <p className="field-problem" role="alert">
            Loading failed: {list.error.message}
          </p>
        ) : null}
      </div>
    </div>
  );
}

function Row({
  item,
  selected,
  tabbable,
  facility,
  onKeyDown,
  onOpen,
}: {
  item: WorklistItem;
  selected: boolean;
  tabbable: boolean;
  facility: string | undefined;
  onKeyDown: (event: KeyboardEvent<HTMLAnchorElement>) => void;
  onOpen: () => void;
}) {
  const received = new Date(item.receivedAt);
  // The type, unless the title already says it.
  const label = item.documentType
    ? item.documentType.label || `LOINC ${item.documentType.code}`
    : 'Type not given';
  const type = label === item.title ? '' : label;
  return (
    <tr
      className={selected ? 'row row-selected' : 'row'}
      // A click anywhere on the row opens it; the link is what the keyboard and screen readers use.
      onClick={(event) => {
        if ((event.target as HTMLElement).closest('a')) return;
        onOpen();
      }}
    >
      <th scope="row" className="cell-document">
        <Link
          to="/worklist/$id"
          params={{ id: item.id }}
          search={(previous) => previous}
          data-row-link={item.id}
          tabIndex={tabbable ? 0 : -1}
          aria-current={selected ? 'true' : undefined}
          onKeyDown={onKeyDown}
          className="row-link"
        >
          {item.title}
        </Link>
        <span className="row-patient narrow-only">
          {item.patient ? (
            <>
              <span className="patient-name">{patientName(item.patient)}</span>, born{' '}
              {formatDay(item.patient.birthDate, 'long')}
            </>
          ) : (
            <span className="muted">Patient not identified yet</span>
          )}
        </span>
        <span className="cell-secondary">
          {[
            type,
            item.attachmentCount > 1 ? plural(item.attachmentCount, { one: 'file', other: 'files' }) : '',
          ]
            .filter(Boolean)
            .join(' · ')}
          <span className="narrow-only-inline">
            {type ? ' · ' : ''}
            {SOURCE_WORDS[item.source]} · <ReceivedAt at={received} />
          </span>
        </span>
        {facility ? <span className="cell-secondary">{facility}</span> : null}
        <span className="row-badges narrow-only">
          <StatusBadges item={item} />
        </span>
      </th>
      <td className="cell-patient col-patient">
        {item.patient ? (
          <>
            <span className="patient-name">{patientName(item.patient)}</span>
            <span className="cell-secondary">born {formatDay(item.patient.birthDate, 'long')}</span>
          </>
        ) : (
          <span className="muted">Not identified yet</span>
        )}
      </td>
      <td className="col-received">
        <ReceivedAt at={received} />
      </td>
      <td className="col-source">{SOURCE_WORDS[item.source]}</td>
      <td className="cell-status col-status">
        <StatusBadges item={item} />
      </td>
    </tr>
  );
}

function StatusBadges({ item }: { item: WorklistItem }) {
  const status = STATUS_WORDS[item.status];
  const identity = IDENTITY_WORDS[item.identityCheck];
  return (
    <>
      <Badge tone={status.tone}>{status.label}</Badge>
      {item.identityCheck !== 'ok' && item.status !== 'cancelled' && item.status !== 'rejected' ? (
        <Badge tone={identity.tone} small>
          {identity.label}
        </Badge>
      ) : null}
    </>
  );
}

/** Today's documents by their time, older ones by their day (and time, for a screen reader's title). */
function ReceivedAt({ at }: { at: Date }) {
  const today = new Date().toDateString() === at.toDateString();
  const time = at.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  const day = at.toLocaleDateString(undefined, { day: 'numeric', month: 'short' });
  return (
    <time dateTime={at.toISOString()} title={at.toLocaleString()}>
      {today ? time : `${day}, ${time}`}
    </time>
  );
}

function TimingWords({ timing }: { timing: Timing }) {
  if (timing.queries === undefined) return null;
  return (
    <span className="timing">
      {' '}
      · answered with {plural(timing.queries, { one: 'SQL query', other: 'SQL queries' })}
      {timing.totalMs === undefined ? '' : ` in ${timing.totalMs.toFixed(1)} ms`}
    </span>
  );
}

function TableSkeleton() {
  return (
    <div className="worklist-table" aria-busy="true">
      <p className="list-summary" role="status">
        Loading the documents…
      </p>
      <div className="skeleton-rows" aria-hidden="true">
        {[0, 1, 2, 3, 4, 5].map((row) => (
          <div key={row} className="skeleton-row">
            <span className="skeleton skeleton-wide" />
            <span className="skeleton" />
            <span className="skeleton skeleton-short" />
          </div>
        ))}
      </div>
    </div>
  );
}

function EmptyList() {
  const search = worklistRoute.useSearch();
  const navigate = worklistRoute.useNavigate();
  const filtered = Object.keys(search).length > 0;
  return (
    <div className="list-empty">
      <p>
        <strong>{filtered ? 'No document matches these filters.' : 'No document has arrived yet.'}</strong>
      </p>
      {filtered ? (
        <>
          <p className="muted">Widen the dates, or search fewer words.</p>
          <Button onClick={() => void navigate({ search: {} })}>Clear the filters</Button>
        </>
      ) : (
        <p className="muted">
          Documents appear here as laboratories, imaging centres and mailboxes send them.
        </p>
      )}
    </div>
  );
}
