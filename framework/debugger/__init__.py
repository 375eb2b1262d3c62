"""``actionkit debugger``: a local web page over the sync run history.

:func:`create_app` is a small starlette app: a JSON API over
:class:`~framework.sync.history.RunHistory` and one static page (plain HTML and JavaScript, no
build step) that shows the runs, a run's rejected rows (searchable by primary key) and the
request and response JSON of each call. See ``docs/debugger.md``.
"""

from framework.debugger.app import create_app

__all__ = ["create_app"]
