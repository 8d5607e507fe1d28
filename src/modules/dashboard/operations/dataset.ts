import { type Kysely, type RawBuilder, sql } from 'kysely';
import { inParallel } from '../../../platform/concurrency.ts';
import { reserveIdentityBlock } from '../../../platform/db/bulk.ts';
import { phasedProgress } from '../../../platform/progress.ts';
import { seededRandom } from '../../../platform/seeded-random.ts';
import type { DB } from '../../../tables.ts';
import { rebuildDashboardProjections } from './projections.ts';

export interface DashboardDatasetOptions {
  merchants: number;
  productsPerMerchant: number;
  customersPerMerchant: number;
  ordersPerMerchant: number;
  /** The average number of lines of an order; each has from 1 to twice this less one. */
  itemsPerOrder: number;
  reviewsPerMerchant: number;
  /** Orders and reviews are placed over the last `days` days before `endAt`. */
  days: number;
  seed: number;
  /**
   * The run's first merchant has this many times the customers, orders and reviews of the others
   * (default 1): the shop with a long history that must not get a slower dashboard.
   */
  bigMerchantMultiplier?: number;
  /** The newest possible order (truncated to the second); fixed, it makes a run replay exactly. */
  endAt?: Date;
  /**
   * Chunks written at once, each on its own connection (default 1). Above 1, order item and review ids
   * interleave between chunks, so only they stop replaying exactly.
   */
  parallelism?: number;
  onProgress?: (done: number, total: number, phase: DashboardDatasetPhase) => void;
}

/** What a run is busy with; `projections` counts merchants whose projections are rebuilt. */
export type DashboardDatasetPhase = 'customers' | 'orders' | 'reviews' | 'projections';

export interface DashboardDatasetResult {
  /** The merchants this run created, in order (shop-0001… on an empty database). */
  merchantIds: string[];
  /** The merchant with `bigMerchantMultiplier` times the history; undefined without one. */
  bigMerchantId: string | undefined;
  products: number;
  customers: number;
  orders: number;
  orderItems: number;
  reviews: number;
  seconds: number;
}

/** Rows per statement: big enough to be set-based, small enough that no transaction holds much. */
const ORDERS_PER_CHUNK = 40_000;
const CUSTOMERS_PER_CHUNK = 100_000;
const REVIEWS_PER_CHUNK = 100_000;
/** Row keys are merchant number × this + ordinal, so they never collide across merchants. */
const KEY_SPACE = 16_777_216;
/** Order item keys are order key × this + line number. */
const LINES_PER_ORDER_SPACE = 16;

/**
 * Where shops are: their zone, currency, the names their customers have and a local mail provider. The
 * first four are far from UTC on both sides, so the first merchants of any run have local days that
 * start hours before or after UTC's.
 */
const REGIONS = [
  { timeZone: 'Pacific/Auckland', currency: 'NZD', names: 'en_AU', mail: 'xtra.co.nz' },
  { timeZone: 'America/Los_Angeles', currency: 'USD', names: 'en', mail: 'comcast.net' },
  { timeZone: 'Asia/Tokyo', currency: 'JPY', names: 'ja', mail: 'yahoo.co.jp' },
  { timeZone: 'Europe/Paris', currency: 'EUR', names: 'fr', mail: 'orange.fr' },
  { timeZone: 'America/New_York', currency: 'USD', names: 'en', mail: 'verizon.net' },
  { timeZone: 'Europe/London', currency: 'GBP', names: 'en', mail: 'btinternet.com' },
  { timeZone: 'Australia/Sydney', currency: 'AUD', names: 'en_AU', mail: 'bigpond.com' },
  { timeZone: 'Europe/Berlin', currency: 'EUR', names: 'de', mail: 'gmx.de' },
  { timeZone: 'America/Chicago', currency: 'USD', names: 'en', mail: 'att.net' },
  { timeZone: 'America/Toronto', currency: 'CAD', names: 'en', mail: 'rogers.com' },
  { timeZone: 'Europe/Amsterdam', currency: 'EUR', names: 'nl', mail: 'ziggo.nl' },
  { timeZone: 'America/Mexico_City', currency: 'MXN', names: 'es_MX', mail: 'prodigy.net.mx' },
  { timeZone: 'Asia/Seoul', currency: 'KRW', names: 'ko', mail: 'naver.com' },
  { timeZone: 'Pacific/Honolulu', currency: 'USD', names: 'en', mail: 'hawaiiantel.net' },
  { timeZone: 'Europe/Stockholm', currency: 'SEK', names: 'sv', mail: 'telia.com' },
  { timeZone: 'America/Sao_Paulo', currency: 'BRL', names: 'pt_BR', mail: 'uol.com.br' },
  { timeZone: 'Asia/Kolkata', currency: 'INR', names: 'en', mail: 'rediffmail.com' },
  { timeZone: 'Europe/Rome', currency: 'EUR', names: 'it', mail: 'libero.it' },
  { timeZone: 'America/Denver', currency: 'USD', names: 'en', mail: 'centurylink.net' },
  { timeZone: 'Australia/Adelaide', currency: 'AUD', names: 'en_AU', mail: 'internode.on.net' },
  { timeZone: 'Europe/Madrid', currency: 'EUR', names: 'es', mail: 'telefonica.net' },
] as const;
type NameLocale = (typeof REGIONS)[number]['names'];
const MAIL_DOMAINS = ['gmail.com', 'outlook.com', 'icloud.com', 'yahoo.com', 'hotmail.com', 'proton.me'];

/**
 * A price set in US cents becomes a local price: scaled by roughly the exchange rate, rounded up to a
 * `step` of minor units and less `tail` (so 12.34 USD is 12.99 USD, 1,860 JPY, 16,700 KRW, 61.90 BRL).
 */
const CURRENCIES: Record<string, { perUsdCent: number; step: number; tail: number }> = {
  USD: { perUsdCent: 1, step: 100, tail: 1 },
  EUR: { perUsdCent: 0.92, step: 100, tail: 1 },
  GBP: { perUsdCent: 0.79, step: 100, tail: 1 },
  NZD: { perUsdCent: 1.65, step: 100, tail: 1 },
  AUD: { perUsdCent: 1.5, step: 100, tail: 1 },
  CAD: { perUsdCent: 1.35, step: 100, tail: 1 },
  MXN: { perUsdCent: 17, step: 100, tail: 1 },
  SEK: { perUsdCent: 10.5, step: 100, tail: 1 },
  BRL: { perUsdCent: 5, step: 100, tail: 10 },
  INR: { perUsdCent: 83, step: 100, tail: 0 },
  JPY: { perUsdCent: 1.5, step: 10, tail: 0 },
  KRW: { perUsdCent: 13.5, step: 100, tail: 0 },
};

/**
 * What a shop sells: the words its name ends with, its products as variety × item, and its price range
 * in US dollars. Product names are unique within a shop up to varieties × items.
 */
const CATEGORIES = [
  {
    shop: ['Tea Co.', 'Tea House', 'Teas'],
    varieties: list(`Sencha, Earl Grey, Jasmine Pearl, Assam, Darjeeling, Genmaicha, Rooibos, Chamomile,
      Oolong, Lapsang Souchong, Matcha, Peppermint, Masala Chai, English Breakfast, White Peony, Hojicha,
      Lemongrass Ginger, Pu-erh`),
    items: list(`Loose Leaf 100 g, Loose Leaf 250 g, Tea Bags ×20, Tea Bags ×50, Gift Tin, Sample Pouch,
      Cold Brew Pack, Caddy 500 g, Discovery Box, Refill 1 kg, Pyramid Bags ×15, Travel Tin`),
    usd: [6, 60],
  },
  {
    shop: ['Coffee Roasters', 'Roastery', 'Coffee Co.'],
    varieties: list(`Ethiopia Yirgacheffe, Colombia Huila, Kenya AA, Guatemala Antigua, Brazil Cerrado,
      Sumatra Mandheling, House Espresso, Swiss Water Decaf, Costa Rica Tarrazú, Rwanda Nyamasheke,
      Honduras Marcala, Peru Cajamarca, Breakfast Blend, French Roast, Panama Geisha, Burundi Kayanza`),
    items: list(`Whole Bean 250 g, Whole Bean 1 kg, Ground 250 g, Espresso Capsules ×10, Drip Bags ×8,
      Cold Brew Concentrate 1 L, Sample Trio, Green Beans 1 kg, Gift Set, Whole Bean 500 g, Ground 500 g,
      Subscription Box, Filter Roast 340 g`),
    usd: [8, 90],
  },
  {
    shop: ['Ceramics', 'Pottery', 'Clay Studio'],
    varieties: list(`Celadon, Tenmoku, Speckled Oat, Cobalt, Ash Glaze, Shino, Matte White, Terracotta,
      Sage, Charcoal, Ochre, Seafoam, Rust, Blush, Midnight`),
    items: list(`Mug, Espresso Cup, Tea Bowl, Dinner Plate, Side Plate, Pasta Bowl, Serving Platter, Vase,
      Planter, Teapot, Pitcher, Butter Dish, Salt Cellar, Candle Holder`),
    usd: [12, 180],
  },
  {
    shop: ['Outfitters', 'Outdoor Supply', 'Trail Co.'],
    varieties: list(`Alpine, Ridgeline, Summit, Backcountry, Ultralight, Coastal, Trailhead, Basecamp,
      Storm, Glacier, Canyon, Expedition, Fjord, Timberline`),
    items: list(`Daypack 22 L, Rain Shell, Fleece Jacket, Trekking Poles, Headlamp, Insulated Bottle,
      Camp Stove, Sleeping Bag, Tent 2P, Merino Socks, Gaiters, Dry Bag 10 L, Hiking Boots, Beanie, Sun Hoodie`),
    usd: [15, 450],
  },
  {
    shop: ['Paper Goods', 'Stationers', 'Paper Co.'],
    varieties: list(`Dot Grid, Lined, Kraft, Linen, Pocket, A5, Letterpress, Watercolour, Recycled, Vellum,
      Marbled, Botanical, Midnight, Classic, Squared`),
    items: list(`Notebook, Journal, Sketchbook, Planner, Fountain Pen, Ink Bottle 50 ml, Envelope Set,
      Washi Tape, Greeting Card, Desk Pad, Pencil Set, Sticky Notes, Bookmark, Postcard Set`),
    usd: [3, 120],
  },
  {
    shop: ['Apothecary', 'Botanicals', 'Skin Co.'],
    varieties: list(`Rosehip, Manuka Honey, Lavender, Vitamin C, Sea Buckthorn, Calendula, Green Tea, Oat,
      Hyaluronic, Neroli, Charcoal, Shea, Bakuchiol, Aloe, Kawakawa`),
    items:
      list(`Face Oil 30 ml, Cleanser 150 ml, Night Cream 50 ml, Serum 30 ml, Lip Balm, Body Lotion 250 ml,
      Hand Cream 75 ml, Bar Soap, Clay Mask, Toner 200 ml, Eye Cream 15 ml, Travel Kit, Body Wash 300 ml, Sunscreen SPF 50`),
    usd: [8, 95],
  },
  {
    shop: ['Kitchen Supply', 'Cookware', 'Kitchen Co.'],
    varieties: list(`Cast Iron, Carbon Steel, Copper, Enamel, Olive Wood, Stainless, Bamboo, Walnut,
      Nonstick, Stoneware, Marble, Beechwood, Black Steel, Ceramic`),
    items: list(`Skillet 26 cm, Dutch Oven 5 L, Chef Knife 20 cm, Cutting Board, Saucepan 18 cm, Wok,
      Spatula, Mortar and Pestle, Salad Bowl, Roasting Tin, Knife Block, Utensil Set, Rolling Pin, Colander,
      Sauté Pan 28 cm`),
    usd: [9, 320],
  },
  {
    shop: ['Pet Supply', 'Pet Co.', 'Pets'],
    varieties: list(`Grain-Free, Organic, Salmon, Chicken, Lamb, Hypoallergenic, Senior, Puppy, Kitten,
      Dental, Orthopaedic, Reflective, Waterproof, Venison, Duck`),
    items: list(`Dry Food 2 kg, Wet Food ×12, Treats 200 g, Chew Toy, Leash, Harness, Collar, Bed,
      Scratching Post, Litter 10 L, Grooming Brush, Travel Bowl, Dry Food 7 kg, Jacket`),
    usd: [5, 150],
  },
  {
    shop: ['Cycles', 'Bike Shop', 'Cycle Works'],
    varieties: list(`Carbon, Alloy, Tubeless, Gravel, Road, MTB, Commuter, Aero, Touring, Track,
      All-Season, Enduro, Cyclocross, Winter`),
    items: list(`Wheelset, Tyre 700×32, Saddle, Handlebar, Chain 11-speed, Brake Pads, Pedals, Bottle Cage,
      Front Light, Rear Light, Lock, Jersey, Bib Shorts, Gloves, Frame Bag`),
    usd: [8, 900],
  },
  {
    shop: ['Yarns', 'Wool Co.', 'Knit Shop'],
    varieties: list(`Merino, Alpaca, Mohair, Cashmere Blend, Organic Cotton, Linen, Sock, Chunky, Lace, Aran,
      DK, Fingering, Silk Blend, Hand-Dyed, Possum Merino`),
    items: list(`Skein 100 g, Mini Skein Set, Cone 500 g, Knitting Kit, Crochet Kit, Circular Needles,
      Pattern, Project Bag, Stitch Markers, Sweater Quantity, Skein 50 g, Blanket Kit, Hat Kit, Gift Box`),
    usd: [4, 140],
  },
  {
    shop: ['Candle Co.', 'Candle Works', 'Home Fragrance'],
    varieties: list(`Fig Leaf, Sandalwood, Sea Salt, Amber, Cedar, Bergamot, Vanilla Bean, Smoked Oak, Rose,
      Pine Forest, Tobacco Leaf, Orange Blossom, Vetiver, Tuberose, Black Tea`),
    items: list(`Candle 200 g, Candle 450 g, Travel Tin, Reed Diffuser 100 ml, Room Spray, Wax Melts,
      Three-Wick Candle, Refill 200 g, Gift Set, Hand Wash 300 ml, Incense ×30, Diffuser Refill 250 ml, Votive ×3, Car Diffuser`),
    usd: [6, 95],
  },
  {
    shop: ['Plant Shop', 'Nursery', 'Greenhouse'],
    varieties: list(`Monstera, Fiddle Leaf Fig, Snake Plant, Pothos, Calathea, String of Pearls, Olive Tree,
      ZZ Plant, Peace Lily, Bird of Paradise, Maidenhair Fern, Rubber Plant, Aloe Vera, Hoya, Kentia Palm`),
    items: list(`9 cm Pot, 12 cm Pot, 14 cm Pot, 17 cm Pot, 21 cm Pot, 24 cm Pot, 30 cm Pot, Hanging Basket,
      Cutting, Terrarium, Gift Box, Starter Kit, Ceramic Pot Bundle, Floor Plant XL`),
    usd: [6, 250],
  },
];

/** The first word of a shop's name. */
const SHOP_NAME_STARTS = list(`Harbour, Northwind, Copper Kettle, Little Fern, Blue Door, Juniper, Fernwood,
  Saltwater, Old Mill, Kōwhai, Sugarloaf, Maple & Moss, Foxglove, Wren, Ironbark, Tidewater, Half Moon,
  Hollow Oak, Brightwater, Cedar Lane, Sparrow, Kestrel, Red Barn, Stonefruit, Riverbend, Lighthouse,
  Wild Thyme, Bramble, Goldcrest, Seven Hills, Honeybee, Paper Lantern, Quarry, Driftwood, Orchard Street,
  Silver Birch, Pōhutukawa, Cobblestone, Marigold, Thistle, Willowbank, Beacon, Ember, Heron, Clover,
  Westwind, Granite, Larkspur, Nine Lives, Sakura, Linden, Rosemary, Aurora, Cinder, Meadowlark, Otter,
  Pinecone, Saffron, Tamarind, Sundial`);

/** A comma-separated list, wrapped like prose: line breaks inside an entry count as one space. */
function list(entries: string): string[] {
  return entries
    .split(',')
    .map((entry) => entry.replace(/\s+/g, ' ').trim())
    .filter((entry) => entry !== '');
}

/** "Marie-Thérèse" → "marie-therese"; Japanese or Korean names give "", and the address a fallback. */
function slug(text: string): string {
  return text
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

export function merchantId(number: number): string {
  return `shop-${String(number).padStart(4, '0')}`;
}

interface PlannedMerchant {
  id: string;
  number: number;
  name: string;
  region: (typeof REGIONS)[number];
  category: (typeof CATEGORIES)[number];
  /** Multiplies customers, orders and reviews. */
  scale: number;
  products: number;
  customers: number;
  orders: number;
  reviews: number;
  firstProductId: number;
  firstCustomerId: number;
  firstOrderId: number;
}

/**
 * Shop names from a seeded shuffle of every first word × category ending, taken in merchant-number
 * order, so an appended run continues the list instead of repeating it. The zone cycles through
 * REGIONS by merchant number.
 */
function planMerchants(firstNumber: number, options: DashboardDatasetOptions): PlannedMerchant[] {
  const random = seededRandom(options.seed);
  const names = SHOP_NAME_STARTS.flatMap((start) =>
    CATEGORIES.flatMap((category) =>
      category.shop.map((ending) => ({ name: `${start} ${ending}`, category })),
    ),
  );
  for (let i = names.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [names[i], names[j]] = [names[j]!, names[i]!];
  }
  return Array.from({ length: options.merchants }, (_, index) => {
    const number = firstNumber + index;
    const planned = names[(number - 1) % names.length]!;
    const round = Math.floor((number - 1) / names.length);
    const scale = index === 0 ? (options.bigMerchantMultiplier ?? 1) : 1;
    return {
      id: merchantId(number),
      number,
      name: round === 0 ? planned.name : `${planned.name} ${round + 1}`,
      region: REGIONS[(number - 1) % REGIONS.length]!,
      category: planned.category,
      scale,
      products: options.productsPerMerchant,
      customers: options.customersPerMerchant * scale,
      orders: options.ordersPerMerchant * scale,
      reviews: options.reviewsPerMerchant * scale,
      firstProductId: 0,
      firstCustomerId: 0,
      firstOrderId: 0,
    };
  });
}

interface NamePools {
  given: string[];
  givenSlugs: string[];
  family: string[];
  familySlugs: string[];
  /** Per locale: where its names start in the pools (1-based, as WITH ORDINALITY counts) and how many. */
  ranges: Record<
    NameLocale,
    { givenFrom: number; givenCount: number; familyFrom: number; familyCount: number }
  >;
}

/** Faker's name lists of each region's locale, concatenated so one SQL array holds them all. */
async function namePools(): Promise<NamePools> {
  const faker = (await import('@faker-js/faker')) as unknown as Record<
    string,
    { person?: { first_name?: Record<string, string[]>; last_name?: Record<string, string[]> } }
  >;
  const pools: NamePools = {
    given: [],
    givenSlugs: [],
    family: [],
    familySlugs: [],
    ranges: {} as NamePools['ranges'],
  };
  for (const locale of new Set(REGIONS.map((region) => region.names))) {
    const person = faker[locale]?.person;
    const single = (name: string) => !/\s/.test(name);
    const given = [
      ...new Set([...(person?.first_name?.female ?? []), ...(person?.first_name?.male ?? [])]),
    ].filter(single);
    const family = [...new Set(person?.last_name?.generic ?? person?.last_name?.female ?? [])].filter(single);
    if (given.length === 0 || family.length === 0) throw new Error(`faker has no ${locale} names`);
    pools.ranges[locale] = {
      givenFrom: pools.given.length + 1,
      givenCount: given.length,
      familyFrom: pools.family.length + 1,
      familyCount: family.length,
    };
    pools.given.push(...given);
    pools.givenSlugs.push(...given.map(slug));
    pools.family.push(...family);
    pools.familySlugs.push(...family.map(slug));
  }
  return pools;
}

/**
 * Deterministic draws: a hash of (row key, salt), so every value of every row replays from the seed
 * alone, whatever the chunking or the order rows are produced in.
 */
function draws(seed: number) {
  const base = BigInt(seed) * 2n ** 32n;
  const hash = (key: string, salt: number) =>
    sql`hashint8extended(${sql.raw(key)}, ${sql.lit(base + BigInt(salt))})`;
  return {
    /** Uniform in [0, 1). */
    uniform: (key: string, salt: number) =>
      sql<number>`((${hash(key, salt)} & 4503599627370495)::float8 / 4503599627370496)`,
    /** Integer in [0, bound). */
    below: (key: string, salt: number, bound: number | RawBuilder<unknown>) =>
      sql<number>`((${hash(key, salt)} & 9223372036854775807) % ${typeof bound === 'number' ? sql.lit(bound) : bound})::int`,
  };
}

interface RunContext {
  db: Kysely<DB>;
  options: DashboardDatasetOptions;
  merchants: PlannedMerchant[];
  anchor: Date;
  draw: ReturnType<typeof draws>;
  superuser: boolean;
  parallelism: number;
}

/**
 * Fills the dashboard's tables with set-based SQL (INSERT … SELECT over generate_series and unnest): new
 * merchants (numbered after the highest existing shop-…), their products, customers, orders with their
 * items, and reviews, in chunks of one transaction each; then rebuilds the new merchants' projections
 * from those rows with `rebuildDashboardProjections`, the same code `hotpath dashboard rebuild` runs.
 * Every id a row names comes from a block reserved for the run, and each price is a function of its
 * product's key, so orders, items and reviews never look up the products and customers they name.
 */
export async function generateDashboardDataset(
  db: Kysely<DB>,
  options: DashboardDatasetOptions,
): Promise<DashboardDatasetResult> {
  validate(options);
  const started = performance.now();
  const anchor = new Date(Math.floor((options.endAt ?? new Date()).getTime() / 1000) * 1000);
  const { rows: state } = await sql<{ last_merchant: number; superuser: boolean }>`
    SELECT coalesce(max(substring(merchant_id FROM '^shop-([0-9]+)$')::int), 0) AS last_merchant,
           (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser
    FROM merchants`.execute(db);
  const merchants = planMerchants((state[0]?.last_merchant ?? 0) + 1, options);
  const context: RunContext = {
    db,
    options,
    merchants,
    anchor,
    draw: draws(options.seed),
    superuser: state[0]?.superuser === true,
    parallelism: options.parallelism ?? 1,
  };

  await bulk(context, async (trx) => {
    const total = (of: (merchant: PlannedMerchant) => number) =>
      merchants.reduce((sum, merchant) => sum + of(merchant), 0);
    let product = await reserveIdentityBlock(
      trx,
      'products',
      'product_id',
      total((m) => m.products),
    );
    let customer = await reserveIdentityBlock(
      trx,
      'customers',
      'customer_id',
      total((m) => m.customers),
    );
    let order = await reserveIdentityBlock(
      trx,
      'orders',
      'order_id',
      total((m) => m.orders),
    );
    for (const merchant of merchants) {
      merchant.firstProductId = product;
      merchant.firstCustomerId = customer;
      merchant.firstOrderId = order;
      product += merchant.products;
      customer += merchant.customers;
      order += merchant.orders;
    }
    await insertMerchants(trx, context);
    await insertProducts(trx, context);
  });
  const customers = await insertCustomers(context, await namePools());
  const { orders, orderItems } = await insertOrders(context);
  const reviews = await insertReviews(context);
  // Statistics first: the rebuild's plans depend on them.
  await tidy(db, ['merchants', 'products', 'customers', 'orders', 'order_items', 'reviews']);
  await rebuildProjections(context);
  await tidy(db, ['product_stats', 'customer_stats', 'merchant_totals', 'merchant_daily_sales']);
  const big = merchants[0];
  return {
    merchantIds: merchants.map((merchant) => merchant.id),
    bigMerchantId: big && big.scale > 1 ? big.id : undefined,
    products: merchants.reduce((sum, merchant) => sum + merchant.products, 0),
    customers,
    orders,
    orderItems,
    reviews,
    seconds: (performance.now() - started) / 1000,
  };
}

function validate(options: DashboardDatasetOptions): void {
  const positive = (name: keyof DashboardDatasetOptions, max: number) => {
    const value = options[name] ?? 1;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > max) {
      throw new RangeError(`${name} must be an integer from 1 to ${max} (got ${String(value)})`);
    }
  };
  positive('merchants', 99_999);
  positive('bigMerchantMultiplier', 1_000);
  const perMerchant = Math.floor((KEY_SPACE - 1) / (options.bigMerchantMultiplier ?? 1));
  positive('productsPerMerchant', KEY_SPACE - 1);
  positive('customersPerMerchant', perMerchant);
  positive('ordersPerMerchant', perMerchant);
  positive('reviewsPerMerchant', perMerchant);
  positive('itemsPerOrder', LINES_PER_ORDER_SPACE / 2);
  positive('days', 36_500);
  positive('parallelism', 64);
  if (!Number.isSafeInteger(options.seed) || options.seed < 0 || options.seed >= 2 ** 31) {
    throw new RangeError(`seed must be an integer from 0 to ${2 ** 31 - 1} (got ${options.seed})`);
  }
}

/**
 * One transaction of bulk work. Its statements may outlast the service's statement timeout, which
 * guards requests. When `skipTriggers` and the role is a superuser, per-row triggers are skipped: the
 * foreign keys hold by construction, and the statement writes whatever a trigger would have.
 */
function bulk<T>(
  context: RunContext,
  work: (trx: Kysely<DB>) => Promise<T>,
  skipTriggers = false,
): Promise<T> {
  return context.db.transaction().execute(async (trx) => {
    // JIT compiling these long expressions costs more than it saves on a chunk; its sorts fit in memory;
    // every row's draws differ, so memoizing a lateral step only costs.
    await sql`SET LOCAL statement_timeout = 0; SET LOCAL jit = off; SET LOCAL work_mem = '64MB';
      SET LOCAL enable_memoize = off`.execute(trx);
    if (skipTriggers && context.superuser)
      await sql`SET LOCAL session_replication_role = replica`.execute(trx);
    return work(trx);
  });
}

/** A merchant's rows `from`..`to` (ordinals, 1-based) of one kind. */
interface Segment {
  merchant: PlannedMerchant;
  from: number;
  to: number;
}

/**
 * Cuts every merchant's rows into chunks of at most `perChunk`: several small merchants share a chunk,
 * a big one spans several. Chunks follow merchant order, so a merchant's rows sit together on disk.
 */
function chunksOf(context: RunContext, count: (merchant: PlannedMerchant) => number, perChunk: number) {
  const chunks: Segment[][] = [];
  let current: Segment[] = [];
  let room = perChunk;
  for (const merchant of context.merchants) {
    for (let from = 1; from <= count(merchant); ) {
      const to = Math.min(count(merchant), from + room - 1);
      current.push({ merchant, from, to });
      room -= to - from + 1;
      from = to + 1;
      if (room === 0) {
        chunks.push(current);
        current = [];
        room = perChunk;
      }
    }
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** Runs one kind of chunk through `write`, reporting rows done after each. */
async function writeChunks(
  context: RunContext,
  phase: DashboardDatasetPhase,
  count: (merchant: PlannedMerchant) => number,
  perChunk: number,
  write: (trx: Kysely<DB>, segments: Segment[]) => Promise<number>,
): Promise<number> {
  const total = context.merchants.reduce((sum, merchant) => sum + count(merchant), 0);
  let done = 0;
  let written = 0;
  context.options.onProgress?.(0, total, phase);
  await inParallel(chunksOf(context, count, perChunk), context.parallelism, async (segments) => {
    const chunkRows = await bulk(context, (trx) => write(trx, segments), true);
    written += chunkRows;
    done += segments.reduce((sum, segment) => sum + segment.to - segment.from + 1, 0);
    context.options.onProgress?.(done, total, phase);
  });
  return written;
}

/**
 * VACUUM ANALYZE, outside any transaction: statistics for the planner, the visibility map for
 * index-only scans, hint bits set once rather than by the first readers, so what runs next (the
 * rebuild, then a benchmark) measures steady state.
 */
async function tidy(db: Kysely<DB>, tables: string[]): Promise<void> {
  await db.connection().execute(async (connection) => {
    await sql`SET statement_timeout = 0`.execute(connection);
    try {
      await sql`VACUUM (ANALYZE) ${sql.join(tables.map((table) => sql.table(table)))}`.execute(connection);
    } finally {
      await sql`RESET statement_timeout`.execute(connection);
    }
  });
}

/** A row's key for its draws: its merchant's number and its ordinal there (each kind of row has its own salts). */
const rowKey = (merchantNumber: string, ordinal: string) =>
  `(${merchantNumber}::bigint * ${KEY_SPACE} + ${ordinal})`;

/**
 * A product's price in the merchant's minor units, from its key alone: the products statement and
 * every order item compute the same value, so an item's unit price is its product's price without
 * reading the product.
 */
function productPrice(context: RunContext, productKey: string, m: string): RawBuilder<number> {
  const { uniform } = context.draw;
  // Most of a catalogue sits at the cheap end of its range: the draw is skewed to the bottom.
  return sql<number>`(ceil(round((${sql.raw(m)}.usd_min + (${sql.raw(m)}.usd_max - ${sql.raw(m)}.usd_min)
      * power(${uniform(productKey, 40)}, 2.2)) * 100) * ${sql.raw(m)}.per_usd_cent / ${sql.raw(m)}.price_step)
    * ${sql.raw(m)}.price_step - ${sql.raw(m)}.price_tail)::bigint`;
}

async function insertMerchants(trx: Kysely<DB>, context: RunContext): Promise<void> {
  const { merchants, anchor, options } = context;
  await sql`
    INSERT INTO merchants (merchant_id, name, time_zone, currency, created_at)
    SELECT m.id, m.name, m.time_zone, m.currency,
           ${anchor.toISOString()}::timestamptz - make_interval(days => ${options.days} + 30 + m.n::int)
    FROM unnest(${merchants.map((m) => m.id)}::text[], ${merchants.map((m) => m.name)}::text[],
                ${merchants.map((m) => m.region.timeZone)}::text[], ${merchants.map((m) => m.region.currency)}::text[])
         WITH ORDINALITY AS m(id, name, time_zone, currency, n)`.execute(trx);
}

/** What a statement needs to price a merchant's products, as columns of `m`. */
function pricing(merchants: PlannedMerchant[]) {
  const currency = (merchant: PlannedMerchant) => CURRENCIES[merchant.region.currency]!;
  return sql`${merchants.map((m) => m.category.usd[0])}::float8[], ${merchants.map((m) => m.category.usd[1])}::float8[],
    ${merchants.map((m) => currency(m).perUsdCent)}::float8[], ${merchants.map((m) => currency(m).step)}::int[],
    ${merchants.map((m) => currency(m).tail)}::int[]`;
}
const PRICING_COLUMNS = sql.raw('usd_min, usd_max, per_usd_cent, price_step, price_tail');

/**
 * Products named variety × item, distinct within a shop; a few (about 8 %) below their reorder
 * threshold. The triggers run, so each product gets its product_stats row.
 */
async function insertProducts(trx: Kysely<DB>, context: RunContext): Promise<void> {
  const { merchants, anchor, draw } = context;
  const { uniform, below } = draw;
  await sql`
    WITH m AS (
      SELECT m.*, string_to_array(m.variety_list, '|') AS varieties, string_to_array(m.item_list, '|') AS items
      FROM unnest(${merchants.map((m) => m.id)}::text[], ${merchants.map((m) => m.number)}::int[],
                  ${merchants.map((m) => m.firstProductId)}::bigint[], ${merchants.map((m) => m.products)}::int[],
                  ${merchants.map((m) => m.category.varieties.join('|'))}::text[],
                  ${merchants.map((m) => m.category.items.join('|'))}::text[], ${pricing(merchants)})
           AS m(merchant_id, number, first_product_id, products, variety_list, item_list, ${PRICING_COLUMNS})
    )
    INSERT INTO products (product_id, merchant_id, name, price_minor, stock_quantity, reorder_threshold, updated_at)
    OVERRIDING SYSTEM VALUE
    SELECT m.first_product_id + n - 1, m.merchant_id,
           -- Variety and item shifted by the merchant, so shops of one kind do not list the same names.
           m.varieties[1 + (c.i % c.v + m.number) % c.v] || ' ' || m.items[1 + (c.i % c.combos / c.v + m.number) % c.t]
             || CASE WHEN c.i >= c.combos THEN ' (' || (c.i / c.combos + 1) || ')' ELSE '' END,
           ${productPrice(context, 'k', 'm')},
           CASE WHEN ${uniform('k', 41)} < 0.08 THEN ${below('k', 42, sql`s.threshold`)}
                ELSE s.threshold + ${below('k', 43, 600)} END,
           s.threshold,
           ${anchor.toISOString()}::timestamptz - make_interval(secs => ${below('k', 44, 30 * 86_400)})
    FROM m
    CROSS JOIN generate_series(1, m.products) AS n
    CROSS JOIN LATERAL (SELECT ${sql.raw(rowKey('m.number', 'n'))} AS k, n - 1 AS i, cardinality(m.varieties) AS v,
                               cardinality(m.items) AS t, cardinality(m.varieties) * cardinality(m.items) AS combos) c
    CROSS JOIN LATERAL (SELECT 5 + ${below('k', 45, 46)} AS threshold OFFSET 0) s
    ORDER BY 1`.execute(trx);
}

/** Customers: names as the shop's region writes them, most with an e-mail address. */
async function insertCustomers(context: RunContext, pools: NamePools): Promise<number> {
  const { uniform, below } = context.draw;
  return writeChunks(
    context,
    'customers',
    (m) => m.customers,
    CUSTOMERS_PER_CHUNK,
    async (trx, segments) => {
      const column = <T>(of: (segment: Segment) => T) => segments.map(of);
      const range = (segment: Segment) => pools.ranges[segment.merchant.region.names];
      // Names joined by their position: subscripting a long text[] walks it from the start every time.
      const result = await sql`
      WITH given AS (
        SELECT * FROM unnest(${pools.given}::text[], ${pools.givenSlugs}::text[]) WITH ORDINALITY AS g(name, slug, i)
      ),
      family AS (
        SELECT * FROM unnest(${pools.family}::text[], ${pools.familySlugs}::text[]) WITH ORDINALITY AS f(name, slug, i)
      )
      INSERT INTO customers (customer_id, merchant_id, name, email)
      OVERRIDING SYSTEM VALUE
      SELECT s.first_customer_id + n - 1, s.merchant_id,
             CASE WHEN s.family_first THEN f.name || ' ' || g.name ELSE g.name || ' ' || f.name END,
             CASE WHEN ${uniform('k', 3)} < 0.93 THEN
               CASE WHEN g.slug <> '' AND f.slug <> '' THEN g.slug || '.' || f.slug
                    ELSE 'shopper' || ${below('k', 8, 100_000)} END
               || CASE WHEN ${uniform('k', 4)} < 0.5 THEN (${below('k', 5, 1000)})::text ELSE '' END
               || '@' || CASE WHEN ${uniform('k', 6)} < 0.3 THEN s.mail
                              ELSE (${MAIL_DOMAINS}::text[])[1 + ${below('k', 7, MAIL_DOMAINS.length)}] END END
      FROM unnest(${column((s) => s.merchant.id)}::text[], ${column((s) => s.merchant.number)}::int[],
                  ${column((s) => s.merchant.firstCustomerId)}::bigint[], ${column((s) => s.from)}::int[],
                  ${column((s) => s.to)}::int[], ${column((s) => range(s).givenFrom)}::int[],
                  ${column((s) => range(s).givenCount)}::int[], ${column((s) => range(s).familyFrom)}::int[],
                  ${column((s) => range(s).familyCount)}::int[],
                  ${column((s) => ['ja', 'ko'].includes(s.merchant.region.names))}::bool[],
                  ${column((s) => s.merchant.region.mail)}::text[])
           AS s(merchant_id, number, first_customer_id, from_n, to_n, given_from, given_count, family_from,
                family_count, family_first, mail)
      CROSS JOIN generate_series(s.from_n, s.to_n) AS n
      CROSS JOIN LATERAL (SELECT ${sql.raw(rowKey('s.number', 'n'))} AS k) key
      CROSS JOIN LATERAL (
        SELECT s.given_from + ${below('k', 1, sql`s.given_count`)} AS g,
               s.family_from + ${below('k', 2, sql`s.family_count`)} AS f
        OFFSET 0
      ) p
      JOIN given g ON g.i = p.g
      JOIN family f ON f.i = p.f
      ORDER BY 1`.execute(trx);
      const written = Number(result.numAffectedRows ?? 0);
      // Without triggers, the customers' stats rows are this statement's to write.
      if (context.superuser) {
        await sql`
        INSERT INTO customer_stats (customer_id, merchant_id)
        SELECT c.customer_id, c.merchant_id
        FROM unnest(${column((s) => s.merchant.firstCustomerId + s.from - 1)}::bigint[],
                    ${column((s) => s.merchant.firstCustomerId + s.to - 1)}::bigint[]) AS s(first_id, last_id)
        JOIN customers c ON c.customer_id BETWEEN s.first_id AND s.last_id
        ORDER BY 1`.execute(trx);
      }
      return written;
    },
  );
}

/**
 * Orders and their items, in one statement per chunk. An order's day is drawn in the merchant's zone
 * (recent days a little busier) and its time of day from a shopping curve (9:00 to 1:00, busiest in
 * the late afternoon) mixed with a fifth spread over all 24 hours, so local midnight has orders too.
 * Times after `endAt` on today's local date move to an earlier day. Products and customers are drawn with a
 * skew, so a few of each lead. The order's total is the sum of its lines.
 */
async function insertOrders(context: RunContext): Promise<{ orders: number; orderItems: number }> {
  const { uniform, below } = context.draw;
  const { options, anchor } = context;
  const lines = 2 * options.itemsPerOrder - 1;
  let orders = 0;
  const orderItems = await writeChunks(
    context,
    'orders',
    (m) => m.orders,
    ORDERS_PER_CHUNK,
    async (trx, segments) => {
      const column = <T>(of: (segment: Segment) => T) => segments.map(of);
      const result = await sql`
      WITH s AS MATERIALIZED (
        SELECT s.*, (${anchor.toISOString()}::timestamptz AT TIME ZONE s.time_zone)::date AS today
        FROM unnest(${column((s) => s.merchant.id)}::text[], ${column((s) => s.merchant.number)}::int[],
                    ${column((s) => s.merchant.region.timeZone)}::text[], ${column((s) => s.from)}::int[],
                    ${column((s) => s.to)}::int[], ${column((s) => s.merchant.firstOrderId)}::bigint[],
                    ${column((s) => s.merchant.firstProductId)}::bigint[], ${column((s) => s.merchant.products)}::int[],
                    ${column((s) => s.merchant.firstCustomerId)}::bigint[],
                    ${column((s) => s.merchant.customers)}::int[], ${pricing(column((s) => s.merchant))})
             AS s(merchant_id, number, time_zone, from_n, to_n, first_order_id, first_product_id, products,
                  first_customer_id, customers, ${PRICING_COLUMNS})
      ),
      o AS MATERIALIZED (
        SELECT s.merchant_id, s.number, s.first_product_id, s.products, s.usd_min, s.usd_max, s.per_usd_cent,
               s.price_step, s.price_tail, s.first_order_id + n - 1 AS order_id, key.k,
               s.first_customer_id + floor(s.customers * power(${uniform('key.k', 10)}, 1.7))::bigint AS customer_id,
               1 + ${below('key.k', 11, lines)} AS lines,
               CASE WHEN lt.placed_at > ${anchor.toISOString()}::timestamptz
                 THEN least(lt.placed_at - make_interval(days => 1 + ${below('key.k', 17, Math.max(options.days - 1, 1))}),
                            ${anchor.toISOString()}::timestamptz)
                 ELSE lt.placed_at END AS created_at
        FROM s
        CROSS JOIN generate_series(s.from_n, s.to_n) AS n
        CROSS JOIN LATERAL (SELECT ${sql.raw(rowKey('s.number', 'n'))} AS k) key
        CROSS JOIN LATERAL (
          SELECT (s.today - least(${options.days - 1}, floor(${options.days} * (1 - power(${uniform('key.k', 12)}, 0.77))))::int
                  + make_interval(secs => CASE WHEN ${uniform('key.k', 13)} < 0.2 THEN ${below('key.k', 14, 86_400)}
                      ELSE (32400 + floor((${uniform('key.k', 15)} + ${uniform('key.k', 16)}) * 28800))::int % 86400 END))
                 AT TIME ZONE s.time_zone AS placed_at
          OFFSET 0
        ) lt
      ),
      i AS MATERIALIZED (
        SELECT o.order_id, line, o.first_product_id + pick.ordinal - 1 AS product_id,
               CASE WHEN q.x < 0.75 THEN 1 WHEN q.x < 0.92 THEN 2 WHEN q.x < 0.97 THEN 3
                    ELSE 4 + ${below('pick.ik', 21, 7)} END AS quantity,
               ${productPrice(context, 'pick.pk', 'o')} AS unit_price_minor
        FROM o
        CROSS JOIN generate_series(1, o.lines) AS line
        CROSS JOIN LATERAL (
          SELECT ik, ${sql.raw(rowKey('o.number', 'ordinal'))} AS pk, ordinal
          FROM (SELECT o.k * ${LINES_PER_ORDER_SPACE} + line AS ik OFFSET 0) line_key,
               LATERAL (SELECT 1 + floor(o.products * power(${uniform('ik', 20)}, 2))::int AS ordinal OFFSET 0) p
          OFFSET 0
        ) pick
        CROSS JOIN LATERAL (SELECT ${uniform('pick.ik', 22)} AS x OFFSET 0) q
      ),
      placed AS (
        INSERT INTO orders (order_id, merchant_id, customer_id, total_minor, created_at)
        OVERRIDING SYSTEM VALUE
        SELECT o.order_id, o.merchant_id, o.customer_id, t.total, o.created_at
        FROM o JOIN (SELECT order_id, sum(quantity * unit_price_minor)::bigint AS total FROM i GROUP BY order_id) t
          USING (order_id)
        ORDER BY o.order_id
      )
      INSERT INTO order_items (order_id, product_id, quantity, unit_price_minor)
      SELECT order_id, product_id, quantity, unit_price_minor FROM i ORDER BY order_id, line`.execute(trx);
      orders += segments.reduce((sum, segment) => sum + segment.to - segment.from + 1, 0);
      return Number(result.numAffectedRows ?? 0);
    },
  );
  return { orders, orderItems };
}

/**
 * Reviews by the merchant's customers, most of them of the best sellers; each product has a quality
 * of its own its ratings scatter around, so average ratings differ from product to product.
 */
async function insertReviews(context: RunContext): Promise<number> {
  const { uniform, below } = context.draw;
  const { options, anchor } = context;
  return writeChunks(
    context,
    'reviews',
    (m) => m.reviews,
    REVIEWS_PER_CHUNK,
    async (trx, segments) => {
      const column = <T>(of: (segment: Segment) => T) => segments.map(of);
      const result = await sql`
      INSERT INTO reviews (product_id, customer_id, rating, created_at)
      SELECT s.first_product_id + p.ordinal - 1, s.first_customer_id + ${below('key.k', 31, sql`s.customers`)},
             greatest(1, least(5, round(p.quality + (${uniform('key.k', 32)} + ${uniform('key.k', 33)}
                                                     + ${uniform('key.k', 34)} - 1.5) * 1.6)))::smallint,
             ${anchor.toISOString()}::timestamptz - make_interval(secs => ${below('key.k', 35, options.days * 86_400)})
      FROM unnest(${column((s) => s.merchant.number)}::int[], ${column((s) => s.from)}::int[],
                  ${column((s) => s.to)}::int[], ${column((s) => s.merchant.firstProductId)}::bigint[],
                  ${column((s) => s.merchant.products)}::int[], ${column((s) => s.merchant.firstCustomerId)}::bigint[],
                  ${column((s) => s.merchant.customers)}::int[])
           AS s(number, from_n, to_n, first_product_id, products, first_customer_id, customers)
      CROSS JOIN generate_series(s.from_n, s.to_n) AS n
      CROSS JOIN LATERAL (SELECT ${sql.raw(rowKey('s.number', 'n'))} AS k) key
      CROSS JOIN LATERAL (
        SELECT ordinal, 2.8 + 2.2 * ${uniform(rowKey('s.number', 'ordinal'), 36)} AS quality
        FROM (SELECT 1 + floor(s.products * power(${uniform('key.k', 30)}, 1.6))::int AS ordinal OFFSET 0) o
        OFFSET 0
      ) p
      ORDER BY s.number, n`.execute(trx);
      return Number(result.numAffectedRows ?? 0);
    },
  );
}

/** The new merchants' projections, rebuilt from their rows, `parallelism` merchants at once. */
async function rebuildProjections(context: RunContext): Promise<void> {
  const total = context.merchants.length;
  let done = 0;
  context.options.onProgress?.(0, total, 'projections');
  await inParallel(context.merchants, context.parallelism, async (merchant) => {
    await rebuildDashboardProjections(context.db, { merchantId: merchant.id, showProgress: false });
    done += 1;
    context.options.onProgress?.(done, total, 'projections');
  });
}

/** An `onProgress` that draws a progress bar per phase on stderr. */
export const progressBars = (label: string) =>
  phasedProgress<DashboardDatasetPhase>(label, (phase) => (phase === 'projections' ? 'merchants' : phase));
