"""The server-rendered dashboard: accounts, the report pages, and the demo."""
