import type { ReactNode } from 'react';
import { usePageTitle } from '../title.ts';

/** What a screen shows instead of its content when it cannot: a heading, why, and what to do about it. */
export function ProblemScreen({
  title,
  children,
  actions,
}: {
  title: string;
  children: ReactNode;
  actions?: ReactNode;
}) {
  usePageTitle(title);
  return (
    <section className="problem" aria-labelledby="problem-title">
      <h1 id="problem-title">{title}</h1>
      <div className="problem-body">{children}</div>
      {actions ? <div className="problem-actions">{actions}</div> : null}
    </section>
  );
}
