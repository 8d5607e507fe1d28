import { apiClient } from './api/client.ts';

export const element = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const TOKEN_KEY = 'hotpath.token';

/**
 * What every page shares: the token field (filled from `#token=` in the link, else from the last
 * visit), the typed API client that sends it, and the line saying where the last call's time went.
 */
export function pageSession() {
  const tokenInput = element<HTMLInputElement>('token');
  tokenInput.value =
    new URLSearchParams(window.location.hash.slice(1)).get('token') ?? localStorage.getItem(TOKEN_KEY) ?? '';
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
    rememberToken: () => localStorage.setItem(TOKEN_KEY, tokenInput.value.trim()),
  };
}

/** Text nodes only: every value shown comes from the API and must never be read as markup. */
export function textElement(tag: string, content: string, className?: string): HTMLElement {
  const node = document.createElement(tag);
  node.textContent = content;
  if (className) node.className = className;
  return node;
}
