"""Hardening: fuzzing, hostile parameters, parser properties, faults, security and load."""
