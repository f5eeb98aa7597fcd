"""Storage: the only package with SQL. aiosqlite connection setup, migrations, repositories."""
