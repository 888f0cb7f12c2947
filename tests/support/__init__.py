"""Builders the test layers share: real processes, stream records, API payloads."""
