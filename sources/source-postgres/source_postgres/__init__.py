"""source-postgres: PostgreSQL tables as Airbyte streams (`source_postgres.source.SourcePostgres`)."""
