from django.db import models


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class AppendOnlyModel(models.Model):
    """Rows are written once: saving an existing row is refused, so a trail cannot be edited."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError(f"{type(self).__name__} rows are append-only.")
        super().save(*args, **kwargs)


def site_key() -> models.ForeignKey:
    """The site key every tenant table carries. It gets no index of its own: each tenant
    table has a composite index that starts with it (tests/common/test_site_keys.py
    checks), which serves reads by site and the foreign key's checks alike, and an index
    fewer is a write fewer for every row stored."""
    return models.ForeignKey(
        "sites.Site", on_delete=models.CASCADE, related_name="+", db_index=False
    )
