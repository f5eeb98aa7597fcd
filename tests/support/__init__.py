"""Test helpers shared by several test modules (never tests themselves)."""
