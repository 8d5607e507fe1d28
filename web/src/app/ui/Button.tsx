import type { ComponentProps } from 'react';

type Variant = 'primary' | 'secondary' | 'quiet';

/** A native button in the app's styles; `busy` keeps it in place, says so, and ignores clicks. */
export function Button({
  variant = 'secondary',
  busy = false,
  className,
  type = 'button',
  onClick,
  ...props
}: ComponentProps<'button'> & { variant?: Variant; busy?: boolean }) {
  return (
    <button
      type={type === 'submit' ? 'submit' : 'button'}
      className={['button', `button-${variant}`, className].filter(Boolean).join(' ')}
      aria-busy={busy || undefined}
      aria-disabled={busy || undefined}
      onClick={busy ? (event) => event.preventDefault() : onClick}
      {...props}
    />
  );
}
