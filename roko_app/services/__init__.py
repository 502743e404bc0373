"""Use cases. Services take plain values, return plain values or models, raise
``DomainError`` subclasses and never commit: the view or job owns the transaction."""
