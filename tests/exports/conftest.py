from __future__ import annotations

import pytest
from fastapi import FastAPI

from tests.reports.rows import include_analytics_routes


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    """The app with the analytics routers, whether or not app.main includes them yet."""
    return include_analytics_routes(app)
