"""``holdmusic serve``: the page where the media team checks, fixes, hears and publishes
hold music, and its JSON API. An interface beside ``cli``, on the same floor.

Modules:

- ``app``: the Starlette app (routes, handlers, security headers, rendering);
- ``_uses``: the one door to the use cases (the only module here that imports stages);
- ``auth``: users file, hashed tokens, sessions, CSRF (standard library only);
- ``uploads``: streamed multipart parsing under a hard cap, into a private folder;
- ``work``: the private work area (uploads and what is made from them);
- ``jobs``: background runs, their progress events, one run per config at a time;
- ``auditlog``: the append-only JSON-lines audit log;
- ``waveform``: a waveform as numbers for the SVG template;
- ``templates/`` and ``static/``: Jinja2 templates and hand-written JS/CSS (no build step).

Needs the ``serve`` extra (starlette, uvicorn, python-multipart, jinja2); importing this
package alone does not.
"""

from __future__ import annotations

SERVE_MODULES = ("starlette", "uvicorn", "python_multipart", "jinja2")
INSTALL_HINT = (
    "pip install '.[serve]' in a clone of holdmusic "
    "(a wheel: pip install 'holdmusic-<version>-py3-none-any.whl[serve]')"
)


def missing_extra() -> str | None:
    """The first module of the serve extra that cannot be imported, or None."""
    import importlib

    for name in SERVE_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            return name
    return None
