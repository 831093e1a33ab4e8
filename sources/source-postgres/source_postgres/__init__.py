from source_postgres.source import SourcePostgres

__all__ = ["SourcePostgres"]
