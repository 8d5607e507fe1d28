import * as Tabs from '@radix-ui/react-tabs';
import * as ToggleGroup from '@radix-ui/react-toggle-group';
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link } from '@tanstack/react-router';
import { type ReactNode, useEffect, useId, useState } from 'react';
import type { Timing } from '../app/api.ts';
import { formatAge, formatDay, formatInteger, formatTime, moneyFormatter, plural } from '../app/format.ts';
import { QueryProblem, useSignInAgain } from '../app/problems.tsx';
import { readClaims, useToken } from '../app/session.ts';
import { usePageTitle } from '../app/title.ts';
import { Button } from '../app/ui/Button.tsx';
import { Card } from '../app/ui/Card.tsx';
import { DataTable } from '../app/ui/DataTable.tsx';
import { ProblemScreen } from '../app/ui/ProblemScreen.tsx';
import {
  type DailySales,
  type Dashboard,
  dailySalesQuery,
  dashboardQuery,
  fetchDailySales,
  fetchDashboard,
  type Merchant,
  merchantsQuery,
} from './queries.ts';
import { CHART_WINDOWS, type ChartWindow, dashboardRoute } from './route.tsx';
import { SalesChart } from './SalesChart.tsx';

const ORDERS = { one: 'order', other: 'orders' };
const PRODUCTS = { one: 'product', other: 'products' };
const REVIEWS = { one: 'review', other: 'reviews' };

/** A merchant's dashboard: the token's merchants first, then the one in the address (or the first). */
export function DashboardPage() {
  const search = dashboardRoute.useSearch();
  const merchants = useQuery(merchantsQuery);
  if (merchants.isPending) return <Loading title="Dashboard">Loading your merchants…</Loading>;
  if (merchants.isError)
    return <QueryProblem error={merchants.error} retry={() => void merchants.refetch()} />;
  const list = merchants.data.data.merchants;
  const first = list[0];
  if (!first) return <NoMerchant />;
  const merchant = search.merchant === undefined ? first : list.find((one) => one.id === search.merchant);
  if (!merchant) {
    return (
      <ProblemScreen
        title="This token does not see that merchant"
        actions={
          <Link to="/dashboard" className="button button-primary">
            Show {first.name}
          </Link>
        }
      >
        <p>
          It sees {list.map((one) => one.id).join(', ')}, not {search.merchant}.
        </p>
      </ProblemScreen>
    );
  }
  return <MerchantDashboard merchants={list} merchant={merchant} days={search.days ?? 30} />;
}

function MerchantDashboard({
  merchants,
  merchant,
  days,
}: {
  merchants: Merchant[];
  merchant: Merchant;
  days: ChartWindow;
}) {
  usePageTitle(`Dashboard · ${merchant.name}`);
  const navigate = dashboardRoute.useNavigate();
  const queryClient = useQueryClient();
  const dashboard = useQuery(dashboardQuery(merchant.id));
  const sales = useQuery({ ...dailySalesQuery(merchant.id, days), placeholderData: keepPreviousData });
  const refresh = useMutation({
    mutationFn: () =>
      Promise.all([fetchDashboard(merchant.id, true), fetchDailySales(merchant.id, days, true)]),
    onSuccess: ([fresh, freshSales]) => {
      queryClient.setQueryData(dashboardQuery(merchant.id).queryKey, fresh);
      queryClient.setQueryData(dailySalesQuery(merchant.id, days).queryKey, freshSales);
    },
  });
  const merchantFieldId = useId();

  if (dashboard.isError)
    return <QueryProblem error={dashboard.error} retry={() => void dashboard.refetch()} />;
  return (
    <div className="dashboard">
      <div className="page-head">
        <div>
          <h1>{merchant.name}</h1>
          <p className="page-sub">
            {merchant.id} · {merchant.timeZone} · {merchant.currency}
          </p>
        </div>
        <div className="toolbar">
          {merchants.length > 1 ? (
            <div className="field-inline">
              <label htmlFor={merchantFieldId}>Merchant</label>
              <select
                id={merchantFieldId}
                value={merchant.id}
                onChange={(event) =>
                  void navigate({ search: (previous) => ({ ...previous, merchant: event.target.value }) })
                }
              >
                {merchants.map((one) => (
                  <option key={one.id} value={one.id}>
                    {one.name}
                  </option>
                ))}
              </select>
            </div>
          ) : null}
          <Button
            variant="primary"
            busy={refresh.isPending}
            onClick={() => refresh.mutate()}
            disabled={dashboard.isPending}
          >
            {refresh.isPending ? 'Refreshing…' : 'Refresh'}
          </Button>
        </div>
      </div>
      <Computed
        dashboard={dashboard.data?.data}
        timing={dashboard.data?.timing}
        failed={refresh.isError ? refresh.error : undefined}
      />
      {dashboard.isPending ? (
        <Loading>Loading the dashboard…</Loading>
      ) : (
        <Figures dashboard={dashboard.data.data} sales={sales.data?.data} />
      )}
      <SalesCard
        merchant={merchant}
        days={days}
        sales={sales.data?.data}
        error={sales.isError ? sales.error : undefined}
        loading={sales.isPlaceholderData || sales.isPending}
        onDays={(next) =>
          void navigate({ search: (previous) => ({ ...previous, days: next === 30 ? undefined : next }) })
        }
      />
      {dashboard.isPending ? null : <Lists dashboard={dashboard.data.data} />}
    </div>
  );
}

/** When the figures were computed, and what that cost the server, said again after each refresh. */
function Computed({
  dashboard,
  timing,
  failed,
}: {
  dashboard: Dashboard | undefined;
  timing: Timing | undefined;
  failed: Error | undefined;
}) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const ticker = window.setInterval(() => setNow(Date.now()), 15_000);
    return () => window.clearInterval(ticker);
  }, []);
  if (!dashboard) return <p className="computed" />;
  const computedAt = new Date(dashboard.computedAt);
  const cost =
    timing?.queries === undefined
      ? ''
      : ` · ${timing.cache === 'hit' ? 'from the cache' : 'computed for this request'}, ${plural(timing.queries, { one: 'SQL statement', other: 'SQL statements' })}${timing.totalMs === undefined ? '' : `, ${timing.totalMs.toFixed(1)} ms`}`;
  // Read out when the figures change (a refresh), not each time their age ticks on.
  return (
    <p className="computed">
      <span role="status">
        {failed ? <span className="computed-problem">Refresh failed ({failed.message}). </span> : null}
        Figures computed at <time dateTime={dashboard.computedAt}>{formatTime(computedAt)}</time>
      </span>{' '}
      ({formatAge(computedAt, Math.max(now, Date.now()))}){cost}
    </p>
  );
}

function Figures({ dashboard, sales }: { dashboard: Dashboard; sales: DailySales | undefined }) {
  const money = moneyFormatter(dashboard.merchant.currency);
  const windowRevenue = sales?.days.reduce((sum, day) => sum + day.revenue, 0);
  const windowOrders = sales?.days.reduce((sum, day) => sum + day.orders, 0);
  return (
    <dl className="figures">
      <Figure label="Revenue, all time" value={money(dashboard.totalRevenue)}>
        {plural(dashboard.totalOrders, ORDERS)}
      </Figure>
      <Figure label={`Today, ${formatDay(dashboard.today, 'weekday')}`} value={money(dashboard.todayRevenue)}>
        {plural(dashboard.todayOrders, ORDERS)}
      </Figure>
      {sales && windowRevenue !== undefined && windowOrders !== undefined ? (
        <Figure label={`Last ${sales.days.length} days`} value={money(windowRevenue)}>
          {plural(windowOrders, ORDERS)}
        </Figure>
      ) : null}
      <Figure
        label="Average order"
        value={
          dashboard.totalOrders === 0
            ? '—'
            : money(Math.round(dashboard.totalRevenue / dashboard.totalOrders))
        }
      >
        all time
      </Figure>
      <Figure label="Low stock" value={plural(dashboard.lowStock.length, PRODUCTS)}>
        below their reorder threshold
      </Figure>
    </dl>
  );
}

function Figure({ label, value, children }: { label: string; value: string; children: ReactNode }) {
  return (
    <div className="figure">
      <dt>{label}</dt>
      <dd className="figure-value">{value}</dd>
      <dd className="figure-detail">{children}</dd>
    </div>
  );
}

function SalesCard({
  merchant,
  days,
  sales,
  error,
  loading,
  onDays,
}: {
  merchant: Merchant;
  days: ChartWindow;
  sales: DailySales | undefined;
  error: Error | undefined;
  loading: boolean;
  onDays: (days: ChartWindow) => void;
}) {
  const titleId = useId();
  const money = moneyFormatter(merchant.currency);
  return (
    <Card
      className="card-wide"
      title="Revenue and orders per day"
      titleId={titleId}
      actions={
        <ToggleGroup.Root
          type="single"
          className="segmented"
          value={String(days)}
          onValueChange={(value) => {
            if (value) onDays(Number(value) as ChartWindow);
          }}
          aria-label="Period"
        >
          {CHART_WINDOWS.map((window) => (
            <ToggleGroup.Item key={window} value={String(window)} className="segmented-item">
              {window} days
            </ToggleGroup.Item>
          ))}
        </ToggleGroup.Root>
      }
    >
      {error ? (
        <p className="field-problem" role="alert">
          The sales per day could not be loaded: {error.message}
        </p>
      ) : !sales ? (
        <Loading>Loading the sales per day…</Loading>
      ) : (
        <div aria-busy={loading || undefined} className={loading ? 'is-loading' : undefined}>
          <p className="card-sub">
            {formatDay(sales.from, 'long')} to {formatDay(sales.to, 'long')}, days as {merchant.timeZone}{' '}
            counts them
          </p>
          <Tabs.Root defaultValue="chart" className="tabs">
            <Tabs.List className="tabs-list" aria-label="Show the sales per day as">
              <Tabs.Trigger value="chart" className="tabs-trigger">
                Chart
              </Tabs.Trigger>
              <Tabs.Trigger value="table" className="tabs-trigger">
                Table
              </Tabs.Trigger>
            </Tabs.List>
            <Tabs.Content value="chart" className="tabs-content">
              <SalesChart days={sales.days} currency={merchant.currency} timeZone={merchant.timeZone} />
              <p className="chart-legend" aria-hidden="true">
                <span className="swatch swatch-revenue" /> Revenue <span className="swatch swatch-orders" />{' '}
                Orders
              </p>
            </Tabs.Content>
            <Tabs.Content value="table" className="tabs-content">
              <DataTable
                caption={`Revenue and orders per day, ${formatDay(sales.from)} to ${formatDay(sales.to)}`}
                captionHidden
                columns={[
                  { header: 'Day', cell: (day) => formatDay(day.date, 'weekday') },
                  { header: 'Orders', cell: (day) => formatInteger(day.orders), numeric: true },
                  { header: 'Revenue', cell: (day) => money(day.revenue), numeric: true },
                ]}
                rows={[...sales.days].reverse()}
                rowKey={(day) => day.date}
                scrolls
              />
            </Tabs.Content>
          </Tabs.Root>
        </div>
      )}
    </Card>
  );
}

function Lists({ dashboard }: { dashboard: Dashboard }) {
  const money = moneyFormatter(dashboard.merchant.currency);
  const ids = { products: useId(), customers: useId(), low: useId() };
  return (
    <div className="panels">
      <Card title="Top products" titleId={ids.products}>
        {dashboard.topProducts.length === 0 ? (
          <p className="empty">No products yet.</p>
        ) : (
          <DataTable
            caption={`The ${plural(dashboard.topProducts.length, PRODUCTS)} with the most revenue`}
            captionHidden
            columns={[
              { header: 'Product', cell: (product) => product.name },
              { header: 'Sold', cell: (product) => formatInteger(product.unitsSold), numeric: true },
              { header: 'Revenue', cell: (product) => money(product.revenue), numeric: true },
              {
                header: 'Rating',
                numeric: true,
                cell: (product) =>
                  product.averageRating === null ? (
                    <span className="muted">none</span>
                  ) : (
                    <span title={plural(product.reviewCount, REVIEWS)}>
                      {product.averageRating.toFixed(1)}
                      <span className="muted"> ({formatInteger(product.reviewCount)})</span>
                    </span>
                  ),
              },
            ]}
            rows={dashboard.topProducts}
            rowKey={(product) => product.id}
          />
        )}
      </Card>
      <Card title="Top customers" titleId={ids.customers}>
        {dashboard.topCustomers.length === 0 ? (
          <p className="empty">No customers have ordered yet.</p>
        ) : (
          <DataTable
            caption="The customers who spent the most"
            captionHidden
            columns={[
              { header: 'Customer', cell: (customer) => customer.name },
              { header: 'Orders', cell: (customer) => formatInteger(customer.orderCount), numeric: true },
              { header: 'Spent', cell: (customer) => money(customer.totalSpent), numeric: true },
            ]}
            rows={dashboard.topCustomers}
            rowKey={(customer) => customer.id}
          />
        )}
      </Card>
      <Card title="Low stock" titleId={ids.low} className="card-compact">
        {dashboard.lowStock.length === 0 ? (
          <p className="empty">Nothing is below its reorder threshold.</p>
        ) : (
          <DataTable
            caption="Products below their reorder threshold, lowest stock first"
            captionHidden
            columns={[
              { header: 'Product', cell: (product) => product.name },
              { header: 'In stock', cell: (product) => formatInteger(product.stockQuantity), numeric: true },
              {
                header: 'Reorder at',
                cell: (product) => formatInteger(product.reorderThreshold),
                numeric: true,
              },
            ]}
            rows={dashboard.lowStock}
            rowKey={(product) => product.id}
          />
        )}
      </Card>
    </div>
  );
}

function Loading({ title, children }: { title?: string; children: ReactNode }) {
  return (
    <div className="loading" role="status">
      {title ? <h1>{title}</h1> : null}
      <p>{children}</p>
    </div>
  );
}

/** A token that names no merchant: what it is for instead, and how to get one that works here. */
function NoMerchant() {
  const token = useToken();
  const claims = token ? readClaims(token) : undefined;
  const signInOther = useSignInAgain();
  return (
    <ProblemScreen
      title="This token sees no merchant"
      actions={
        <>
          <Button variant="primary" onClick={signInOther}>
            Sign in with another token
          </Button>
          {claims && claims.facilities.length > 0 ? (
            <a className="button button-secondary" href="/worklist">
              Open the worklist
            </a>
          ) : null}
        </>
      }
    >
      <p>
        {claims ? (
          <>
            It is the token of <strong>{claims.subject}</strong> ({claims.role})
            {claims.facilities.length > 0 ? `, for the worklist of ${claims.facilities.join(', ')}` : ''}.{' '}
          </>
        ) : null}
        A dashboard token names the merchants it may see, for example{' '}
        <code>npx hotpath token create --role reader --subject you --merchant shop-0001</code>.
      </p>
    </ProblemScreen>
  );
}
