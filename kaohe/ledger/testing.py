"""Test helpers of other apps' tests about the ledger."""


def takes_the_log(sql: str) -> bool:
    """Whether a captured query is the one that locks the log and claims an index: the
    UPDATE of the log head (SQLite, bulk appends) or a call of `ledger_append` (PostgreSQL)."""
    return (sql.startswith("UPDATE") and "ledger_loghead" in sql) or "ledger_append(" in sql
