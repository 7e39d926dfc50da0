"""A customer's page for browser tests: served by Playwright on its own origin, loading
our script and calling our live server cross-origin, as a real customer's site does."""

import json

# The queue stub alone: Hotjar's snippet has the same line, and so had Cohort's install
# snippet before it kept a second reference to the queue.
QUEUE_STUB = "window.hj=window.hj||function(){(hj.q=hj.q||[]).push(arguments)};"
# The install snippet's inline script (apps.sites.selectors.INSTALL_STUB).
STUB = QUEUE_STUB + "if(/\\.q\\s*=/.test(hj))window._cohortq=hj.q=hj.q||[];"


class CustomerPage:
    """Subclasses say what the page holds (`_serve`) and which answers to keep (`_record`)."""

    def __init__(self, page, live_server, site):
        self.page = page
        self.site = site
        self.origin = live_server.url.replace("localhost", "127.0.0.1")
        self.script_url = f"{live_server.url}/t/{site.key}.js"
        self.api = f"{live_server.url}/api/v1/sites/{site.key}"
        self.errors: list[str] = []
        page.on("response", self._record)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        # The page is served by Playwright, not from a loopback address; let it call ours.
        page.context.grant_permissions(["local-network-access"], origin=self.origin)
        page.route(f"{self.origin}/shop/**", self._serve)

    def _serve(self, route):
        raise NotImplementedError

    def refuse(self, route, status: int, code: str, message: str) -> None:
        """Answer an intercepted API request with an error, as the API would, readable by
        the page's origin."""
        route.fulfill(
            status=status,
            headers={"Access-Control-Allow-Origin": self.origin},
            content_type="application/json",
            body=json.dumps({"code": code, "message": message}),
        )

    def _record(self, response):
        pass

    def call(self, js):
        self.page.evaluate(f"() => {{ {js}; }}")
