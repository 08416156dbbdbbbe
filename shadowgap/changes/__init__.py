"""Router changes: recorded when they go live, re-baselining, verification (docs/changes.md)."""
