import { type Static, Type } from 'typebox';
import { RowId } from '../../platform/http/schemas.ts';

const MERCHANT_ID = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';
const Minor = (description: string) =>
  Type.Integer({ description: `${description}, in minor units (cents)` });

export const MerchantParams = Type.Object({
  merchantId: Type.String({ pattern: MERCHANT_ID, examples: ['shop-0042'] }),
});
export const ProductParams = Type.Object({
  productId: RowId(),
});

export const Dashboard = Type.Object({
  merchant: Type.Object({
    id: Type.String(),
    name: Type.String(),
    timeZone: Type.String(),
    currency: Type.String(),
  }),
  today: Type.String({ format: 'date', description: "Today's date in the merchant's time zone" }),
  computedAt: Type.String({ format: 'date-time' }),
  totalRevenue: Minor('All orders'),
  totalOrders: Type.Integer(),
  todayRevenue: Minor("Orders placed today, in the merchant's time zone"),
  todayOrders: Type.Integer(),
  topProducts: Type.Array(
    Type.Object({
      id: Type.Integer(),
      name: Type.String(),
      averageRating: Type.Union([Type.Number(), Type.Null()], { description: 'null without reviews' }),
      reviewCount: Type.Integer(),
      unitsSold: Type.Integer(),
      revenue: Minor('Units sold at the prices paid'),
    }),
    { maxItems: 20, description: 'The 20 products with the most revenue' },
  ),
  topCustomers: Type.Array(
    Type.Object({
      id: Type.Integer(),
      name: Type.String(),
      orderCount: Type.Integer(),
      totalSpent: Minor('All their orders'),
    }),
    { maxItems: 10, description: 'The 10 customers who spent the most' },
  ),
  lowStock: Type.Array(
    Type.Object({
      id: Type.Integer(),
      name: Type.String(),
      stockQuantity: Type.Integer(),
      reorderThreshold: Type.Integer(),
    }),
    { description: 'Products below their reorder threshold, lowest stock first' },
  ),
});
export type Dashboard = Static<typeof Dashboard>;

/** The chart's window: the last 30 days by default, at most 90, always ending today in the merchant's zone. */
export const DAILY_SALES_MAX_DAYS = 90;
export const DailySalesQuery = Type.Object({
  days: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: DAILY_SALES_MAX_DAYS,
      default: 30,
      description: "How many days, ending today in the merchant's time zone",
    }),
  ),
});

export const DailySales = Type.Object({
  merchant: Type.Object({ id: Type.String(), timeZone: Type.String(), currency: Type.String() }),
  from: Type.String({ format: 'date', description: "The first day, in the merchant's time zone" }),
  to: Type.String({ format: 'date', description: "Today in the merchant's time zone" }),
  days: Type.Array(
    Type.Object({
      date: Type.String({ format: 'date' }),
      orders: Type.Integer(),
      revenue: Minor("Orders placed that day, in the merchant's time zone"),
    }),
    {
      maxItems: DAILY_SALES_MAX_DAYS,
      description: 'Every day from `from` to `to`, oldest first; 0 without orders',
    },
  ),
});
export type DailySales = Static<typeof DailySales>;

export const OrderInput = Type.Object(
  {
    customerId: RowId(),
    items: Type.Array(
      Type.Object(
        {
          productId: RowId(),
          quantity: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 100 },
    ),
  },
  { additionalProperties: false },
);
export type OrderInput = Static<typeof OrderInput>;

export const OrderResult = Type.Object({
  id: Type.Integer(),
  merchantId: Type.String(),
  customerId: Type.Integer(),
  total: Minor('Sum of quantity × unit price'),
  createdAt: Type.String({ format: 'date-time' }),
  items: Type.Array(
    Type.Object({
      productId: Type.Integer(),
      quantity: Type.Integer(),
      unitPrice: Minor('At the time of the order'),
    }),
  ),
});

export const ReviewInput = Type.Object(
  { customerId: RowId(), rating: Type.Integer({ minimum: 1, maximum: 5 }) },
  { additionalProperties: false },
);
export const ReviewResult = Type.Object({
  id: Type.Integer(),
  productId: Type.Integer(),
  customerId: Type.Integer(),
  rating: Type.Integer(),
});

export const ProductPatch = Type.Object(
  {
    stockQuantity: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_000_000_000 })),
    reorderThreshold: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_000_000_000 })),
    price: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 10_000_000_000,
        description: 'In minor units; applies to later orders',
      }),
    ),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type ProductPatch = Static<typeof ProductPatch>;

export const ProductResult = Type.Object({
  id: Type.Integer(),
  merchantId: Type.String(),
  name: Type.String(),
  price: Minor('List price'),
  stockQuantity: Type.Integer(),
  reorderThreshold: Type.Integer(),
});

export const MerchantList = Type.Object({
  merchants: Type.Array(
    Type.Object({ id: Type.String(), name: Type.String(), timeZone: Type.String(), currency: Type.String() }),
  ),
});
