-- Data for acceptance tests and the demo: run with psql against the configured database.
DROP SCHEMA IF EXISTS acceptance CASCADE;
CREATE SCHEMA acceptance;
CREATE TABLE acceptance.customers (
    id bigint PRIMARY KEY,
    name text NOT NULL,
    email text,
    balance numeric(12, 2),
    active boolean,
    signed_up date,
    updated_at timestamptz NOT NULL
);
INSERT INTO acceptance.customers
SELECT g, 'Customer ' || g, 'c' || g || '@example.com', round((g * 13.37)::numeric, 2), g % 3 <> 0,
       DATE '2024-01-01' + g % 365, TIMESTAMPTZ '2024-01-01 00:00:00+00' + (g / 3) * interval '1 hour'
FROM generate_series(1, 1000) g;
CREATE TABLE acceptance.events (id bigint, customer_id bigint, kind text, payload jsonb, at timestamptz);
INSERT INTO acceptance.events
SELECT g, 1 + g % 1000, (ARRAY['view', 'click', 'buy'])[1 + g % 3], jsonb_build_object('n', g),
       TIMESTAMPTZ '2024-01-01 00:00:00+00' + g * interval '1 minute'
FROM generate_series(1, 5000) g;
