"""Reads for the tracker: the script text served for a site, and the demo page's facts."""

import functools
import json
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from apps.billing.selectors import user_attributes_access
from apps.feedback_targeting.texts import WIDGET_TEXTS
from apps.sites.models import Site
from apps.sites.origins import origin_allowed
from apps.sites.selectors import site_install_snippet

SCRIPT_PATH = Path(settings.BASE_DIR) / "static" / "tracker" / "cohort.js"
# The argument the script's IIFE is called with; replaced by the site's configuration.
CONFIG_PLACEHOLDER = "/*cohort:config*/ null"
# Characters that must not appear raw in a JavaScript literal inside a served script
# (a `</script>` in an inline copy, line separators that end a statement in old engines).
_JS_ESCAPES = {ord("<"): "\\u003C", ord(">"): "\\u003E", ord("&"): "\\u0026"}
_JS_ESCAPES.update({0x2028: "\\u2028", 0x2029: "\\u2029"})


@functools.lru_cache(maxsize=1)
def _script_source(mtime_ns: int) -> str:
    source = SCRIPT_PATH.read_text(encoding="utf-8")
    if source.count(CONFIG_PLACEHOLDER) != 1:
        raise RuntimeError(f"{SCRIPT_PATH} must contain {CONFIG_PLACEHOLDER!r} exactly once.")
    return source


def tracker_api_base() -> str:
    """Where the script sends its calls: the public base it is served from."""
    return settings.COHORT_PUBLIC_BASE_URL.rstrip("/")


def tracker_script_for_site(*, site: Site) -> str:
    """The tracking script with the site's key, the API base and the widgets' own words in
    every language a widget can be set to filled in."""
    config = {"siteKey": site.key, "apiBase": tracker_api_base(), "texts": WIDGET_TEXTS}
    literal = json.dumps(config, ensure_ascii=False).translate(_JS_ESCAPES)
    source = _script_source(SCRIPT_PATH.stat().st_mtime_ns)
    return source.replace(CONFIG_PLACEHOLDER, literal, 1)


@dataclass(frozen=True)
class DemoPage:
    site_key: str
    snippet: str
    # Whether calls from the demo page can succeed; shown so a newcomer knows why not.
    user_attributes_enabled: bool
    # Why the account's plan refuses identify calls ("" when it does not).
    plan_refusal: str
    origin_allowed: bool
    page_origin: str


def demo_page_for_site(*, site: Site, page_origin: str) -> DemoPage:
    return DemoPage(
        site_key=site.key,
        snippet=site_install_snippet(site=site),
        user_attributes_enabled=site.user_attributes_enabled,
        plan_refusal=_plan_refusal(site),
        origin_allowed=origin_allowed(page_origin, site.allowed_origins),
        page_origin=page_origin,
    )


def _plan_refusal(site: Site) -> str:
    access = user_attributes_access(account=site.account)
    return "" if access.allowed else access.message
