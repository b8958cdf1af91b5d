"""The Google Ads API version both of our clients speak (the cost import and the conversion
upload): one place to move when Google sunsets it. Each major version lives about a year
(v26 released 2026-10-14; v22 sunset 2026-10-07), so this needs a look every few months."""

API_VERSION = "v26"
