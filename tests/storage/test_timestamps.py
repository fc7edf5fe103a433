"""Stored timestamps: text order is time order, so SQL compares them without parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from storage._time import from_db, to_db

aware = st.builds(
    lambda naive, minutes: naive.replace(tzinfo=timezone(timedelta(minutes=minutes))),
    st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2200, 1, 1)),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
)


@given(aware, aware)
def test_text_order_is_time_order(a: datetime, b: datetime) -> None:
    """Comparing stored text compares instants, whatever zone they were given in."""
    assert (to_db(a) < to_db(b)) == (a < b)


@given(aware)
def test_round_trip_keeps_the_instant(instant: datetime) -> None:
    """Reading back gives the same instant, in UTC."""
    back = from_db(to_db(instant))
    assert back == instant
    assert back.tzinfo is UTC
