import type { ReactNode } from 'react';
import type { Tone } from './words.ts';

/** A status in a word and a colour of its own (the word carries it: the colour only repeats it). */
export function Badge({
  tone,
  small = false,
  children,
}: {
  tone: Tone;
  small?: boolean;
  children: ReactNode;
}) {
  return <span className={`badge badge-${tone}${small ? ' badge-small' : ''}`}>{children}</span>;
}
