"""The symbol registry, admin audit and fill ledger in Postgres."""
