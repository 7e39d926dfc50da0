from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import require_safe

from apps.accounts.selectors import is_member
from apps.sites.selectors import site_get_public
from apps.tracker.selectors import demo_page_for_site, tracker_script_for_site

JAVASCRIPT = "application/javascript; charset=utf-8"


@gzip_page
@require_safe
def tracker_script(request: HttpRequest, site_key: str) -> HttpResponse:
    """The tracking script for one site, cacheable by browsers and CDNs for five minutes,
    compressed for browsers that accept it, and loadable by pages that only embed
    resources which allow it (Cross-Origin-Embedder-Policy: require-corp)."""
    site = site_get_public(key=site_key)
    if site is None:
        response = HttpResponse("/* unknown site */\n", content_type=JAVASCRIPT, status=404)
        response["Cache-Control"] = "no-cache"
        return response
    response = HttpResponse(tracker_script_for_site(site=site), content_type=JAVASCRIPT)
    response["Cache-Control"] = "public, max-age=300"
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


@require_safe
def demo_page(request: HttpRequest, site_key: str) -> HttpResponse:
    """A pretend customer shop with the site's install snippet, for the members of the
    site's account. Not public: it runs on Cohort's own address, where any account's
    widget text ("your session expired, enter your password") would pass for Cohort's."""
    site = site_get_public(key=site_key)
    if site is not None and not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if site is None or not is_member(user=request.user, account_id=site.account_id):
        raise Http404("No such site.")
    page_origin = f"{request.scheme}://{request.get_host()}"
    demo = demo_page_for_site(site=site, page_origin=page_origin)
    response = render(request, "tracker/demo.html", {"demo": demo})
    # The demo stands in for a customer's page, whose own inline code calls hj().
    response["Content-Security-Policy"] = "script-src 'self' 'unsafe-inline'; object-src 'none'"
    return response
