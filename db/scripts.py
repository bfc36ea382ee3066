"""Running a multi-statement SQL script (the seed file) over asyncpg.

asyncpg prepares every statement it is handed, and a prepared statement is one statement;
its `execute` without arguments uses the simple query protocol, which takes a whole script.
"""

from __future__ import annotations

from sqlalchemy import Connection
from sqlalchemy.util import await_only


def run_script(connection: Connection, sql: str) -> None:
    """Run `sql` on the driver connection beneath `connection`, inside its transaction.

    Call it from synchronous code running under AsyncConnection.run_sync (as migrations do).
    """
    driver = connection.connection.driver_connection
    if driver is None:
        raise RuntimeError("no driver connection")
    await_only(driver.execute(sql))
