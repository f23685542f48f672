"""The web dashboard, served by the web process at ``/dashboard``.

routes.py   the pages (and signing in and out without JavaScript)
auth.py     who is looking: the tab's bearer token, or a session cookie without JS
views.py    what each page shows, read through the API's own views
format.py   times, durations and states as words (Jinja filters)
charts.py   the attempts-per-minute chart, as inline SVG
templates/  Jinja templates, one per page
static/     the stylesheet, dashboard.js and vendored htmx (static/VENDORED.md)
"""
