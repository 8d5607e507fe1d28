-- The merchant dashboard: shops, their catalogues, customers, orders and reviews (the source of
-- truth), and the projections the dashboard reads, written in the same transaction as every order,
-- review and stock change, so a dashboard costs the same for 100 orders as for 10 million.
-- Money is integer minor units (cents), never floating point.

CREATE TABLE merchants (
  merchant_id text PRIMARY KEY CHECK (merchant_id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
  name        text NOT NULL,
  -- IANA zone: "today" on the dashboard is the merchant's day, not the server's.
  time_zone   text NOT NULL,
  currency    text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE products (
  product_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  merchant_id       text NOT NULL REFERENCES merchants (merchant_id),
  name              text NOT NULL,
  price_minor       bigint NOT NULL CHECK (price_minor >= 0),
  stock_quantity    integer NOT NULL CHECK (stock_quantity >= 0),
  reorder_threshold integer NOT NULL DEFAULT 0 CHECK (reorder_threshold >= 0),
  updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX products_merchant_idx ON products (merchant_id);
-- Low-stock alerts: only the products below their threshold are in this index.
CREATE INDEX products_low_stock_idx ON products (merchant_id, stock_quantity) WHERE stock_quantity < reorder_threshold;

CREATE TABLE customers (
  customer_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  merchant_id text NOT NULL REFERENCES merchants (merchant_id),
  name        text NOT NULL,
  email       text
);
CREATE INDEX customers_merchant_idx ON customers (merchant_id);

CREATE TABLE orders (
  order_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  merchant_id text NOT NULL REFERENCES merchants (merchant_id),
  customer_id bigint NOT NULL REFERENCES customers (customer_id),
  total_minor bigint NOT NULL CHECK (total_minor >= 0),
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_merchant_created_idx ON orders (merchant_id, created_at);
CREATE INDEX orders_customer_idx ON orders (customer_id);

CREATE TABLE order_items (
  order_item_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  order_id         bigint NOT NULL REFERENCES orders (order_id),
  product_id       bigint NOT NULL REFERENCES products (product_id),
  quantity         integer NOT NULL CHECK (quantity > 0),
  unit_price_minor bigint NOT NULL CHECK (unit_price_minor >= 0)
);
CREATE INDEX order_items_order_idx ON order_items (order_id);
CREATE INDEX order_items_product_idx ON order_items (product_id);

CREATE TABLE reviews (
  review_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  product_id  bigint NOT NULL REFERENCES products (product_id),
  customer_id bigint NOT NULL REFERENCES customers (customer_id),
  rating      smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reviews_product_idx ON reviews (product_id);

-- Projections. Each row sums its own source rows only: a product's units and revenue from its order
-- items, its ratings from its reviews. (Joining reviews and order items to products in one query
-- multiplies rows and inflates both sums; kept apart, they cannot.)
CREATE TABLE product_stats (
  product_id    bigint PRIMARY KEY REFERENCES products (product_id),
  merchant_id   text NOT NULL,
  units_sold    bigint NOT NULL DEFAULT 0,
  revenue_minor bigint NOT NULL DEFAULT 0,
  rating_sum    bigint NOT NULL DEFAULT 0,
  rating_count  bigint NOT NULL DEFAULT 0
);
CREATE INDEX product_stats_top_idx ON product_stats (merchant_id, revenue_minor DESC, product_id);

CREATE TABLE customer_stats (
  customer_id       bigint PRIMARY KEY REFERENCES customers (customer_id),
  merchant_id       text NOT NULL,
  order_count       bigint NOT NULL DEFAULT 0,
  total_spent_minor bigint NOT NULL DEFAULT 0
);
CREATE INDEX customer_stats_top_idx ON customer_stats (merchant_id, total_spent_minor DESC, customer_id);

CREATE TABLE merchant_totals (
  merchant_id   text PRIMARY KEY REFERENCES merchants (merchant_id),
  order_count   bigint NOT NULL DEFAULT 0,
  revenue_minor bigint NOT NULL DEFAULT 0
);

-- Sales per day in the merchant's time zone at the time of the order.
CREATE TABLE merchant_daily_sales (
  merchant_id   text NOT NULL REFERENCES merchants (merchant_id),
  day           date NOT NULL,
  order_count   bigint NOT NULL DEFAULT 0,
  revenue_minor bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (merchant_id, day)
);

-- Every product and customer has its stats row from the start, so the top-N lists rank all of them,
-- unsold ones included, whoever inserts them (the demo, the generator, an import).
CREATE FUNCTION product_stats_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO product_stats (product_id, merchant_id) VALUES (NEW.product_id, NEW.merchant_id) ON CONFLICT DO NOTHING;
  RETURN NEW;
END $$;
CREATE TRIGGER products_stats_row AFTER INSERT ON products FOR EACH ROW EXECUTE FUNCTION product_stats_row();

CREATE FUNCTION customer_stats_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO customer_stats (customer_id, merchant_id) VALUES (NEW.customer_id, NEW.merchant_id) ON CONFLICT DO NOTHING;
  RETURN NEW;
END $$;
CREATE TRIGGER customers_stats_row AFTER INSERT ON customers FOR EACH ROW EXECUTE FUNCTION customer_stats_row();

CREATE FUNCTION merchant_totals_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO merchant_totals (merchant_id) VALUES (NEW.merchant_id) ON CONFLICT DO NOTHING;
  RETURN NEW;
END $$;
CREATE TRIGGER merchants_totals_row AFTER INSERT ON merchants FOR EACH ROW EXECUTE FUNCTION merchant_totals_row();

-- What each projection must say, computed from the base tables: the one definition `dashboard
-- rebuild` writes and `dashboard verify` compares against. Each sums one source table per row.
CREATE VIEW expected_product_stats AS
SELECT p.product_id, p.merchant_id,
       coalesce(sold.units_sold, 0) AS units_sold, coalesce(sold.revenue_minor, 0) AS revenue_minor,
       coalesce(rated.rating_sum, 0) AS rating_sum, coalesce(rated.rating_count, 0) AS rating_count
FROM products p
LEFT JOIN LATERAL (
  SELECT sum(oi.quantity)::bigint AS units_sold, sum(oi.quantity * oi.unit_price_minor)::bigint AS revenue_minor
  FROM order_items oi WHERE oi.product_id = p.product_id
) sold ON true
LEFT JOIN LATERAL (
  SELECT sum(r.rating)::bigint AS rating_sum, count(*)::bigint AS rating_count
  FROM reviews r WHERE r.product_id = p.product_id
) rated ON true;

CREATE VIEW expected_customer_stats AS
SELECT c.customer_id, c.merchant_id,
       coalesce(bought.order_count, 0) AS order_count, coalesce(bought.total_spent_minor, 0) AS total_spent_minor
FROM customers c
LEFT JOIN LATERAL (
  SELECT count(*)::bigint AS order_count, sum(o.total_minor)::bigint AS total_spent_minor
  FROM orders o WHERE o.customer_id = c.customer_id
) bought ON true;

CREATE VIEW expected_merchant_totals AS
SELECT m.merchant_id, coalesce(sold.order_count, 0) AS order_count, coalesce(sold.revenue_minor, 0) AS revenue_minor
FROM merchants m
LEFT JOIN LATERAL (
  SELECT count(*)::bigint AS order_count, sum(o.total_minor)::bigint AS revenue_minor
  FROM orders o WHERE o.merchant_id = m.merchant_id
) sold ON true;

CREATE VIEW expected_merchant_daily_sales AS
SELECT o.merchant_id, (o.created_at AT TIME ZONE m.time_zone)::date AS day,
       count(*)::bigint AS order_count, sum(o.total_minor)::bigint AS revenue_minor
FROM orders o JOIN merchants m ON m.merchant_id = o.merchant_id
GROUP BY o.merchant_id, (o.created_at AT TIME ZONE m.time_zone)::date;
