"""The database going away under a request (found by the PostgreSQL restart fault drill, ``manage.py fault_drills
--only postgres``): the API answers 503 ``unavailable`` with Retry-After in its error shape, not a bare 500
"An unexpected error occurred."; the next request, on a fresh connection, works. A real lost connection: the
request's PostgreSQL backend is terminated from another connection."""

from __future__ import annotations

from django.db import connection, connections

from config.api import DATABASE_UNAVAILABLE


def _terminate_this_connection() -> None:
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        other.close()


def test_a_lost_database_connection_is_a_clear_503_and_the_next_request_works(transactional_db, alice, api_client_for):
    client = api_client_for(alice)
    _terminate_this_connection()
    try:
        response = client.get("/api/v1/conversations/")
    finally:
        connection.close()  # the test client keeps Django from closing the broken connection itself
    assert response.status_code == 503
    assert response.json() == {"detail": DATABASE_UNAVAILABLE, "code": "unavailable"}
    assert response["Retry-After"] == "5"
    assert client.get("/api/v1/conversations/").status_code == 200


def test_only_a_missing_database_is_an_outage_other_operational_errors_stay_500s():
    """A statement or lock timeout, a deadlock or a full disk is an OperationalError too: answering those 503
    "retry in 5 s" hid bugs from the 500 alerts (review of the fault drills' fix)."""
    import psycopg
    from django.db import InterfaceError, OperationalError

    from config.api import database_unreachable

    def wrapped(cause: Exception) -> OperationalError:
        error = OperationalError(str(cause))
        error.__cause__ = cause
        return error

    assert database_unreachable(InterfaceError("connection already closed"))
    assert database_unreachable(wrapped(psycopg.OperationalError("the connection is closed")))  # no SQLSTATE
    assert database_unreachable(wrapped(psycopg.errors.AdminShutdown("terminating connection")))
    assert database_unreachable(wrapped(psycopg.errors.TooManyConnections("too many clients")))
    assert not database_unreachable(wrapped(psycopg.errors.QueryCanceled("statement timeout")))
    assert not database_unreachable(wrapped(psycopg.errors.DeadlockDetected("deadlock detected")))
    assert not database_unreachable(wrapped(psycopg.errors.DiskFull("could not extend file")))
    assert not database_unreachable(ValueError("not a database error"))
