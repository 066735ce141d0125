"""Dash pages of the command center: one file per page, registered with dash.register_page.

A page is its file plus its strings in the catalogs (``dashboard/locales``): nothing else
lists it. Its ``dash.register_page`` call declares the rest:

- ``path``, ``title`` and ``name`` (``N_("...")``: the navigation shows it translated);
- ``order``: its place in the navigation (ascending);
- ``nav=False`` keeps it out of the navigation (the login page);
- ``roles``: the roles that see it in the navigation (default: everyone);
- ``drawn``: a CSS selector that shows its callbacks have drawn it (the browser tests walk
  every page of the navigation and wait for it).

``tests/dashboard/test_pages.py`` checks every registered page against this.
"""

from __future__ import annotations

from typing import Any

import dash


def nav_pages(role: str | None) -> list[dict[str, Any]]:
    """The registered pages the navigation shows to ``role`` (None: nobody logged in), in
    their declared order."""
    return [
        page
        for page in dash.page_registry.values()
        if page.get("nav", True) and (page.get("roles") is None or role in page["roles"])
    ]
