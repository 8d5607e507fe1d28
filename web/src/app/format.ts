/**
 * Numbers, money, plurals and dates as the reader's browser writes them (its locale), in the words of the
 * app (English). Formatters are made once per setting: Intl constructors are costly.
 */
const memo = new Map<string, unknown>();
function once<T>(key: string, make: () => T): T {
  if (!memo.has(key)) memo.set(key, make());
  return memo.get(key) as T;
}

const integers = () => once('integers', () => new Intl.NumberFormat());

export function formatInteger(value: number): string {
  return integers().format(value);
}

/**
 * Amounts arrive as integers in the currency's minor unit (cents; yen and won have none, the dinar has
 * thousandths): the unit's size is the currency's own fraction digits, as Intl knows them.
 */
export function moneyFormatter(
  currency: string,
  options: { compact?: boolean } = {},
): (minor: number) => string {
  return once(`money:${currency}:${options.compact ? 'compact' : 'full'}`, () => {
    const exact = new Intl.NumberFormat(undefined, { style: 'currency', currency });
    const digits = exact.resolvedOptions().maximumFractionDigits ?? 2;
    const format = options.compact
      ? new Intl.NumberFormat(undefined, {
          style: 'currency',
          currency,
          notation: 'compact',
          maximumSignificantDigits: 3,
        })
      : exact;
    return (minor: number) => format.format(minor / 10 ** digits);
  });
}

const englishPlurals = () => once('plural', () => new Intl.PluralRules('en'));

/** "1 order", "2 orders", "1,234 orders": the count in the reader's digits, the word in English's plural rules. */
export function plural(count: number, forms: { one: string; other: string }): string {
  const word = englishPlurals().select(count) === 'one' ? forms.one : forms.other;
  return `${formatInteger(count)} ${word}`;
}

/** A calendar date (YYYY-MM-DD, a day in the merchant's zone) as the reader writes it: "5 Dec 2026". */
export function formatDay(date: string, style: 'short' | 'long' | 'weekday' = 'short'): string {
  const format = once(
    `day:${style}`,
    () =>
      new Intl.DateTimeFormat(undefined, {
        timeZone: 'UTC',
        day: 'numeric',
        month: 'short',
        ...(style === 'long' ? { year: 'numeric' } : {}),
        ...(style === 'weekday' ? { weekday: 'short' } : {}),
      }),
  );
  return format.format(new Date(`${date}T00:00:00Z`));
}

/** An instant as the reader's clock shows it, to the second. */
export function formatTime(instant: Date): string {
  return once('time', () => new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' })).format(instant);
}

/** An instant with its date, for what may be days away (a token's expiry). */
export function formatDateTime(instant: Date): string {
  return once(
    'datetime',
    () => new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' }),
  ).format(instant);
}

/** "just now", "5 minutes ago": how old the figures are, as the reader would say it. */
export function formatAge(instant: Date, now: number): string {
  const seconds = Math.round((instant.getTime() - now) / 1000);
  const relative = once('relative', () => new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' }));
  if (Math.abs(seconds) < 45) return relative.format(0, 'second');
  const minutes = Math.round(seconds / 60);
  if (Math.abs(minutes) < 60) return relative.format(minutes, 'minute');
  const hours = Math.round(minutes / 60);
  if (Math.abs(hours) < 24) return relative.format(hours, 'hour');
  return relative.format(Math.round(hours / 24), 'day');
}
