import pytest

from tests.factories import SiteFactory


@pytest.mark.django_db
def test_site_key_is_unguessable_and_url_safe():
    keys = {SiteFactory().key for _ in range(20)}
    assert len(keys) == 20
    assert all(len(k) == 22 and k.replace("-", "").replace("_", "").isalnum() for k in keys)
