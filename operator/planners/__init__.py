"""Pure planners: spec + observed objects → desired objects and status. No I/O here."""
