"""Shared runtime of the SQL destinations (PostgreSQL, DuckDB)."""
