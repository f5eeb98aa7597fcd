"""Storage: the only package with SQL: connections (``db``), migrations, repositories."""
