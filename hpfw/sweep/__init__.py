"""The sweep loop, its crash-safe journal, and reports."""
