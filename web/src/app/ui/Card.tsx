import type { ReactNode } from 'react';

/** A panel with a heading; `wide` spans the whole row of a grid. Sized to its content otherwise. */
export function Card({
  title,
  titleId,
  actions,
  children,
  className,
}: {
  title: ReactNode;
  titleId?: string;
  actions?: ReactNode;
  children: ReactNode;
  className?: string;
}) {
  return (
    <section className={['card', className].filter(Boolean).join(' ')} aria-labelledby={titleId}>
      <div className="card-head">
        <h2 id={titleId}>{title}</h2>
        {actions ? <div className="card-actions">{actions}</div> : null}
      </div>
      {children}
    </section>
  );
}
