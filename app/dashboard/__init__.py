"""The server-rendered dashboard: accounts and the report pages (the demo is app.demo)."""
