"""The database layer under the models: column types, SQLite's settings, dialect helpers."""
