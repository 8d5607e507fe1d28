import type { LinkProps } from '@tanstack/react-router';

/**
 * The header's links, in order. `to` is a screen of this app (client-side navigation); `href` a page
 * hotpath serves apart from it (a full page load): the API's docs.
 */
export type NavItem = { label: string; to: NonNullable<LinkProps['to']> } | { label: string; href: string };

export const NAV: NavItem[] = [
  { label: 'Worklist', to: '/worklist' },
  { label: 'Dashboard', to: '/dashboard' },
  { label: 'API docs', href: '/docs' },
];
