"""Embedded services for running fraudit on one machine."""
