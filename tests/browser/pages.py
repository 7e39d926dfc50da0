"""Waits for the app's own pages in a browser."""


def htmx_settled(page) -> None:
    """Wait until htmx has finished with what it swapped in: new content gets its
    behaviour when it settles, a moment after it appears."""
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-added, .htmx-settling')"
    )
