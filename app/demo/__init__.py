"""The demo: `callsource demo` seeds a demo site (seed.py), and /demo serves a shop page, a test
call and a CRM inbox (endpoints.py, service.py).

An entry point of its own: app.cli seeds it, app.main mounts its pages. It uses the dashboard's
rendering (and its templates under demo/); the dashboard never imports it.
"""
