import type { paths } from './api/client.ts';
import { element, pageSession, textElement } from './page.ts';

type Dashboard =
  paths['/v1/merchants/{merchantId}/dashboard']['get']['responses'][200]['content']['application/json'];
type Problem = { detail?: string; title?: string };

const { api, tokenInput, rememberToken } = pageSession();
const merchantSelect = element<HTMLSelectElement>('merchant');
const cards = element<HTMLElement>('cards');
const message = element<HTMLElement>('message');

function card(title: string, ...children: HTMLElement[]): HTMLElement {
  const node = document.createElement('section');
  node.className = 'card';
  node.append(textElement('h2', title), ...children);
  return node;
}

function table(headings: string[], rows: Array<Array<string | number>>, numeric: number[]): HTMLElement {
  const node = document.createElement('table');
  const head = document.createElement('tr');
  for (const [index, heading] of headings.entries()) {
    head.append(textElement('th', heading, numeric.includes(index) ? 'number' : undefined));
  }
  node.append(head);
  for (const row of rows) {
    const tr = document.createElement('tr');
    for (const [index, cell] of row.entries()) {
      tr.append(textElement('td', String(cell), numeric.includes(index) ? 'number' : undefined));
    }
    node.append(tr);
  }
  return node;
}

function render(dashboard: Dashboard): void {
  const money = new Intl.NumberFormat(undefined, {
    style: 'currency',
    currency: dashboard.merchant.currency,
  });
  const amount = (minor: number) => money.format(minor / 100);
  cards.replaceChildren(
    card(
      'Total revenue',
      textElement('div', amount(dashboard.totalRevenue), 'figure'),
      textElement('div', `${dashboard.totalOrders} orders`),
    ),
    card(
      `Today, ${dashboard.today} (${dashboard.merchant.timeZone})`,
      textElement('div', amount(dashboard.todayRevenue), 'figure'),
      textElement('div', `${dashboard.todayOrders} orders`),
    ),
    card(
      'Top products',
      table(
        ['Product', 'Rating', 'Sold', 'Revenue'],
        dashboard.topProducts.map((product) => [
          product.name,
          product.averageRating === null ? '—' : `${product.averageRating} (${product.reviewCount})`,
          product.unitsSold,
          amount(product.revenue),
        ]),
        [1, 2, 3],
      ),
    ),
    card(
      'Top customers',
      table(
        ['Customer', 'Orders', 'Spent'],
        dashboard.topCustomers.map((customer) => [
          customer.name,
          customer.orderCount,
          amount(customer.totalSpent),
        ]),
        [1, 2],
      ),
    ),
    card(
      'Low stock',
      dashboard.lowStock.length === 0
        ? textElement('p', 'Nothing below its reorder threshold.')
        : table(
            ['Product', 'Stock', 'Threshold'],
            dashboard.lowStock.map((product) => [
              product.name,
              product.stockQuantity,
              product.reorderThreshold,
            ]),
            [1, 2],
          ),
    ),
  );
}

async function loadMerchants(): Promise<void> {
  rememberToken();
  const { data, error } = await api.GET('/v1/merchants');
  message.textContent = (error as Problem | undefined)?.detail ?? '';
  merchantSelect.replaceChildren(
    ...(data?.merchants ?? []).map((merchant) => {
      const option = textElement('option', `${merchant.name} (${merchant.id})`) as HTMLOptionElement;
      option.value = merchant.id;
      return option;
    }),
  );
}

async function loadDashboard(): Promise<void> {
  if (!merchantSelect.value) return;
  const { data, error } = await api.GET('/v1/merchants/{merchantId}/dashboard', {
    params: { path: { merchantId: merchantSelect.value } },
  });
  message.textContent = (error as Problem | undefined)?.detail ?? '';
  if (data) render(data);
}

element('refresh').addEventListener('click', () => void loadDashboard());
merchantSelect.addEventListener('change', () => void loadDashboard());
tokenInput.addEventListener('change', () => void loadMerchants().then(loadDashboard));
if (tokenInput.value) void loadMerchants().then(loadDashboard);
