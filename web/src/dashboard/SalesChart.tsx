import { type RefObject, useId, useLayoutEffect, useRef, useState } from 'react';
import { formatDay, formatInteger, moneyFormatter, plural } from '../app/format.ts';

export interface SalesDay {
  date: string;
  orders: number;
  revenue: number;
}

/** The width an element is laid out at, kept current as it changes (a phone turned, a window resized). */
function useWidth<T extends HTMLElement>(): [RefObject<T | null>, number] {
  const ref = useRef<T>(null);
  const [width, setWidth] = useState(0);
  useLayoutEffect(() => {
    const element = ref.current;
    if (!element) return;
    setWidth(element.clientWidth);
    const observer = new ResizeObserver(([entry]) => {
      if (entry) setWidth(Math.floor(entry.contentRect.width));
    });
    observer.observe(element);
    return () => observer.disconnect();
  }, []);
  return [ref, width];
}

/** A round top for an axis, at least `max`: 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of ten. */
function niceCeiling(max: number): number {
  if (max <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  const step = [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10].find((factor) => factor * power >= max) ?? 10;
  return step * power;
}

const HEIGHT = 276;
const LEFT = 64;
const RIGHT = 8;
const TOP = 26;
const REVENUE_HEIGHT = 130;
const GAP = 40;
const ORDERS_HEIGHT = 56;
const AXIS = 24;

/**
 * Revenue (bars above) and orders (bars below) per day, drawn at the width it is given so its text stays
 * legible on a phone. For screen readers a title and a summary; the same figures are in the table beside it.
 */
export function SalesChart({
  days,
  currency,
  timeZone,
}: {
  days: SalesDay[];
  currency: string;
  timeZone: string;
}) {
  const [frame, width] = useWidth<HTMLDivElement>();
  const id = useId();
  const money = moneyFormatter(currency);
  const compact = moneyFormatter(currency, { compact: true });
  const first = days[0];
  const last = days.at(-1);
  const totalRevenue = days.reduce((sum, day) => sum + day.revenue, 0);
  const totalOrders = days.reduce((sum, day) => sum + day.orders, 0);
  const best = days.reduce<SalesDay | undefined>(
    (top, day) => (top === undefined || day.revenue > top.revenue ? day : top),
    undefined,
  );
  const title =
    first && last ? `Revenue and orders per day, ${formatDay(first.date)} to ${formatDay(last.date)}` : '';
  const summary =
    `${money(totalRevenue)} from ${plural(totalOrders, { one: 'order', other: 'orders' })} over ${plural(days.length, { one: 'day', other: 'days' })} (${timeZone} days).` +
    (best && best.revenue > 0
      ? ` The best day was ${formatDay(best.date, 'long')}: ${money(best.revenue)}, ${plural(best.orders, { one: 'order', other: 'orders' })}.`
      : ' No orders in this period.');

  const plotWidth = Math.max(width - LEFT - RIGHT, 10);
  const band = plotWidth / Math.max(days.length, 1);
  const barWidth = Math.max(Math.min(band * 0.72, 28), 1);
  const revenueMax = niceCeiling(Math.max(...days.map((day) => day.revenue), 0));
  const ordersMax = niceCeiling(Math.max(...days.map((day) => day.orders), 0));
  const ordersTop = TOP + REVENUE_HEIGHT + GAP;
  const axisTop = ordersTop + ORDERS_HEIGHT;
  // A date label every so many days, so that labels never touch (about 64 px each).
  const every = Math.max(1, Math.ceil(64 / band));
  const x = (index: number) => LEFT + index * band + (band - barWidth) / 2;

  return (
    <div ref={frame} className="chart-frame">
      {width > 0 ? (
        <svg
          width={width}
          height={HEIGHT}
          viewBox={`0 0 ${width} ${HEIGHT}`}
          role="img"
          aria-labelledby={`${id}-title ${id}-desc`}
          className="chart"
        >
          <title id={`${id}-title`}>{title}</title>
          <desc id={`${id}-desc`}>{summary}</desc>
          <g className="chart-grid">
            {[0, 0.5, 1].map((share) => {
              const y = TOP + REVENUE_HEIGHT * (1 - share);
              return (
                <g key={`r${share}`}>
                  <line x1={LEFT} x2={width - RIGHT} y1={y} y2={y} />
                  <text x={LEFT - 8} y={y} dy="0.32em" textAnchor="end">
                    {compact(revenueMax * share)}
                  </text>
                </g>
              );
            })}
            {[0, 1].map((share) => {
              const y = ordersTop + ORDERS_HEIGHT * (1 - share);
              return (
                <g key={`o${share}`}>
                  <line x1={LEFT} x2={width - RIGHT} y1={y} y2={y} />
                  <text x={LEFT - 8} y={y} dy="0.32em" textAnchor="end">
                    {formatInteger(ordersMax * share)}
                  </text>
                </g>
              );
            })}
            <text className="chart-label" x={4} y={12}>
              Revenue
            </text>
            <text className="chart-label" x={4} y={ordersTop - 12}>
              Orders
            </text>
          </g>
          <g>
            {days.map((day, index) => {
              const revenueHeight = (day.revenue / revenueMax) * REVENUE_HEIGHT;
              const ordersHeight = (day.orders / ordersMax) * ORDERS_HEIGHT;
              return (
                <g key={day.date} className="chart-day">
                  <title>{`${formatDay(day.date, 'weekday')}: ${money(day.revenue)}, ${plural(day.orders, { one: 'order', other: 'orders' })}`}</title>
                  {/* The whole day's column answers the pointer, not only its bars. */}
                  <rect
                    className="chart-hit"
                    x={LEFT + index * band}
                    y={TOP}
                    width={band}
                    height={axisTop - TOP}
                  />
                  <rect
                    className="chart-revenue"
                    x={x(index)}
                    y={TOP + REVENUE_HEIGHT - revenueHeight}
                    width={barWidth}
                    height={revenueHeight}
                  />
                  <rect
                    className="chart-orders"
                    x={x(index)}
                    y={ordersTop + ORDERS_HEIGHT - ordersHeight}
                    width={barWidth}
                    height={ordersHeight}
                  />
                  {index % every === (days.length - 1) % every ? (
                    <DateLabel
                      x={x(index) + barWidth / 2}
                      y={axisTop + AXIS / 2 + 4}
                      left={LEFT}
                      right={width - RIGHT}
                    >
                      {formatDay(day.date)}
                    </DateLabel>
                  ) : null}
                </g>
              );
            })}
          </g>
        </svg>
      ) : null}
    </div>
  );
}

/** A date under its bar, kept inside the chart at either end. */
function DateLabel({
  x,
  y,
  left,
  right,
  children,
}: {
  x: number;
  y: number;
  left: number;
  right: number;
  children: string;
}) {
  const half = 26;
  const anchor = x + half > right ? 'end' : x - half < left ? 'start' : 'middle';
  const at = anchor === 'end' ? right : anchor === 'start' ? Math.max(x - 4, left) : x;
  return (
    <text className="chart-date" x={at} y={y} textAnchor={anchor}>
      {children}
    </text>
  );
}
