import { apiClient } from './api/client.ts';

export const element = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const TOKEN_KEY = 'hotpath.token';

/**
 * What every page shares: the token field (filled from `#token=` in the link, else from earlier in
 * this tab), the typed API client that sends it, and the line saying where the last call's time went.
 * The token leaves the address bar as soon as it is read, so it is not in the history, a bookmark or a
 * shared screen, and it lives only as long as the tab (sessionStorage, never localStorage).
 */
export function pageSession() {
  const tokenInput = element<HTMLInputElement>('token');
  const linked = new URLSearchParams(window.location.hash.slice(1)).get('token');
  if (linked) {
    history.replaceState(null, '', `${window.location.pathname}${window.location.search}`);
    sessionStorage.setItem(TOKEN_KEY, linked);
  }
  tokenInput.value = linked ?? sessionStorage.getItem(TOKEN_KEY) ?? '';
  const api = apiClient(
    () => tokenInput.value.trim(),
    (timing) => {
      element('timing').textContent =
        `last call: ${timing.queries}, external ${timing.external}${timing.cache ? `, cache ${timing.cache}` : ''}, ${timing.totalMs} ms`;
    },
  );
  return {
    api,
    tokenInput,
    rememberToken: () => sessionStorage.setItem(TOKEN_KEY, tokenInput.value.trim()),
  };
}

/** Text nodes only: every value shown comes from the API and must never be read as markup. */
export function textElement(tag: string, content: string, className?: string): HTMLElement {
  const node = document.createElement(tag);
  node.textContent = content;
  if (className) node.className = className;
  return node;
}
