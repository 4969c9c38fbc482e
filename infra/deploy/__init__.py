"""Deployment tooling: packaging the app with `chalice package` and checking what it made."""
