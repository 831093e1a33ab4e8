-- The example's orders: psql "host=127.0.0.1 dbname=test user=postgres" -f scripts/seed.sql
DROP SCHEMA IF EXISTS sqlflow_example CASCADE;
CREATE SCHEMA sqlflow_example;
CREATE TABLE sqlflow_example.orders (
    id bigint PRIMARY KEY, customer bigint NOT NULL, amount numeric(10, 2), updated_at timestamptz NOT NULL
);
INSERT INTO sqlflow_example.orders
SELECT g, 1 + g % 4, g * 2.5, TIMESTAMPTZ '2024-01-01 00:00:00+00' + g * interval '1 hour'
FROM generate_series(1, 100) g;
