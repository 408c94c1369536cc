"""Guardrails: input checks, injection detection, tool governance, budgets and redaction."""
