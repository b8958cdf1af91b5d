"""Leads: form submissions from the sites, and calls and forms together as one list."""
