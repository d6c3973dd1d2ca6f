"""SchemaHub: crypto trade history from many exchanges in one Iceberg table."""

__version__ = "0.1.0"
