"""The sweep loop and its front ends, the crash-safe journal, and the reports."""
