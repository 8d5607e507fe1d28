import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { Type } from 'typebox';
import type { Config } from '../../config.ts';
import { principalOf, type RoutesPlugin } from '../../platform/http/app.ts';
import { notFound, problemResponses } from '../../platform/http/problems.ts';
import { sendSerialized, serializedAnswer } from '../../platform/http/serialized-answer.ts';
import type { DB } from '../../tables.ts';
import { dailySales, merchantDashboard, merchants } from './queries.ts';
import {
  DailySalesQuery,
  DailySales as DailySalesSchema,
  Dashboard as DashboardSchema,
  MerchantList,
  MerchantParams,
  OrderInput,
  OrderResult,
  ProductParams,
  ProductPatch,
  ProductResult,
  ReviewInput,
  ReviewResult,
} from './schemas.ts';
import {
  addReview,
  assertMerchant,
  type CachedDashboard,
  type DashboardCache,
  merchantScope,
  placeOrder,
  updateProduct,
} from './service.ts';

export interface DashboardDependencies {
  db: Kysely<DB>;
  config: Config;
  cache: DashboardCache;
}

const TAGS = ['dashboard'];

/**
 * Today's date in a time zone, as the dashboard states it: one formatter per zone, and the answer
 * kept for a second (formatting a date costs more than the rest of a cached read).
 */
const today = new Map<string, { formatter: Intl.DateTimeFormat; date: string; until: number }>();
function localDate(timeZone: string): string {
  const now = Date.now();
  let zone = today.get(timeZone);
  if (!zone) {
    const formatter = new Intl.DateTimeFormat('en-CA', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
    });
    zone = { formatter, date: '', until: 0 };
    today.set(timeZone, zone);
  }
  if (now >= zone.until) {
    zone.date = zone.formatter.format(new Date(now));
    zone.until = now + 1_000;
  }
  return zone.date;
}

export function dashboardRoutes({ db, cache }: DashboardDependencies): RoutesPlugin {
  /** Computed once per miss and kept as the bytes sent, by the route's own serialiser. */
  const compute = async (reply: FastifyReply, merchantId: string): Promise<CachedDashboard> => {
    const dashboard = await merchantDashboard(db, merchantId);
    // Thrown, not returned: an unknown merchant is not cached.
    if (!dashboard) throw notFound(`merchant ${merchantId} does not exist`);
    return {
      // The route's JSON serialiser returns a string.
      ...serializedAnswer(String(reply.serialize(dashboard))),
      today: dashboard.today,
      timeZone: dashboard.merchant.timeZone,
    };
  };

  /**
   * The cached dashboard, unless the request says `Cache-Control: no-cache` or the merchant's day has
   * turned since it was computed ("today" must not outlive midnight in the merchant's zone).
   */
  const dashboardFor = async (
    request: FastifyRequest,
    reply: FastifyReply,
    merchantId: string,
  ): Promise<CachedDashboard> => {
    // refresh, not compute-then-put: a write committed during the computation must not be masked.
    if (/\bno-cache\b/.test(request.headers['cache-control'] ?? '')) {
      return cache.refresh(merchantId, () => compute(reply, merchantId));
    }
    const cached = await cache.getOrCompute(merchantId, () => compute(reply, merchantId));
    if (cached.today === localDate(cached.timeZone)) return cached;
    // Yesterday's entry: computed again and stored under the same generation, nothing written.
    return cache.refresh(merchantId, () => compute(reply, merchantId));
  };

  return async (app) => {
    app.get(
      '/v1/merchants/:merchantId/dashboard',
      {
        schema: {
          tags: TAGS,
          summary: "A merchant's dashboard: revenue, today's sales, top products and customers, low stock",
          description:
            'One SQL statement on a miss, none on a hit (`Server-Timing: cache;desc="hit"`); one more while the instance is reconnecting to PostgreSQL\'s notifications. Cached for HOTPATH_DASHBOARD_CACHE_TTL_SECONDS (default 120) and invalidated by every order, review and product change. `Cache-Control: no-cache` computes it afresh. Sent with an `ETag`; `If-None-Match` with it answers 304 while the dashboard is unchanged. Amounts are integers in minor units (cents) of the merchant\'s currency.',
          params: MerchantParams,
          response: {
            200: DashboardSchema,
            304: Type.Null({ description: 'Not modified: the `If-None-Match` tag is current' }),
            ...problemResponses(400, 401, 403, 404),
          },
        },
        // The computation, and the generation read while this instance's notifications are reconnecting.
        config: { access: 'reader', queryBudget: 2 },
      },
      async (request, reply) => {
        assertMerchant(principalOf(request), request.params.merchantId);
        // Kept by the client but revalidated on every use: If-None-Match answers 304 while unchanged.
        reply.header('cache-control', 'private, no-cache');
        return sendSerialized(request, reply, await dashboardFor(request, reply, request.params.merchantId));
      },
    );

    app.get(
      '/v1/merchants/:merchantId/daily-sales',
      {
        schema: {
          tags: TAGS,
          summary:
            "A merchant's revenue and orders per day, in its time zone, over the last 30 (up to 90) days",
          description:
            "One SQL statement, a range of the per-day projection written with every order, whatever the shop's history; not cached, so always current. Every day is listed, oldest first, with zeros where there were no orders. Amounts are integers in minor units (cents) of the merchant's currency.",
          params: MerchantParams,
          querystring: DailySalesQuery,
          response: { 200: DailySalesSchema, ...problemResponses(400, 401, 403, 404) },
        },
        config: { access: 'reader', queryBudget: 1 },
      },
      async (request, reply) => {
        const { merchantId } = request.params;
        assertMerchant(principalOf(request), merchantId);
        const sales = await dailySales(db, merchantId, request.query.days ?? 30);
        if (!sales) throw notFound(`merchant ${merchantId} does not exist`);
        reply.header('cache-control', 'private, no-cache');
        return sales;
      },
    );

    app.get(
      '/v1/merchants',
      {
        schema: {
          tags: TAGS,
          summary: 'The merchants this token may see',
          response: { 200: MerchantList, ...problemResponses(401) },
        },
        config: { access: 'reader', queryBudget: 1 },
      },
      async (request) => ({ merchants: await merchants(db, merchantScope(principalOf(request))) }),
    );

    app.post(
      '/v1/merchants/:merchantId/orders',
      {
        schema: {
          tags: TAGS,
          summary: 'Place an order: prices from the catalogue, stock decremented, never below zero',
          description:
            'One transaction. When any product is short, nothing is written and the answer is 409.',
          params: MerchantParams,
          body: OrderInput,
          response: { 201: OrderResult, ...problemResponses(400, 401, 403, 404, 409) },
        },
        config: { access: 'author', queryBudget: 5 },
      },
      async (request, reply) => {
        const { merchantId } = request.params;
        assertMerchant(principalOf(request), merchantId);
        return reply.code(201).send(await placeOrder(db, cache, merchantId, request.body));
      },
    );

    app.post(
      '/v1/products/:productId/reviews',
      {
        schema: {
          tags: TAGS,
          summary: "Review a product: a rating from 1 to 5 by one of its merchant's customers",
          params: ProductParams,
          body: ReviewInput,
          response: { 201: ReviewResult, ...problemResponses(400, 401, 403, 404) },
        },
        config: { access: 'author', queryBudget: 5 },
      },
      async (request, reply) => {
        const { review } = await addReview(db, cache, principalOf(request), {
          productId: request.params.productId,
          customerId: request.body.customerId,
          rating: request.body.rating,
        });
        return reply.code(201).send(review);
      },
    );

    app.patch(
      '/v1/products/:productId',
      {
        schema: {
          tags: TAGS,
          summary: "Change a product's stock, reorder threshold or price",
          params: ProductParams,
          body: ProductPatch,
          response: { 200: ProductResult, ...problemResponses(400, 401, 403, 404, 409) },
        },
        config: { access: 'author', queryBudget: 5 },
      },
      async (request) => {
        const { product } = await updateProduct(
          db,
          cache,
          principalOf(request),
          request.params.productId,
          request.body,
        );
        return product;
      },
    );
  };
}
