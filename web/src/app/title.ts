import { useEffect } from 'react';

/** The tab's title for a screen: "Dashboard · hotpath". */
export function usePageTitle(title: string): void {
  useEffect(() => {
    document.title = title ? `${title} · hotpath` : 'hotpath';
  }, [title]);
}
