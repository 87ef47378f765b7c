"""Storage: the engine and its transactions, the tables, the audit log, the migrations."""
