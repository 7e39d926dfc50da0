"""Timestamps come out of PostgreSQL through psycopg's own loader (C with the binary build)
as aware datetimes in UTC, exactly as Django's loader gave them."""

import datetime

import psycopg
import pytest
from django.db import connection, connections
from psycopg.pq import Format

from apps.common.postgresql.base import SessionZoneTimestamptzLoader
from apps.identity.models import Profile

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("on_postgres")]

TIMESTAMPTZ = psycopg.postgres.types["timestamptz"].oid


def test_timestamps_are_read_in_utc_to_the_microsecond():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT '2026-01-01 10:00:00.123456+05'::timestamptz, "
            "'0044-03-15 12:00:00+00'::timestamptz, NULL::timestamptz"
        )
        shifted, ancient, missing = cursor.fetchone()

    assert shifted == datetime.datetime(2026, 1, 1, 5, 0, 0, 123456, tzinfo=datetime.UTC)
    assert shifted.tzinfo is datetime.UTC
    assert ancient == datetime.datetime(44, 3, 15, 12, 0, tzinfo=datetime.UTC)
    assert missing is None


def test_cursors_keep_the_connection_loader_which_reads_with_psycopgs_own(site):
    """Django registers its Python loader on a cursor when the connection's loader names
    another zone; here it names UTC, so every cursor reads with psycopg's default."""
    created = datetime.datetime(2026, 3, 1, 8, 30, 15, 5, tzinfo=datetime.UTC)
    profile = Profile.objects.create(site=site, created_at=created, updated_at=created)

    with connection.cursor() as cursor:
        loader_class = cursor.cursor.adapters.get_loader(TIMESTAMPTZ, Format.TEXT)

    assert loader_class is SessionZoneTimestamptzLoader
    default = psycopg.adapters.get_loader(TIMESTAMPTZ, Format.TEXT)
    assert type(loader_class(TIMESTAMPTZ).load.__self__) is default
    assert Profile.objects.get(pk=profile.pk).created_at == created


def test_a_database_with_its_own_time_zone_keeps_djangos_loader():
    """Django's zone for such a connection is not UTC, so its loader stays in place."""
    wrapper = connections.create_connection("default")
    wrapper.settings_dict = {**wrapper.settings_dict, "TIME_ZONE": "Europe/Paris"}

    context = wrapper.get_connection_params()["context"]

    assert context.get_loader(TIMESTAMPTZ, Format.TEXT) is not SessionZoneTimestamptzLoader
    assert context.get_loader(TIMESTAMPTZ, Format.TEXT).timezone == wrapper.timezone
