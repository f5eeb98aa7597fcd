"""Helpers shared by the tests (kept out of ``test_*`` modules so pytest never collects them)."""
