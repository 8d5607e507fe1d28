import type { paths } from './api/client.ts';
import { element, pageSession, textElement } from './page.ts';

type Page = paths['/v2/worklist']['get']['responses'][200]['content']['application/json'];
type Item = Page['items'][number];
type Detail = paths['/v2/worklist/{id}']['get']['responses'][200]['content']['application/json'];
type Problem = { detail?: string; title?: string };

const { api, tokenInput, rememberToken } = pageSession();
const facilitySelect = element<HTMLSelectElement>('facility');
const statusSelect = element<HTMLSelectElement>('status');
const sourceSelect = element<HTMLSelectElement>('source');
const searchInput = element<HTMLInputElement>('q');
const rows = element<HTMLTableSectionElement>('rows');
const more = element<HTMLButtonElement>('more');
const detailPanel = element<HTMLElement>('detail');
const message = element<HTMLElement>('message');

let nextCursor: string | null = null;

function show(problem: Problem | undefined): void {
  message.textContent = problem ? (problem.detail ?? problem.title ?? 'request failed') : '';
}

async function loadFacilities(): Promise<void> {
  rememberToken();
  const { data, error } = await api.GET('/v2/facilities');
  show(error as Problem | undefined);
  facilitySelect.replaceChildren(
    ...(data?.facilities ?? []).map((facility) => {
      const option = textElement('option', `${facility.name} (${facility.id})`) as HTMLOptionElement;
      option.value = facility.id;
      return option;
    }),
  );
}

async function loadPage(append: boolean): Promise<void> {
  const query: NonNullable<paths['/v2/worklist']['get']['parameters']['query']> = { limit: 20 };
  if (facilitySelect.value) query.facilityId = facilitySelect.value;
  if (statusSelect.value) query.status = statusSelect.value as NonNullable<typeof query.status>;
  if (sourceSelect.value) query.source = sourceSelect.value as NonNullable<typeof query.source>;
  if (searchInput.value.trim().length >= 3) query.q = searchInput.value.trim();
  if (append && nextCursor) query.cursor = nextCursor;
  const { data, error } = await api.GET('/v2/worklist', { params: { query } });
  show(error as Problem | undefined);
  if (!data) return;
  if (!append) rows.replaceChildren();
  for (const item of data.items) rows.append(row(item));
  nextCursor = data.nextCursor;
  more.hidden = nextCursor === null;
}

function row(item: Item): HTMLTableRowElement {
  const tr = document.createElement('tr');
  tr.dataset.id = String(item.id);
  const received = new Date(item.receivedAt).toLocaleString();
  const patient = item.patient
    ? `${item.patient.lastName.toUpperCase()} ${item.patient.firstName} (${item.patient.birthDate})`
    : '—';
  tr.append(
    textElement('td', received),
    textElement('td', `${item.title}${item.documentType ? ` · ${item.documentType.label}` : ''}`),
    textElement('td', patient),
    wrap(textElement('span', item.identityCheck, `badge ${item.identityCheck}`)),
    textElement('td', String(item.attachmentCount)),
    wrap(textElement('span', item.status.replace('_', ' '), 'badge')),
  );
  tr.addEventListener('click', () => {
    for (const selected of rows.querySelectorAll('tr.selected')) selected.classList.remove('selected');
    tr.classList.add('selected');
    void loadDetail(item.id);
  });
  return tr;
}

function wrap(child: HTMLElement): HTMLTableCellElement {
  const cell = document.createElement('td');
  cell.append(child);
  return cell;
}

function facts(entries: Array<[string, string | number | null | undefined]>): HTMLElement {
  const list = document.createElement('dl');
  for (const [label, value] of entries)
    list.append(
      textElement('dt', label),
      textElement('dd', value === null || value === undefined ? '—' : String(value)),
    );
  return list;
}

function section(title: string, ...children: HTMLElement[]): HTMLElement {
  const node = document.createElement('section');
  node.append(textElement('h2', title), ...children);
  return node;
}

async function loadDetail(id: number): Promise<void> {
  const { data, error } = await api.GET('/v2/worklist/{id}', { params: { path: { id } } });
  show(error as Problem | undefined);
  if (data) renderDetail(data);
}

function renderDetail(request: Detail): void {
  const parts: HTMLElement[] = [
    section(
      request.title,
      facts([
        ['status', request.status],
        ['identity', request.identityCheck],
        ['source', request.source],
        [
          'type',
          request.documentType ? `${request.documentType.label} (${request.documentType.code})` : null,
        ],
        ['procedure', request.procedureDate],
        ['received', new Date(request.receivedAt).toLocaleString()],
        [
          'integration',
          request.integration
            ? `${request.integration.state}${request.integration.error ? `: ${request.integration.error}` : ''}`
            : null,
        ],
      ]),
    ),
  ];
  if (request.patient) {
    const fhir = request.patient.fhir;
    parts.push(
      section(
        'Patient',
        facts([
          [
            'name',
            `${(request.patient.usedLastName ?? request.patient.birthLastName).toUpperCase()} ${request.patient.firstName}`,
          ],
          [
            'born',
            `${request.patient.birthLastName} · ${request.patient.birthDate} · ${request.patient.sex}`,
          ],
          ['IPP / INS', `${request.patient.ipp} / ${request.patient.ins ?? '—'}`],
          [
            'EHR record',
            fhir
              ? `${fhir.name ?? fhir.id}, updated ${fhir.lastUpdated ?? '?'}`
              : `(${request.enrichment.status}${request.enrichment.reason ? `: ${request.enrichment.reason}` : ''})`,
          ],
        ]),
      ),
    );
  }
  if (request.extracted) {
    const extracted = request.extracted;
    parts.push(
      section(
        'Read from the document',
        facts([
          ['by', extracted.extractor],
          ['name', [extracted.birthLastName, extracted.firstNames].filter(Boolean).join(' ') || null],
          ['born', extracted.birthDate],
          ['INS', extracted.ins],
        ]),
      ),
    );
  }
  if (request.candidates.length > 0) {
    const list = document.createElement('ol');
    for (const candidate of request.candidates) {
      const item = textElement(
        'li',
        `${candidate.birthLastName.toUpperCase()} ${candidate.firstName}, ${candidate.birthDate} — ${candidate.reasons.join(', ') || 'weak match'} (${candidate.score}) `,
      );
      const choose = textElement('button', 'This patient') as HTMLButtonElement;
      choose.addEventListener('click', () => void act(request.id, 'verify', { patientId: candidate.id }));
      item.append(choose);
      list.append(item);
    }
    parts.push(section('Candidates', list));
  }
  const files = document.createElement('ul');
  for (const attachment of request.attachments) {
    const item = document.createElement('li');
    const link = textElement(
      'a',
      `${attachment.fileName} (${Math.ceil(attachment.sizeBytes / 1024)} KB${attachment.pages ? `, ${attachment.pages} p.` : ''})`,
    ) as HTMLAnchorElement;
    link.href = attachment.downloadUrl;
    item.append(link);
    files.append(item);
  }
  parts.push(section('Files', files));
  const actions = document.createElement('div');
  actions.className = 'actions';
  const integrate = textElement('button', 'Integrate into the EHR') as HTMLButtonElement;
  integrate.disabled = request.status !== 'verified' && request.status !== 'error';
  integrate.addEventListener('click', () => void act(request.id, 'integrate'));
  const reject = textElement('button', 'Reject') as HTMLButtonElement;
  reject.disabled = request.status === 'integrated' || request.status === 'rejected';
  reject.addEventListener('click', () => {
    const reason = window.prompt('Why reject this document?');
    if (reason) void act(request.id, 'reject', { reason });
  });
  actions.append(integrate, reject);
  parts.push(section('Actions', actions));
  detailPanel.replaceChildren(...parts);
}

async function act(
  id: number,
  action: 'verify' | 'reject' | 'integrate',
  body?: { patientId: number } | { reason: string },
) {
  const params = { params: { path: { id } } };
  const { error } =
    action === 'verify'
      ? await api.POST('/v2/worklist/{id}/verify', { ...params, body: body as { patientId: number } })
      : action === 'reject'
        ? await api.POST('/v2/worklist/{id}/reject', { ...params, body: body as { reason: string } })
        : await api.POST('/v2/worklist/{id}/integrate', params);
  show(error as Problem | undefined);
  await loadDetail(id);
  await loadPage(false);
}

element('apply').addEventListener('click', () => void loadPage(false));
more.addEventListener('click', () => void loadPage(true));
tokenInput.addEventListener('change', () => void loadFacilities().then(() => loadPage(false)));
facilitySelect.addEventListener('change', () => void loadPage(false));
if (tokenInput.value) void loadFacilities().then(() => loadPage(false));
